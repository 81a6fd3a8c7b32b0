"""The README stays true: every setting is in its table; the quick start is the two documented commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


def test_exit_statuses_are_the_documented_ones():
    from reconcile_pipeline.outcome import FAILING, OK, UNKNOWN, USAGE

    section = README.split("## Checks, repairs, cadences, alerts, reports")[1]
    rows = re.findall(r"^  \| (\d) \| (.+) \|$", section, re.M)
    assert [int(code) for code, _ in rows] == [OK, FAILING, USAGE, UNKNOWN]
    quick = README.split("## Quick start")[1].split("## The local world")[0]
    assert all(f"**{code}**" in quick for code in (OK, FAILING, USAGE, UNKNOWN)) and "--exit-zero" in quick


def test_the_settings_errors_quoted_are_the_real_ones(tmp_path, monkeypatch):
    from reconcile_pipeline.settings import SettingsError, load_settings
    from reconcile_pipeline.settings_strict import NOT_SETTINGS

    section = README.split("## Settings")[1].split("## Checks")[0]
    for name in NOT_SETTINGS:
        assert f"`{name}`" in section
    config = tmp_path / "c.toml"
    bodies = (
        '[solana]\nrpc_ulr = "x"\n',
        '[ipfs]\ngateways = ["htp:/nowhere"]\n',
        "[solana]\naccounts_per_call = 500\n",
    )
    for body in bodies:
        config.write_text(body)
        with pytest.raises(SettingsError) as err:
            load_settings(config)
        problem = str(err.value).split(": ", 1)[1]
        assert f"`{problem}`" in " ".join(section.split()), problem
    monkeypatch.setenv("RECONCILE_SOLANA__RPC_ULR", "x")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert f"`{str(err.value).split(': ', 1)[1]}`" in section
