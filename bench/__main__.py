"""`python -m bench`: every benchmark in turn."""

from . import core, outage


def main():
    core.main()
    outage.main()


if __name__ == "__main__":
    main()
