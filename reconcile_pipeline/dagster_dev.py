"""``python -m reconcile_pipeline.dagster_dev dev ...``: `dagster dev`, as `reconcile ui` starts it.

The same command as ``python -m dagster dev``, without the warning that `dagster dev` is superseded by
``dg dev`` (the `dg` project layout, which this repository does not use); every other warning is kept.
"""

from __future__ import annotations

import warnings

SUPERSEDED = r".*superseded.*dg dev"


def main() -> None:
    warnings.filterwarnings("ignore", message=SUPERSEDED, category=FutureWarning)
    from dagster._cli import main as dagster_main

    dagster_main()


if __name__ == "__main__":
    main()
