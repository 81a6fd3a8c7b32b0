"""A run's outcome, as a scheduler or a shell sees it: the exit codes of `reconcile run` (and of the Dagster
run's outcome checks, ``defs/outcome.py``), from the run's judged findings.

0  every check in scope was judged and none is failing
1  at least one failing finding (or the run itself failed)
2  usage or settings error (nothing was run)
3  nothing failing, but some checks were left unknown because a layer could not be read

A failing finding wins over unknowns: 1 says "something is wrong", whatever could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

OK, FAILING, USAGE, UNKNOWN = 0, 1, 2, 3
EXIT_CODES_HELP = (
    "exit status: 0 every check in scope judged and none failing; 1 at least one failing finding (or the run "
    "failed); 2 usage or settings error; 3 nothing failing but checks left unknown because a layer could not "
    "be read. `run --exit-zero`: 0 whatever the findings (1 only if the run itself failed)."
)


def judged_exit_code(failing: int, unknown: int) -> int:
    """The exit status of a judgement with ``failing`` failing and ``unknown`` unknown findings (or layers)."""
    if failing:
        return FAILING
    return UNKNOWN if unknown else OK


@dataclass(frozen=True)
class Outcome:
    failing: int  # failing findings
    unknown: int  # unknown findings (a layer, or part of one, could not be read)
    unknown_checks: tuple[str, ...] = ()  # the checks with unknown findings, sorted
    failing_checks: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return judged_exit_code(self.failing, self.unknown)

    def describe(self) -> str:
        if self.failing:
            return f"{self.failing} failing finding(s) in {len(self.failing_checks)} check(s)"
        if self.unknown:
            return (
                f"nothing failing, but {self.unknown} finding(s) of {len(self.unknown_checks)} check(s) unknown: "
                "a layer could not be read"
            )
        return "every check in scope judged, none failing"


def outcome_of(findings: pd.DataFrame) -> Outcome:
    """The outcome of a run's judged findings (``status`` fail or unknown)."""
    if findings.empty:
        return Outcome(0, 0)
    failing = findings[findings["status"] == "fail"]
    unknown = findings[findings["status"] == "unknown"]
    return Outcome(
        failing=len(failing),
        unknown=len(unknown),
        unknown_checks=tuple(sorted(set(unknown["check_id"]))),
        failing_checks=tuple(sorted(set(failing["check_id"]))),
    )
