"""The `reconcile` subcommands of the repair area (registered by cli.py)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the `reconcile` parser (none yet)."""
