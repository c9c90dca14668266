"""`python -m bench`: every benchmark in turn."""

from . import core


def main():
    core.main()


if __name__ == "__main__":
    main()
