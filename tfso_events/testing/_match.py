"""Attribute paths (``content__status__code``) shared by ``build`` and ``assert_published``.

A path is attribute names joined by ``__``. It starts at the event
(``resources``, ``detail__metadata``) or, as a shortcut, at its detail
(``content__status__code``, ``timestamp``, ``metadata``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from tfso_events.models._base import TfsoEvent

__all__ = ["describe_mismatch", "matches", "resolve", "split_path"]

_MISSING = object()


def split_path(event_cls: type[TfsoEvent], key: str) -> tuple[str, ...]:
    """The attribute names of ``key``, rooted at the event (``detail`` is prepended
    when the first name is a field of the detail rather than of the event)."""
    names = tuple(key.split("__"))
    if not all(names):
        raise TypeError(f"{key!r} is not an attribute path (names joined by '__')")
    if names[0] not in event_cls.__struct_fields__:
        names = ("detail", *names)
    return names


def resolve(event: TfsoEvent, names: tuple[str, ...]) -> Any:
    """The value at ``names`` in ``event``, or a sentinel when the path is missing."""
    value: Any = event
    for name in names:
        if isinstance(value, msgspec.Struct) and name in value.__struct_fields__:
            value = getattr(value, name)
        elif isinstance(value, dict) and name in value:
            value = value[name]
        else:
            return _MISSING
    return value


def matches(event: TfsoEvent, where: dict[str, Any]) -> bool:
    """``True`` when every path of ``where`` holds its value in ``event``."""
    for key, expected in where.items():
        actual = resolve(event, split_path(type(event), key))
        if actual is _MISSING or actual != expected:
            return False
    return True


def describe_mismatch(index: int, event: TfsoEvent, where: dict[str, Any]) -> str:
    """One published event, with ``-`` (expected) and ``+`` (found) lines for each path
    that differs: the readable diff of ``assert_published``."""
    lines = [f"  published #{index}: {_short(event)}"]
    for key, expected in where.items():
        actual = resolve(event, split_path(type(event), key))
        if actual is _MISSING:
            lines.append(f"    {key}: no such attribute (expected {expected!r})")
        elif actual != expected:
            lines.append(f"    {key}:\n      - expected {expected!r}\n      + found    {actual!r}")
    if len(lines) == 1 and where:
        lines[0] += " (matches)"
    return "\n".join(lines)


def _short(event: TfsoEvent) -> str:
    text = msgspec.json.encode(event.detail.content, enc_hook=str).decode()
    return text if len(text) <= 200 else text[:197] + "..."
