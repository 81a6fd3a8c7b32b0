"""Strict settings: unknown keys and bad URLs are errors that name the setting (used by :mod:`.settings`).

- an unknown TOML section or key, or an unknown ``RECONCILE_*`` variable, is reported with the closest valid
  name: ``[solana] rpc_ulr: unknown setting (did you mean rpc_url?)``,
  ``RECONCILE_SOLANA__RPC_ULR: unknown setting (did you mean RECONCILE_SOLANA__RPC_URL?)``;
- URLs of endpoints are checked when settings load (an ``http``/``https`` scheme and a host);
- a pydantic error becomes one line per problem, ``[ipfs] gateways[0]: ...``, never showing the value
  (secrets included), with the environment variable's name when the environment set it.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ValidationError

ENV_PREFIX = "RECONCILE_"
# RECONCILE_* variables that are not settings: the config file, the repair crash hook of the crash tests,
# and the test suite's own variables (RECONCILE_TEST_*)
NOT_SETTINGS = frozenset({"RECONCILE_CONFIG", "RECONCILE_REPAIR_CRASH_AFTER_WRITES"})
NOT_SETTINGS_PREFIXES = ("RECONCILE_TEST_",)
HTTP_SCHEMES = ("http", "https")


def http_url(value: str, *, optional: bool = False, secret: bool = False) -> str:
    """``value`` if it is an http(s) URL with a host (or empty, when ``optional``); else ValueError.

    The message never repeats a ``secret`` value."""
    if optional and value == "":
        return value
    shown = "the URL" if secret else repr(value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        raise ValueError(f"{shown} is not a URL (bad port or brackets)") from None
    if parts.scheme.lower() not in HTTP_SCHEMES:
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"{shown} is not an http(s) URL ({scheme})")
    if not parts.hostname:
        raise ValueError(f"{shown} has no host (expected {parts.scheme}://HOST[:PORT][/PATH])")
    return value


def optional_http_url(value: str) -> str:
    return http_url(value, optional=True)


HttpUrl = Annotated[str, AfterValidator(http_url)]  # a required endpoint: http(s)://HOST...
OptionalHttpUrl = Annotated[str, AfterValidator(optional_http_url)]  # the same, or empty


def database_url(value: str, *, optional: bool = False) -> str:
    """``value`` if SQLAlchemy can parse it (``dialect[+driver]://...``); the message never repeats it."""
    if optional and value == "":
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL (expected dialect[+driver]://..., e.g. sqlite:///x.db)") from None
    return value


def _closest(name: str, candidates: Iterable[str]) -> str:
    candidates = sorted(candidates)
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if match:
        return f"did you mean {match[0]}?"
    return "valid: " + ", ".join(candidates)


def _section_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    annotation = model.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def unknown_toml_keys(model: type[BaseModel], document: Mapping) -> list[str]:
    """One message per unknown section or key of a TOML document (one level of sections)."""
    problems = []
    for key, value in document.items():
        if key not in model.model_fields:
            kind = "section" if isinstance(value, Mapping) else "setting"
            label = f"[{key}]" if isinstance(value, Mapping) else key
            problems.append(f"{label}: unknown {kind} ({_closest(key, model.model_fields)})")
            continue
        section = _section_model(model, key)
        if section is None or not isinstance(value, Mapping):
            continue
        for inner in value:
            if inner not in section.model_fields:
                problems.append(f"[{key}] {inner}: unknown setting ({_closest(inner, section.model_fields)})")
    return problems


def env_names(model: type[BaseModel]) -> set[str]:
    """Every ``RECONCILE_*`` name a setting can be given by (a whole section as JSON too)."""
    names = set()
    for name in model.model_fields:
        names.add(ENV_PREFIX + name.upper())
        section = _section_model(model, name)
        if section is not None:
            names |= {f"{ENV_PREFIX}{name.upper()}__{inner.upper()}" for inner in section.model_fields}
    return names


def unknown_env_names(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> list[str]:
    """One message per ``RECONCILE_*`` variable that names no setting (case-insensitive, as pydantic reads them)."""
    environ = os.environ if environ is None else environ
    known = env_names(model)
    problems = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(ENV_PREFIX) or name in known or name in NOT_SETTINGS:
            continue
        if name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        problems.append(f"{variable}: unknown setting ({_closest(name, known | NOT_SETTINGS)})")
    return problems


def read_toml(path: Path) -> dict:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _env_name(loc: tuple) -> str:
    parts = [str(part).upper() for part in loc if isinstance(part, str)]
    return ENV_PREFIX + "__".join(parts[:2])


def _label(loc: tuple, environ: Mapping[str, str]) -> str:
    """``[section] key[index]`` or, when the environment set it, ``RECONCILE_SECTION__KEY[index]``."""
    names = [part for part in loc if isinstance(part, str)]
    index = "".join(f"[{part}]" for part in loc if isinstance(part, int))
    env = _env_name(loc)
    if any(variable.upper() == env for variable in environ):
        return env + index
    if len(names) >= 2:
        return f"[{names[0]}] {'.'.join(names[1:])}{index}"
    return ".".join(names) + index


def validation_problems(
    model: type[BaseModel], exc: ValidationError, environ: Mapping[str, str] | None = None
) -> list[str]:
    """One line per pydantic error, naming the setting and never showing its value."""
    environ = os.environ if environ is None else environ
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and loc:
            parent: type[BaseModel] | None = model
            if len(loc) > 1 and loc[0] in model.model_fields:
                parent = _section_model(model, str(loc[0]))
            hint = _closest(str(loc[-1]), parent.model_fields) if parent else ""
            problems.append(f"{_label(loc, environ)}: unknown setting ({hint})")
            continue
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{_label(loc, environ)}: {message}")
    return problems
