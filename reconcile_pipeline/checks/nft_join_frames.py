"""Inputs of the NFT join (pure): the snapshot frames it reads and a left join that copies no columns.

:func:`frame_of` gives a snapshot frame with at least the named columns and why it is unreadable;
:func:`joined_input` also puts the columns the join takes rows of in one Arrow chunk each;
:func:`attach_by_key` adds a lookup table's columns by a key unique in it, without copying the frame's.
"""

from __future__ import annotations

import pandas as pd

from ..snapshots.base import layer_readable, read_status
from .nft_join_keys import one_chunk


def frame_of(frames: dict[str, pd.DataFrame], name: str, columns: list[str]) -> tuple[pd.DataFrame, str | None]:
    """The named snapshot frame with at least ``columns``, and why it is unreadable (None if readable)."""
    frame = frames.get(name)
    if frame is None:
        return pd.DataFrame(columns=columns), f"{name}: no snapshot"
    reason = None if layer_readable(frame) else f"{name}: {read_status(frame).get('message') or 'unavailable'}"
    return frame.reindex(columns=list(dict.fromkeys([*frame.columns, *columns]))), reason


def joined_input(frames: dict[str, pd.DataFrame], name: str, columns: list[str]) -> tuple[pd.DataFrame, str | None]:
    """:func:`frame_of`, with the columns the join takes rows of in one chunk each."""
    frame, reason = frame_of(frames, name, columns)
    return one_chunk(frame, columns), reason


def is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype)


def same_key_type(left: pd.DataFrame, right: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with the join key as Arrow-backed strings when both are, else both as objects."""
    kind = "str" if is_text(left[key]) and is_text(right[key]) else "object"
    return left.astype({key: kind}), right.astype({key: kind})


def attach_by_key(joined: pd.DataFrame, table: pd.DataFrame, key: str) -> pd.DataFrame:
    """A left join on a key unique in ``table`` that adds its columns without copying ``joined``'s."""
    keys, own = same_key_type(joined[[key]], table, key)
    positions = pd.Index(own[key]).get_indexer(keys[key])
    found = own.drop(columns=key).reset_index(drop=True).reindex(positions).set_axis(joined.index)
    return joined.assign(**{key: keys[key]}, **{column: found[column] for column in found.columns})
