"""The shipped schemas: event_schema() returns them exactly, they agree with the generated
models, they carry the seed's contract, and `import tfso_events` does not read them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tfso_events import TfsoEvent, event_classes, event_schema
from tfso_events.catalog import model_schema, validate_body
from tfso_events.examples import sample_event

SCHEMAS = Path(__file__).resolve().parents[2] / "tfso_events" / "schemas"
EVENTS = {cls.detail_type: cls for cls in event_classes()}


def schema_path(cls: type[TfsoEvent]) -> Path:
    return SCHEMAS / (cls.detail_type.replace(":", ".") + ".json")


def test_there_is_one_schema_per_event_and_one_event_per_schema() -> None:
    """Every catalog event has its schema file and every schema file is a catalog event."""
    files = {p.name for p in SCHEMAS.glob("*.json") if not p.name.startswith("_")}
    assert files == {schema_path(cls).name for cls in event_classes()}


@pytest.mark.parametrize("detail_type", sorted(EVENTS))
def test_event_schema_is_the_shipped_document(detail_type: str) -> None:
    """event_schema(cls) is exactly the JSON document under tfso_events/schemas/, and a
    caller mutating the result does not change the next call's."""
    cls = EVENTS[detail_type]
    shipped = json.loads(schema_path(cls).read_text(encoding="utf-8"))
    first = event_schema(cls)
    assert first == shipped
    first["$defs"].clear()
    assert event_schema(cls) == shipped


@pytest.mark.parametrize("detail_type", sorted(EVENTS))
def test_schema_carries_the_events_identity(detail_type: str) -> None:
    """x-detail-type, x-source and x-module are the class constants; title is the
    detail-type; the draft is 2020-12."""
    cls = EVENTS[detail_type]
    schema = event_schema(cls)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (schema["title"], schema["x-detail-type"]) == (cls.detail_type, cls.detail_type)
    assert (schema["x-source"], schema["x-module"]) == (cls.source, cls.module)


def _inline(root: dict[str, Any], node: Any) -> Any:
    """The schema with every $ref replaced by its target (siblings kept), enums sorted and
    typed alike, descriptions compared by their words."""
    if isinstance(node, list):
        return [_inline(root, item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "examples", "$defs") or key.startswith("x-"):
            continue
        if key == "description":
            out[key] = " ".join(value.split())
        elif key == "enum":
            out[key] = sorted(value)
        else:
            out[key] = _inline(root, value)
    if "enum" in out:
        out["type"] = "string"
    return out


@pytest.mark.parametrize("detail_type", sorted(EVENTS))
def test_schema_and_model_describe_the_same_documents(detail_type: str) -> None:
    """The schema msgspec derives from the generated model is the shipped schema (every
    $ref inlined): same properties, types, formats, requiredness, enums, nullability,
    defaults and descriptions. The model cannot drift from the contract."""
    cls = EVENTS[detail_type]
    shipped = event_schema(cls)
    derived = model_schema(cls)
    mine = _inline(shipped, shipped)
    theirs = _inline(derived, derived)
    mine.pop("description")
    theirs.pop("description")
    mine.pop("$schema")
    theirs.pop("$schema")
    assert mine == theirs


@pytest.mark.parametrize("detail_type", sorted(EVENTS))
def test_the_example_is_a_valid_detail_of_its_event(detail_type: str) -> None:
    """Each schema's example validates as a detail of its event, and the sample event
    carries exactly that content."""
    cls = EVENTS[detail_type]
    example = event_schema(cls)["examples"][0]
    event = validate_body(cls.source, cls.detail_type, example)
    assert event.detail.content == sample_event(cls.detail_type).detail.content


def test_schemas_carry_the_seed_contract() -> None:
    """The seed's markers survive: accountStatement is a number with the decimal format,
    registrationDate a date-time string, favoriteColor a closed enum of Red/Green/Blue,
    status.code an integer, and optional properties are nullable with a null default."""
    schema = event_schema(EVENTS["bank.test:created@v1"])
    content = schema["$defs"]["BankTestCreatedV1Content"]
    props = content["properties"]
    assert props["accountStatement"]["anyOf"][0] == {"type": "number", "format": "decimal"}
    assert props["registrationDate"]["type"] == "string"
    assert props["registrationDate"]["format"] == "date-time"
    assert schema["$defs"]["BankTestCreatedV1FavoriteColor"]["enum"] == ["Red", "Green", "Blue"]
    assert props["age"]["default"] is None
    assert "age" not in content["required"]
    created = event_schema(EVENTS["bank.transaction:created@v1"])
    assert created["$defs"]["BankTransactionCreatedV1Status"]["properties"]["code"]["type"] == (
        "integer"
    )


_COLD_START = """
import json, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].endswith(".json"):
        opened.append(args[0])
sys.addaudithook(hook)
import tfso_events
from tfso_events import parse_event, event_classes
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
before = list(opened)
tfso_events.event_schema(BankTestCreatedV1Event)
print(json.dumps({"before": before, "after": opened}))
"""


def test_import_reads_no_schema_file_and_event_schema_reads_one() -> None:
    """`import tfso_events` (and the models and the catalog) opens no JSON file: the
    schemas are a development-time source, read only when event_schema() is called."""
    done = subprocess.run(
        [sys.executable, "-c", _COLD_START], capture_output=True, text=True, check=True
    )
    opened = json.loads(done.stdout)
    assert opened["before"] == []
    assert [Path(p).name for p in opened["after"]] == ["bank.test.created@v1.json"]
