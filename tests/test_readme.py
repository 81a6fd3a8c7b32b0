"""The README stays true: every setting is in its table; the quick start is the two documented commands."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from reconcile_pipeline.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def env_names(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += env_names(annotation, (*prefix, name))
        else:
            names.append("RECONCILE_" + "__".join(part.upper() for part in (*prefix, name)))
    return names


def test_every_setting_is_in_the_readme_table():
    missing = [name for name in env_names(Settings) if f"`{name}`" not in README]
    assert missing == []


def test_quick_start_is_exactly_two_commands():
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "reconcile_pipeline demo" in commands[0] and "pytest" in commands[1]
