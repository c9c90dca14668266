"""`python -m bench`: every benchmark in turn."""

from . import api_load, core, outage


def main():
    core.main()
    outage.main()
    api_load.main()


if __name__ == "__main__":
    main()
