"""Schema compatibility: `tfso-events compat` classifies each change, every schema in the
tree is compatible with its last released copy (tests/schemas/released/), and a consumer
meeting an enum value it does not know refuses the event with the path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tfso_events import EventValidationError, parse_event
from tfso_events._codegen.compat import compare, next_version
from tfso_events.cli import main
from tfso_events.examples import sample_event

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[1] / "tfso_events" / "schemas"
RELEASED = HERE / "released"
TEST = json.loads((SCHEMAS / "bank.test.created@v1.json").read_text(encoding="utf-8"))


def _content(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["$defs"]["BankTestCreatedV1Content"]  # type: ignore[no-any-return]


def _add_optional(doc: dict[str, Any]) -> None:
    _content(doc)["properties"]["nickname"] = {
        "description": "A nickname",
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }


def _add_required(doc: dict[str, Any]) -> None:
    _content(doc)["properties"]["nickname"] = {"description": "A nickname", "type": "string"}
    _content(doc)["required"].append("nickname")


def _rename(doc: dict[str, Any]) -> None:
    props = _content(doc)["properties"]
    props["surname"] = props.pop("lastName")
    required = _content(doc)["required"]
    required[required.index("lastName")] = "surname"


def _make_required(doc: dict[str, Any]) -> None:
    props = _content(doc)["properties"]
    props["age"] = {"description": props["age"]["description"], "type": "number"}
    _content(doc)["required"].append("age")


def _retype(doc: dict[str, Any]) -> None:
    doc["$defs"]["BankTestCreatedV1Address"]["properties"]["city"]["type"] = "integer"


def _drop_decimal(doc: dict[str, Any]) -> None:
    _content(doc)["properties"]["accountStatement"]["anyOf"][0] = {"type": "number"}


def _remove_enum_value(doc: dict[str, Any]) -> None:
    doc["$defs"]["BankTestCreatedV1FavoriteColor"]["enum"].remove("Green")


def _add_enum_value(doc: dict[str, Any]) -> None:
    doc["$defs"]["BankTestCreatedV1FavoriteColor"]["enum"].append("Purple")


def _constrain(doc: dict[str, Any]) -> None:
    _content(doc)["properties"]["firstName"]["maxLength"] = 10


def _describe(doc: dict[str, Any]) -> None:
    _content(doc)["properties"]["firstName"]["description"] = "Given name"
    doc["description"] = "A test user signed up."


@pytest.mark.parametrize(
    ("edit", "breaking", "expected"),
    [
        (_add_optional, False, "compatible: $.content.nickname: optional property added"),
        (_describe, False, "compatible: $.content.firstName: description changed"),
        (_add_required, True, "breaking: $.content.nickname: required property added"),
        (
            _rename,
            True,
            "breaking: $.content.lastName: property removed or renamed (renamed to 'surname'?)",
        ),
        (_make_required, True, "breaking: $.content.age: optional → required"),
        (
            _retype,
            True,
            "breaking: $.content.address.city: type changed from 'string' to 'integer'",
        ),
        (
            _drop_decimal,
            True,
            "breaking: $.content.accountStatement: format changed from 'decimal' to None",
        ),
        (_remove_enum_value, True, "breaking: $.content.favoriteColor: enum value 'Green' removed"),
        (_add_enum_value, True, "breaking: $.content.favoriteColor: enum value 'Purple' added"),
        (
            _constrain,
            True,
            "breaking: $.content.firstName: constraint maxLength changed from None to 10",
        ),
    ],
)
def test_each_kind_of_change_is_classified(
    edit: Callable[[dict[str, Any]], None], breaking: bool, expected: str
) -> None:
    """compare() reports each edit at its path, as compatible or breaking as our closed
    models make it."""
    new = copy.deepcopy(TEST)
    edit(new)
    changes = compare(TEST, new)
    assert any(str(change).startswith(expected) for change in changes), changes
    assert any(change.breaking for change in changes) is breaking


def test_an_unchanged_schema_has_no_changes() -> None:
    """A schema compared with itself reports nothing."""
    assert compare(TEST, copy.deepcopy(TEST)) == []


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_the_command_says_a_breaking_change_needs_a_new_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compat OLD NEW` exits 1 on a breaking change, lists it, and names the @v2
    detail-type the change must be published as."""
    new = copy.deepcopy(TEST)
    _add_enum_value(new)
    code = main(["compat", _write(tmp_path, "old.json", TEST), _write(tmp_path, "new.json", new)])
    out = capsys.readouterr().out
    assert code == 1
    assert "enum value 'Purple' added" in out
    assert "new detail-type, bank.test:created@v2" in out


def test_the_command_passes_a_compatible_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compat OLD NEW` exits 0 when every change is compatible."""
    new = copy.deepcopy(TEST)
    _add_optional(new)
    code = main(["compat", _write(tmp_path, "old.json", TEST), _write(tmp_path, "new.json", new)])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("compatible: consumers of")


def test_the_command_refuses_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not JSON exits 2 naming it."""
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    assert main(["compat", str(bad), str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_next_version_counts_up() -> None:
    """The suggested detail-type is the same name one version up."""
    assert next_version("bank.transaction:statuschanged@v9") == "bank.transaction:statuschanged@v10"


@pytest.mark.parametrize("name", sorted(p.name for p in RELEASED.glob("*.json")))
def test_every_released_schema_is_still_compatible(name: str) -> None:
    """Each schema of the last release is still in the tree, and the tree's version breaks
    no consumer of it. A breaking edit of a published detail-type fails here with the
    reasons: it belongs in a new @vN schema."""
    current = SCHEMAS / name
    assert current.exists(), f"{name} was released; a published detail-type is never removed"
    old = json.loads((RELEASED / name).read_text(encoding="utf-8"))
    new = json.loads(current.read_text(encoding="utf-8"))
    breaking = [str(change) for change in compare(old, new) if change.breaking]
    assert breaking == [], f"publish these as {next_version(old['x-detail-type'])}: {breaking}"


def test_a_consumer_refuses_an_enum_value_it_does_not_know() -> None:
    """An older consumer meeting a newer producer's enum value refuses the whole event with
    EventValidationError naming the value, its path and the detail-type, rather than
    handing on a value its code has no branch for (docs/consuming.md)."""
    event = sample_event("bank.transaction:statuschanged@v1")
    detail = json.loads(event.detail_json())
    detail["content"]["status"]["text"] = "reversed"
    envelope = {
        "version": "0",
        "id": "1",
        "detail-type": event.detail_type,
        "source": event.source,
        "time": "2023-07-04T08:06:00Z",
        "detail": detail,
    }
    for raw in (envelope, json.dumps(envelope)):
        with pytest.raises(EventValidationError) as info:
            parse_event(raw)
        assert info.value.path == "$.detail.content.status.text"
        assert info.value.detail_type == "bank.transaction:statuschanged@v1"
        assert "'reversed'" in str(info.value)


def test_stating_the_open_default_is_no_change() -> None:
    """additionalProperties: true only spells out what an object without it means, so
    adding it is no change at all; compare() leaves both documents as they were."""
    new = copy.deepcopy(TEST)
    for node in new["$defs"].values():
        if node.get("type") == "object":
            node["additionalProperties"] = True
    snapshot = copy.deepcopy(new)
    assert compare(TEST, new) == []
    assert new == snapshot
    shipped = json.loads((SCHEMAS / "bank.test.created@v1.json").read_text(encoding="utf-8"))
    assert shipped == TEST
