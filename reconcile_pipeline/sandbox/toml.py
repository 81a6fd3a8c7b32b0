"""A minimal TOML writer for the settings documents the local world writes (tables of scalars and lists)."""

from __future__ import annotations

import json


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_dumps(document: dict) -> str:
    """Top-level scalars first, then one [table] per nested dict (one level deep)."""
    lines = [f"{key} = {_value(value)}" for key, value in document.items() if not isinstance(value, dict)]
    for key, table in document.items():
        if isinstance(table, dict):
            lines += ["", f"[{key}]"]
            lines += [f"{name} = {_value(value)}" for name, value in table.items() if value is not None]
    return "\n".join(lines) + "\n"
