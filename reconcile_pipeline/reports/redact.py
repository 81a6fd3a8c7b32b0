"""Keep secrets out of reports and exports (DESIGN §11).

The settings' secrets (``SecretStr`` fields: the Pinata JWT, the database URL and its password, the KV
token, the R2 keys, the webhook URLs) never reach a report on purpose; this is the net under that: any
text or string column about to be written is scrubbed of every secret value.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url

from ..settings import Settings

MASK = "**********"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text


def _secrets(model: BaseModel) -> list[str]:
    found = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found += _secrets(value)
    return found


def secret_values(settings: Settings) -> list[str]:
    """Every non-trivial secret of the settings, longest first (so a secret inside another goes second)."""
    values = _secrets(settings)
    try:
        password = make_url(settings.database.url.get_secret_value()).password
    except Exception:  # noqa: BLE001 - an unparsable URL is still masked whole above
        password = None
    values += [password] if password else []
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


class Redactor:
    """Masks the given secrets in text (the HTML) and in Arrow tables (the exports)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    @classmethod
    def from_settings(cls, settings: Settings | None) -> Redactor:
        return cls(secret_values(settings) if settings is not None else [])

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def array(self, array: pa.Array) -> pa.Array:
        """Mask secrets in a string array, or in the strings of a list array, without a Python loop."""
        kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            for secret in self.secrets:  # literal matching: much faster than one regex of alternatives
                if pc.any(pc.match_substring(array, secret)).as_py():
                    array = pc.replace_substring(array, secret, MASK)
            return array
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            child = array.values
            values = self.array(child)
            if values is child:
                return array
            return type(array).from_arrays(array.offsets, values, mask=array.is_null())
        return array

    def table(self, table: pa.Table) -> pa.Table:
        """The table with every string (and list-of-string) column masked; other types cannot hold a secret."""
        if not self.secrets:
            return table
        for index in range(table.num_columns):
            column = table.column(index)
            chunks = [self.array(chunk) for chunk in column.chunks]
            if any(new is not old for new, old in zip(chunks, column.chunks, strict=True)):
                table = table.set_column(index, table.schema.field(index), pa.chunked_array(chunks, column.type))
        return table
