"""`python -m bench`: every benchmark in turn."""

from . import (
    api_load, bundle_size, core, dashboard_scale, definitions_scale, memory, outage, privacy, reads, snowplow_outage,
)


def main():
    bundle_size.main()
    core.main()
    definitions_scale.main()
    dashboard_scale.main()
    memory.main()
    reads.main()
    outage.main()
    snowplow_outage.main()
    api_load.main()
    privacy.main()


if __name__ == "__main__":
    main()
