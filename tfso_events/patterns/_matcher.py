"""Matching compiled sub-rules against events, and saying why an event did not match.

Field values are found by walking the event along each constraint's path. Arrays are
transparent (any element may match), but, as in aws/event-ruler's array-consistent
matching, the values one sub-rule uses must come from the *same* element of every
array they share: ``{"d": {"a": [1], "b": [2]}}`` does not match
``{"d": [{"a": 1}, {"b": 2}]}``. Each value carries its array membership (which
element of which array object it came from) and a small backtracking search picks
one value per field with consistent memberships. Events without arrays never pay
for it.

``exists: false`` is checked as event-ruler checks it: in the order of the dotted
field names, against the array elements chosen for the fields before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from typing import Any, Final

import msgspec

from tfso_events.patterns._compiler import Constraint, SubRule, json_path

__all__ = ["describe", "event_root", "match_rule", "why_not"]

_MISSING: Final = object()
_NOTHING: Final[tuple[list[object], None]] = ([], None)
Membership = tuple[tuple[int, int], ...]


class _Opaque:
    """A value of no JSON type (a Python object in a dict event): it exists, and only
    ``exists`` and ``anything-but`` can take it."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _scalar(value: object) -> object:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is Decimal:
        try:
            return float(value)  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            return _Opaque(value)
    return _Opaque(value)


def event_root(event: object) -> tuple[Mapping[Any, Any] | None, str | None]:
    """The event as a JSON object, or ``None`` and why it is not one.

    Takes an envelope as a mapping, as JSON text (``bytes`` or ``str``), or a typed
    event (its envelope: the fields it carries, ``version`` ``"0"`` by default, the
    detail as it goes on the wire).
    """
    if isinstance(event, Mapping):
        return event, None
    if isinstance(event, str | bytes | bytearray | memoryview):
        try:
            decoded = msgspec.json.decode(event)
        except (msgspec.DecodeError, RecursionError) as exc:
            return None, f"the event is not JSON: {exc}"
        if not isinstance(decoded, dict):
            return None, "the event is not a JSON object"
        return decoded, None
    if hasattr(event, "detail_json") and hasattr(event, "detail_type"):
        return _typed_envelope(event)
    detail = getattr(event, "detail", _MISSING)
    if isinstance(detail, dict) and hasattr(event, "detail_type"):  # UnknownEvent
        return _envelope_of(event, detail), None
    return None, f"a {type(event).__name__} is not an event"


def _typed_envelope(event: Any) -> tuple[Mapping[str, Any] | None, str | None]:
    try:
        detail = msgspec.json.decode(event.detail_json())
    except Exception as exc:
        return None, f"the event is not valid: {exc}"
    return _envelope_of(event, detail), None


def _envelope_of(event: Any, detail: object) -> dict[str, Any]:
    envelope: dict[str, Any] = {"version": event.version or "0"}
    if event.id:
        envelope["id"] = event.id
    envelope["detail-type"] = event.detail_type
    envelope["source"] = getattr(event, "envelope_source", None) or event.source
    if event.account:
        envelope["account"] = event.account
    if event.time is not None:
        envelope["time"] = event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if event.region:
        envelope["region"] = event.region
    envelope["resources"] = list(event.resources)
    envelope["detail"] = detail
    return envelope


def resolve(
    root: Mapping[Any, Any], path: tuple[str, ...]
) -> tuple[list[object], list[Membership] | None]:
    """The leaf values at ``path`` and, when an array was crossed, their memberships."""
    node: object = root
    for key in path:
        if type(node) is dict:
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return _NOTHING
        else:
            return _resolve_arrays(root, path)
    kind = type(node)
    if kind in _SCALARS:
        return [node], None
    if kind is dict:
        return _NOTHING
    return _resolve_arrays(root, path)


def _resolve_arrays(
    root: Mapping[Any, Any], path: tuple[str, ...]
) -> tuple[list[object], list[Membership] | None]:
    values: list[object] = []
    memberships: list[Membership] = []
    stack: list[tuple[object, int, Membership]] = [(root, 0, ())]
    end = len(path)
    while stack:
        node, depth, membership = stack.pop()
        if isinstance(node, list | tuple):
            array = id(node)
            for index in range(len(node) - 1, -1, -1):
                stack.append((node[index], depth, (*membership, (array, index))))
        elif depth == end:
            if not isinstance(node, Mapping):
                values.append(_scalar(node))
                memberships.append(membership)
        elif isinstance(node, Mapping):
            child = node.get(path[depth], _MISSING)
            if child is not _MISSING:
                stack.append((child, depth + 1, membership))
    if not values:
        return _NOTHING
    return values, memberships


def _merge(chosen: dict[int, int], membership: Membership) -> dict[int, int] | None:
    merged: dict[int, int] | None = None
    for array, index in membership:
        have = chosen.get(array)
        if have is None:
            if merged is None:
                merged = dict(chosen)
            merged[array] = index
        elif have != index:
            return None
    return chosen if merged is None else merged


_Option = tuple[Constraint, list[Membership], list[Membership]]


def _search(options: list[_Option], at: int, chosen: dict[int, int]) -> bool:
    if at == len(options):
        return True
    constraint, passing, every = options[at]
    for membership in passing:
        merged = _merge(chosen, membership)
        if merged is not None and _search(options, at + 1, merged):
            return True
    if constraint.absent_ok and all(_merge(chosen, m) is None for m in every):
        return _search(options, at + 1, chosen)
    return False


_SLOW: Final = object()


def match_rule(rule: SubRule, root: Mapping[Any, Any]) -> bool:
    """True when ``root`` satisfies every constraint of ``rule`` consistently."""
    options: list[_Option] | None = None
    for constraint in rule:
        # The common case inline: nested objects, no arrays on the way.
        node: object = root
        for key in constraint.path:
            if type(node) is not dict:
                node = _SLOW
                break
            node = node.get(key, _MISSING)
            if node is _MISSING:
                break
        if node is _MISSING:
            if not constraint.absent_ok:
                return False
            continue
        kind = type(node)
        if kind in _SCALARS:
            if not constraint.test(node):
                return False
            continue
        if kind is dict:
            if not constraint.absent_ok:
                return False
            continue
        values, memberships = _resolve_arrays(root, constraint.path)
        if memberships is None:  # no value after all (a path through a scalar)
            if not constraint.absent_ok:
                return False
            continue
        test = constraint.test
        passing = list(
            dict.fromkeys(m for v, m in zip(values, memberships, strict=True) if test(v))
        )
        if not passing and not constraint.absent_ok:
            return False
        if options is None:
            options = []
        options.append((constraint, passing, memberships))
    return options is None or _search(options, 0, {})


# -- explanations ------------------------------------------------------------------------


def describe(value: object, limit: int = 80) -> str:
    """A value as JSON, cut to ``limit`` characters."""
    try:
        text = _ENCODER.encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def why_not(rule: SubRule, root: Mapping[Any, Any]) -> str:
    """Why ``root`` does not satisfy ``rule``: the first field whose values fail its
    pattern, or the fields that match only in different elements of an array."""
    in_arrays: list[str] = []
    for constraint in rule:
        values, memberships = resolve(root, constraint.path)
        where = json_path(constraint.path)
        wants = describe(list(constraint.spec))
        if not values:
            if constraint.absent_ok:
                continue
            found = _node_at(root, constraint.path)
            if found is _MISSING:
                return f"{where}: the event has no such field (pattern: {wants})"
            return (
                f"{where}: the event has {describe(found)} there, not a value to match "
                f"(pattern: {wants}; patterns match leaf values only)"
            )
        shown = describe(values[0] if memberships is None else values)
        if not any(constraint.test(v) for v in values):
            if constraint.absent_ok and not constraint.any_value and len(constraint.spec) == 1:
                return f"{where}: the event has {shown}, the pattern wants no such field"
            return f"{where}: {shown} does not match {wants}"
        if memberships is not None:
            in_arrays.append(where)
    if in_arrays:
        return (
            f"{', '.join(in_arrays)}: each matches, but not within the same element of the "
            "array(s) they are in (EventBridge does not mix fields of different elements), "
            "or a field the pattern wants absent is in that element"
        )
    return "the event does not match"  # pragma: no cover - only when it does match


def _node_at(root: Mapping[Any, Any], path: tuple[str, ...]) -> object:
    node: object = root
    for key in path:
        if isinstance(node, Mapping):
            node = node.get(key, _MISSING)
        elif isinstance(node, list | tuple):
            return node
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node
