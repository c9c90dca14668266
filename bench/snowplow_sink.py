"""A Snowplow collector that only counts: every POST answers 200, `GET /count` says how many events came.

The throughput benchmark sends both versions of the tracker here (the app's own
collector refuses senders without its token, which the earlier version lacks),
so both pay for sending alike and the collector's own work stays off the figures.
Run as `python bench/snowplow_sink.py PORT`.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = 0
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        global received
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            count = len(json.loads(body)["data"])
        except (ValueError, KeyError, TypeError):
            count = 0
        with lock:
            received += count
        self._answer(b"ok")

    def do_GET(self):
        self._answer(str(received).encode())

    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
