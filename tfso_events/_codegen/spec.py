"""Read the event schemas (``tfso_events/schemas/*.json``) into checked specs.

A schema describes the **detail** of one event. Beyond JSON Schema 2020-12 it carries
``x-detail-type``, ``x-source`` and ``x-module`` (and ``x-python-name`` when the Python
name is not the PascalCase of the detail-type). Every named type (a nested object or an
enum) lives under ``$defs`` with its Python class name; the generator refuses anything it
cannot turn into our model conventions, with the schema file and JSON path in the error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "CATALOG_FILE",
    "DETAIL_PROPERTIES",
    "Catalog",
    "EventSpec",
    "SchemaError",
    "load_catalog",
    "schema_file_name",
]

#: The registry of modules and sources (the members of ``TfsoModules``/``TfsoSources``).
CATALOG_FILE = "_catalog.json"

#: ``timestamp`` and ``metadata`` are the same in every detail (they live on
#: ``EventDetail``); each schema must spell them exactly so.
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DETAIL_PROPERTIES: dict[str, Any] = {
    "timestamp": {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
    "metadata": {
        "anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}],
        "default": {},
    },
}

_DETAIL_TYPE = re.compile(r"^([a-z][a-z0-9]*)\.([a-z][a-z0-9]*):([a-z][a-z0-9]*)@v([1-9][0-9]*)$")
_IDENTIFIER = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_REF = "#/$defs/"
_KNOWN_KEYS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "examples",
    "$defs",
    "additionalProperties",
    "x-detail-type",
    "x-source",
    "x-module",
    "x-python-name",
}


class SchemaError(ValueError):
    """A schema the generator cannot turn into a model; the message names file and path."""


def schema_file_name(detail_type: str) -> str:
    """The file of a detail-type under ``tfso_events/schemas/``: the detail-type with its
    ``:`` written as ``.`` (a colon is not allowed in a file name on Windows)."""
    return detail_type.replace(":", ".") + ".json"


def _pascal(word: str) -> str:
    return word[:1].upper() + word[1:]


@dataclass(frozen=True)
class Catalog:
    """Modules and sources by member name, and every event spec in detail-type order."""

    modules: dict[str, str]
    sources: dict[str, str]
    events: list[EventSpec]

    def module_member(self, value: str) -> str:
        return next(k for k, v in self.modules.items() if v == value)

    def source_member(self, value: str) -> str:
        return next(k for k, v in self.sources.items() if v == value)


@dataclass(frozen=True)
class EventSpec:
    """One event: its schema document, as written, and the names derived from it."""

    path: Path
    doc: dict[str, Any]
    #: the same document with numbers read as Decimal (the examples' exact values)
    exact: dict[str, Any]
    detail_type: str
    source: str
    module: str
    name: str
    defs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        """``BankTransactionStatusChangedV1`` → ``bank_transaction_status_changed_v1``."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", self.name).lower()

    @property
    def content_name(self) -> str:
        return f"{self.name}Content"

    @property
    def relpath(self) -> str:
        return f"tfso_events/schemas/{self.path.name}"

    def error(self, path: str, message: str) -> SchemaError:
        return SchemaError(f"{self.relpath}: {path}: {message}")

    def resolve(self, node: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
        ref = node["$ref"]
        name = ref[len(_REF) :] if isinstance(ref, str) and ref.startswith(_REF) else ""
        if name not in self.defs:
            raise self.error(path, f"$ref {ref!r} does not name an entry of $defs")
        return name, self.defs[name]


def default_python_name(detail_type: str) -> str:
    """``bank.transaction:created@v1`` → ``BankTransactionCreatedV1``."""
    match = _DETAIL_TYPE.match(detail_type)
    assert match is not None
    module, entity, verb, version = match.groups()
    return f"{_pascal(module)}{_pascal(entity)}{_pascal(verb)}V{version}"


def _load_json(path: Path, **kwargs: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), **kwargs)
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: cannot read JSON ({exc})") from None


def load_catalog(schemas: Path) -> Catalog:
    """Read and check every schema under ``schemas`` and the module/source registry."""
    registry = _load_json(schemas / CATALOG_FILE)
    modules = registry.get("modules")
    sources = registry.get("sources")
    for what, table in (("modules", modules), ("sources", sources)):
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and _IDENTIFIER.match(k) and isinstance(v, str)
            for k, v in table.items()
        ):
            raise SchemaError(
                f"{schemas / CATALOG_FILE}: {what} must map PascalCase member names to strings"
            )
    assert isinstance(modules, dict)
    assert isinstance(sources, dict)
    specs = [
        _load_event(path, modules, sources)
        for path in sorted(schemas.glob("*.json"))
        if not path.name.startswith("_")
    ]
    specs.sort(key=lambda spec: spec.detail_type)
    names: dict[str, str] = {}
    for spec in specs:
        if spec.name in names:
            raise spec.error("$.x-python-name", f"{spec.name} is already {names[spec.name]}")
        names[spec.name] = spec.detail_type
    return Catalog(modules=modules, sources=sources, events=specs)


def _load_event(path: Path, modules: dict[str, str], sources: dict[str, str]) -> EventSpec:
    doc = _load_json(path)
    exact = _load_json(path, parse_float=Decimal)
    where = f"tfso_events/schemas/{path.name}"
    if not isinstance(doc, dict):
        raise SchemaError(f"{where}: $: a schema is a JSON object")
    detail_type = doc.get("x-detail-type")
    if not isinstance(detail_type, str) or not _DETAIL_TYPE.match(detail_type):
        raise SchemaError(
            f"{where}: $.x-detail-type: expected <module>.<entity>:<verb>@v<n>, got {detail_type!r}"
        )
    if path.name != schema_file_name(detail_type):
        raise SchemaError(f"{where}: the file of {detail_type} is {schema_file_name(detail_type)}")
    name = doc.get("x-python-name", default_python_name(detail_type))
    defs = doc.get("$defs", {})
    spec = EventSpec(
        path=path,
        doc=doc,
        exact=exact,
        detail_type=detail_type,
        source=doc.get("x-source", ""),
        module=doc.get("x-module", ""),
        name=name,
        defs=defs if isinstance(defs, dict) else {},
    )
    _check_event(spec, modules, sources)
    return spec


def _check_event(spec: EventSpec, modules: dict[str, str], sources: dict[str, str]) -> None:
    doc = spec.doc
    if doc.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        raise spec.error("$.$schema", "must be https://json-schema.org/draft/2020-12/schema")
    if unknown := sorted(set(doc) - _KNOWN_KEYS):
        raise spec.error("$", f"unknown keywords {unknown}")
    if doc.get("title") != spec.detail_type:
        raise spec.error("$.title", f"must be the detail-type {spec.detail_type!r}")
    if not isinstance(doc.get("description"), str) or not doc["description"]:
        raise spec.error("$.description", "say in one sentence what happened")
    if not isinstance(spec.name, str) or not _IDENTIFIER.match(spec.name):
        raise spec.error("$.x-python-name", f"not a PascalCase name: {spec.name!r}")
    if spec.module not in modules.values():
        raise spec.error(
            "$.x-module",
            f"{spec.module!r} is not a module of {CATALOG_FILE} ({', '.join(modules.values())})",
        )
    if spec.detail_type.split(".", 1)[0] != spec.module:
        raise spec.error(
            "$.x-module", f"the detail-type {spec.detail_type} is not of {spec.module}"
        )
    if spec.source not in sources.values():
        raise spec.error(
            "$.x-source",
            f"{spec.source!r} is not a source of {CATALOG_FILE} ({', '.join(sources.values())})",
        )
    if doc.get("type") != "object":
        raise spec.error("$.type", "the detail is an object")
    expected = {"content": {"$ref": _REF + spec.content_name}, **DETAIL_PROPERTIES}
    if doc.get("properties") != expected:
        raise spec.error(
            "$.properties",
            f"must be exactly {json.dumps(expected)} (timestamp and metadata are every "
            f"event's; the content is the $defs entry {spec.content_name})",
        )
    if doc.get("required") != ["content", "timestamp"]:
        raise spec.error("$.required", 'must be ["content", "timestamp"]')
    _check_open(spec, doc, "$")
    for name, node in spec.defs.items():
        if not isinstance(node, dict) or not _IDENTIFIER.match(name):
            raise spec.error(f"$.$defs.{name}", "a $defs entry is a PascalCase name and a schema")
        if not name.startswith(spec.name):
            raise spec.error(f"$.$defs.{name}", f"names of this event start with {spec.name}")
        if not isinstance(node.get("description"), str) or not node["description"]:
            raise spec.error(f"$.$defs.{name}.description", "every named type is described")
        if "enum" in node:
            _check_enum(spec, name, node)
        elif node.get("type") == "object" and isinstance(node.get("properties"), dict):
            _check_object(spec, name, node)
        else:
            raise spec.error(
                f"$.$defs.{name}", "a named type is an object with properties or an enum"
            )
    examples = doc.get("examples")
    if not isinstance(examples, list) or len(examples) != 1 or not isinstance(examples[0], dict):
        raise spec.error("$.examples", "one example detail (the seed documentation's)")
    if not isinstance(examples[0].get("content"), dict):
        raise spec.error("$.examples[0].content", "the example's content is an object")


def _check_enum(spec: EventSpec, name: str, node: dict[str, Any]) -> None:
    values = node["enum"]
    if node.get("type") != "string" or not values or not all(isinstance(v, str) for v in values):
        raise spec.error(f"$.$defs.{name}", "an enum is a non-empty list of strings of type string")
    if len(set(values)) != len(values):
        raise spec.error(f"$.$defs.{name}.enum", "values repeat")
    if set(node) - {"description", "type", "enum", "x-enum-varnames"}:
        raise spec.error(f"$.$defs.{name}", f"unexpected keywords {sorted(set(node))}")
    members = enum_members(node)
    if len(members) != len(values) or len(set(members)) != len(members):
        raise spec.error(f"$.$defs.{name}", f"member names are not distinct: {members}")
    for member in members:
        if not _IDENTIFIER.match(member):
            raise spec.error(
                f"$.$defs.{name}", f"{member!r} is not a PascalCase name; set x-enum-varnames"
            )


def enum_members(node: dict[str, Any]) -> list[str]:
    """Member names: ``x-enum-varnames`` when given, else each value in PascalCase
    (``inProgress`` → ``InProgress``, ``in-progress`` → ``InProgress``)."""
    names = node.get("x-enum-varnames")
    if isinstance(names, list):
        return [str(n) for n in names]
    return [
        "".join(_pascal(part) for part in re.split(r"[^A-Za-z0-9]+", v) if part)
        for v in node["enum"]
    ]


_SCALARS: dict[str, set[str]] = {
    "string": {"description", "type", "format", "pattern", "minLength", "maxLength"},
    "integer": {
        "description",
        "type",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    },
    "number": {
        "description",
        "type",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    },
    "boolean": {"description", "type"},
    "array": {"description", "type", "items", "minItems", "maxItems"},
    "object": {"description", "type", "additionalProperties"},
}
_FORMATS = {"string": {None, "date-time"}, "number": {None, "decimal"}}


def _check_object(spec: EventSpec, name: str, node: dict[str, Any]) -> None:
    if set(node) - {"description", "type", "properties", "required", "additionalProperties"}:
        raise spec.error(f"$.$defs.{name}", f"unexpected keywords {sorted(set(node))}")
    _check_open(spec, node, f"$.$defs.{name}")
    props: dict[str, Any] = node["properties"]
    required = node.get("required", [])
    if not props:
        raise spec.error(f"$.$defs.{name}.properties", "an object has at least one property")
    if not isinstance(required, list) or set(required) - set(props):
        raise spec.error(f"$.$defs.{name}.required", "lists property names")
    for prop, schema in props.items():
        path = f"$.$defs.{name}.properties.{prop}"
        if not re.match(r"^[a-z][A-Za-z0-9]*$", prop):
            raise spec.error(path, "property names are camelCase")
        if not isinstance(schema, dict):
            raise spec.error(path, "a property is a schema")
        if not isinstance(schema.get("description"), str):
            raise spec.error(path + ".description", "every property is described")
        inner = schema
        if prop not in required:
            any_of = schema.get("anyOf")
            if (
                not isinstance(any_of, list)
                or len(any_of) != 2
                or any_of[1] != {"type": "null"}
                or schema.get("default", ...) is not None
                or set(schema) != {"description", "anyOf", "default"}
            ):
                raise spec.error(
                    path,
                    'an optional property is {"description": ..., "anyOf": [<schema>, '
                    '{"type": "null"}], "default": null}',
                )
            inner = any_of[0]
        else:
            inner = {k: v for k, v in schema.items() if k != "description"}
        check_value(spec, inner, path)


def check_value(spec: EventSpec, node: Any, path: str) -> None:
    """Check a value schema (a property's, without its description) is one we model."""
    if not isinstance(node, dict):
        raise spec.error(path, "expected a schema object")
    if "$ref" in node:
        if set(node) != {"$ref"}:
            raise spec.error(path, "a $ref stands alone (its description sits beside it)")
        spec.resolve(node, path)
        return
    kind = node.get("type")
    if kind not in _SCALARS:
        raise spec.error(
            path, f"type {kind!r} is not one of {sorted(_SCALARS)} (named types go in $defs)"
        )
    if extra := set(node) - _SCALARS[kind]:
        raise spec.error(path, f"unsupported keywords {sorted(extra)}")
    if node.get("format") not in _FORMATS.get(kind, {None}):
        raise spec.error(path + ".format", f"{node.get('format')!r} is not a format of {kind}")
    if kind == "array":
        check_value(spec, node.get("items"), path + ".items")
    if (
        kind == "string"
        and node.get("format") == "date-time"
        and node.get("pattern") != DATE_TIME_PATTERN
    ):
        raise spec.error(
            path + ".pattern",
            f"a date-time states the grammar the models read: {json.dumps(DATE_TIME_PATTERN)}",
        )
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        if not (
            isinstance(low, int) and isinstance(high, int) and INT64_MIN <= low <= high <= INT64_MAX
        ):
            raise spec.error(
                path,
                f"integers are int64 on the wire: state minimum ({INT64_MIN}) and maximum "
                f"({INT64_MAX}), or a narrower range",
            )
    if kind == "object":
        _check_open(spec, node, path)


def _check_open(spec: EventSpec, node: dict[str, Any], path: str) -> None:
    # The models ignore properties they do not know (a newer producer may add optional
    # ones), so a schema may say so, but never promise otherwise.
    if node.get("additionalProperties", True) is not True:
        raise spec.error(
            path + ".additionalProperties",
            "must be true (or left out): the models ignore unknown properties",
        )
