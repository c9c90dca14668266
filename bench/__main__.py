"""`python -m bench`: every benchmark in turn."""

from . import api_load, bundle_size, core, outage, privacy


def main():
    bundle_size.main()
    core.main()
    outage.main()
    api_load.main()
    privacy.main()


if __name__ == "__main__":
    main()
