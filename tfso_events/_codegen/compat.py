"""``tfso-events compat OLD.json NEW.json``: is a new version of an event schema one a
consumer built against the old one still reads?

Consumers decode with closed models: an unknown enum value, a missing required field or
a value of another type is refused. So, for the content (and everything nested in it):

* **compatible** — an optional property added; descriptions, examples, titles changed;
* **breaking** — a property removed or renamed, optional → required, required →
  optional (an old consumer requires it), a type, format or constraint changed, an enum
  value removed **or added** (our enums are closed), the detail-type, source or module
  changed.

A breaking change is never made to a published detail-type: it is a new one, ``@v<n+1>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Change", "compare", "next_version"]

_IGNORED = {"description", "title", "examples", "default", "$comment", "x-python-name"}
_IGNORED_ENUM = {"x-enum-varnames"}


@dataclass(frozen=True)
class Change:
    """One difference: where (a JSON path of the detail), what, and whether it breaks."""

    path: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        kind = "breaking" if self.breaking else "compatible"
        return f"{kind}: {self.path}: {self.message}"


def next_version(detail_type: str) -> str:
    """``bank.test:created@v1`` → ``bank.test:created@v2``."""
    match = re.match(r"^(.*@v)(\d+)$", detail_type)
    if match is None:
        return detail_type + "@v2"
    return f"{match.group(1)}{int(match.group(2)) + 1}"


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference between two versions of one event's schema, in path order."""
    changes: list[Change] = []
    for key in ("x-detail-type", "x-source", "x-module"):
        if old.get(key) != new.get(key):
            changes.append(
                Change("$", f"{key} changed from {old.get(key)!r} to {new.get(key)!r}", True)
            )
    if old.get("examples") != new.get("examples"):
        changes.append(Change("$", "examples changed", False))
    _node(old, old, new, new, "$", changes)
    return changes


def _resolve(root: dict[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 64:
        ref = node["$ref"]
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**{k: v for k, v in node.items() if k != "$ref"}, **target}
        seen += 1
    return node


def _optional(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` → X (requiredness is compared through ``required``)."""
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and len(any_of) == 2 and {"type": "null"} in any_of:
        inner = next(item for item in any_of if item != {"type": "null"})
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return {**rest, **inner}
    return node


def _node(
    old_root: dict[str, Any],
    old: Any,
    new_root: dict[str, Any],
    new: Any,
    path: str,
    changes: list[Change],
) -> None:
    old = _resolve(old_root, _optional(_resolve(old_root, old)))
    new = _resolve(new_root, _optional(_resolve(new_root, new)))
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old != new:
            changes.append(Change(path, "the schema changed", True))
        return
    old, new = dict(old), dict(new)  # never change the caller's documents
    for node in (old, new):  # an object is open unless it says otherwise
        if node.get("type") == "object" and "additionalProperties" not in node:
            node["additionalProperties"] = True
    if old.get("description") != new.get("description"):
        changes.append(Change(path, "description changed", False))
    if "enum" in old or "enum" in new:
        old_values, new_values = old.get("enum") or [], new.get("enum") or []
        for value in old_values:
            if value not in new_values:
                changes.append(Change(path, f"enum value {value!r} removed", True))
        for value in new_values:
            if value not in old_values:
                changes.append(
                    Change(
                        path,
                        f"enum value {value!r} added (enums are closed: an older consumer "
                        "refuses it)",
                        True,
                    )
                )
    old_props: dict[str, Any] = old.get("properties") or {}
    new_props: dict[str, Any] = new.get("properties") or {}
    old_required = set(old.get("required") or [])
    new_required = set(new.get("required") or [])
    for name in old_props:
        sub = f"{path}.{name}"
        if name not in new_props:
            added = [n for n in new_props if n not in old_props]
            hint = f" (renamed to {added[0]!r}?)" if len(added) == 1 else ""
            changes.append(Change(sub, f"property removed or renamed{hint}", True))
            continue
        if name in old_required and name not in new_required:
            changes.append(Change(sub, "required → optional (an older consumer requires it)", True))
        elif name not in old_required and name in new_required:
            changes.append(Change(sub, "optional → required", True))
        _node(old_root, old_props[name], new_root, new_props[name], sub, changes)
    for name in new_props:
        if name not in old_props:
            sub = f"{path}.{name}"
            if name in new_required:
                changes.append(Change(sub, "required property added", True))
            else:
                changes.append(Change(sub, "optional property added", False))
    if "items" in old or "items" in new:
        _node(old_root, old.get("items"), new_root, new.get("items"), f"{path}[]", changes)
    skip = _IGNORED | _IGNORED_ENUM | {"enum", "properties", "required", "items", "$defs"}
    skip |= {k for k in {*old, *new} if k.startswith("x-")}
    for key in sorted({*old, *new} - skip):
        if old.get(key) != new.get(key):
            what = {"type": "type", "format": "format"}.get(key, f"constraint {key}")
            changes.append(
                Change(path, f"{what} changed from {old.get(key)!r} to {new.get(key)!r}", True)
            )
