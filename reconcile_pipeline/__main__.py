"""`python -m reconcile_pipeline ...` is the `reconcile` command (works without the console script on PATH)."""

import sys

from .cli import main

sys.exit(main())
