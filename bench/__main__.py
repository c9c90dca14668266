"""`python -m bench`: every benchmark in turn."""

from . import bundle_size, core


def main():
    bundle_size.main()
    core.main()


if __name__ == "__main__":
    main()
