"""Size of the tracking client as browsers download it: the built script bundle, gzipped."""

import gzip
from pathlib import Path

from webapp.assets.bundles import make_bundles
from webapp.demo.config import PROJECT_ROOT

BUDGET_BYTES = 2048


def gzipped_size():
    """Bytes of the core bundle (`window.InternalEvents`) after gzip -9, built first when its sources changed."""
    bundle = make_bundles(PROJECT_ROOT / "static", "/static", PROJECT_ROOT / "node_modules", auto_build=True)[
        "tracking"
    ]
    bundle.build()
    built = Path(bundle.resolve_output())
    return len(gzip.compress(built.read_bytes(), compresslevel=9))


def main():
    size = gzipped_size()
    print(f"tracking client bundle: {size} bytes gzipped (budget {BUDGET_BYTES}, {size / BUDGET_BYTES:.0%} of it)")


if __name__ == "__main__":
    main()
