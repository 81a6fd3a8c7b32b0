"""The CLI's exit statuses for commands that judge (issue 18): one rule, shared.

    0  every check judged and none failing
    1  at least one failing finding
    2  usage or settings error (argparse's own, and ValueError from bad settings)
    3  nothing failing, but some checks left unknown (a layer could not be read)
"""

from __future__ import annotations

OK, FAILING, USAGE, UNKNOWN = 0, 1, 2, 3


def judged_exit_code(failing: int, unknown: int) -> int:
    """The exit status of a judgement with ``failing`` failing and ``unknown`` unknown findings (or layers)."""
    if failing:
        return FAILING
    return UNKNOWN if unknown else OK
