"""Counter writes that Redis applies at most once, so a batch can be retried or replayed without counting twice.

Every writer (one per thread and process) numbers its batches. A batch's
writes for one event run in a Lua script together with a marker
`{event}:w:<writer>` holding the writer's last applied number: the script
skips a batch whose number the marker has already reached. Scripts are atomic,
and all keys of one event share a hash tag, so this holds on a Redis Cluster too.

A batch whose reply never came (Redis stopped, or a timeout after Redis had
applied it) is spooled with its writer and number, and the writer takes a new
id: replaying the batch later counts it exactly once whatever Redis did with it.
"""

from collections import defaultdict

# ARGV: number, marker TTL, then operations as: command, key index, argument count, arguments...
APPLY_ONCE = """
local done = redis.call('GET', KEYS[1])
if done and tonumber(done) >= tonumber(ARGV[1]) then return 0 end
local i = 3
while i <= #ARGV do
  local count = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + count))
  i = i + 3 + count
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# Long enough for any outage the spool can cover; after that a batch in flight when Redis went down may count twice.
MARKER_TTL_SECONDS = 30 * 86400
# Lua's unpack has a bounded stack: large PFADDs are split.
MAX_ARGUMENTS_PER_COMMAND = 1000


class EventWrites:
    """Stands in for a pipeline in `CounterStore.add_writes` and merges what one event's batch writes.

    A batch of 100 `project_viewed` becomes one PFADD per key and one INCRBY of 100,
    instead of hundreds of commands.
    """

    def __init__(self):
        self.elements = defaultdict(dict)  # key -> {element: None}, ordered and deduplicated
        self.increments = defaultdict(int)
        self.float_increments = defaultdict(int)  # stays an exact int until a float is added
        self.expiries = {}

    def pfadd(self, key, element):
        self.elements[key][element] = None

    def incrby(self, key, amount):
        self.increments[key] += amount

    def incrbyfloat(self, key, amount):
        self.float_increments[key] += amount

    def expire(self, key, seconds):
        self.expiries[key] = seconds

    def commands(self):
        for key, elements in self.elements.items():
            elements = list(elements)
            for start in range(0, len(elements), MAX_ARGUMENTS_PER_COMMAND):
                yield "PFADD", key, elements[start:start + MAX_ARGUMENTS_PER_COMMAND]
        for key, amount in self.increments.items():
            yield "INCRBY", key, [amount]
        for key, amount in self.float_increments.items():
            yield "INCRBYFLOAT", key, [repr(amount)]
        for key, seconds in self.expiries.items():
            yield "EXPIRE", key, [seconds]


def queue_batch(pipe, counters, definitions, events, day, writer, number):
    """Queue on `pipe` one apply-once script per event name in `events`; return the markers it uses."""
    by_event = defaultdict(EventWrites)
    for event in events:
        counters.add_writes(by_event[event.name], definitions.rules_for(event.name), event, day)
    markers = []
    for name, writes in by_event.items():
        marker = counters.keys.writer_marker(name, writer)
        index = {marker: 1}  # Lua counts from 1
        arguments = [number, MARKER_TTL_SECONDS]
        for command, key, values in writes.commands():
            arguments += [command, index.setdefault(key, len(index) + 1), len(values), *values]
        pipe.execute_command("EVAL", APPLY_ONCE, len(index), *index, *arguments)
        markers.append(marker)
    return markers
