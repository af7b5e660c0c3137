"""`tfso-events codegen`: the committed catalog is what the schemas generate, a stale tree
is caught, and a new schema becomes an event that publishes and parses end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.codegen.conftest import ROOT, python, tfso_events
from tfso_events._codegen import GENERATED_MARK, CodegenError, generate, run
from tfso_events._codegen.spec import DATE_TIME_PATTERN, DETAIL_PROPERTIES
from tfso_events.catalog import event_classes


def test_the_committed_tree_is_what_the_schemas_generate() -> None:
    """`tfso-events codegen --check` on this checkout exits 0: no generated file is stale,
    so a tree whose models, constants, examples, vectors or pages drifted cannot land."""
    done = tfso_events(ROOT, "codegen", "--check", "--root", str(ROOT))
    assert done.returncode == 0, done.stderr
    assert "every generated file is current" in done.stdout


def test_every_generated_python_file_says_so_and_names_its_source() -> None:
    """Each model module starts with the generated-file header naming its schema file."""
    for cls in event_classes():
        path = ROOT / (cls.__module__.replace(".", "/") + ".py")
        head = path.read_text(encoding="utf-8").splitlines()[:2]
        assert head[0].startswith(GENERATED_MARK), path
        assert head[1] == f"# Source: tfso_events/schemas/{cls.detail_type.replace(':', '.')}.json"


def test_check_names_a_hand_edited_model(tree: Path) -> None:
    """A hand edit of a generated model makes --check exit 1 naming exactly that file;
    codegen then writes it back and --check passes again."""
    model = tree / "tfso_events" / "models" / "bank_transaction_created_v1.py"
    model.write_text(model.read_text().replace("A numerical code", "A code"), encoding="utf-8")
    done = tfso_events(tree, "codegen", "--check")
    assert done.returncode == 1
    assert "stale: tfso_events/models/bank_transaction_created_v1.py" in done.stderr
    assert done.stderr.count("stale: ") == 1, done.stderr
    assert tfso_events(tree, "codegen").returncode == 0
    assert "A numerical code" in model.read_text()
    assert tfso_events(tree, "codegen", "--check").returncode == 0


def test_check_names_what_an_edited_schema_changes(tree: Path) -> None:
    """Editing a schema's description without regenerating makes --check exit 1 naming the
    model module and the event page that now differ; nothing is written by --check."""
    schema = tree / "tfso_events" / "schemas" / "bank.test.created@v1.json"
    doc = json.loads(schema.read_text())
    doc["$defs"]["BankTestCreatedV1Address"]["properties"]["city"]["description"] = "Town"
    schema.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    before = (tree / "tfso_events" / "models" / "bank_test_created_v1.py").read_text()
    done = tfso_events(tree, "codegen", "--check")
    assert done.returncode == 1
    stale = {line.removeprefix("stale: ") for line in done.stderr.splitlines() if "stale: " in line}
    assert stale == {
        "tfso_events/models/bank_test_created_v1.py",
        "docs/events/bank_test_created_v1.md",
    }
    assert (tree / "tfso_events" / "models" / "bank_test_created_v1.py").read_text() == before


def test_check_names_a_generated_file_no_schema_produces(tree: Path) -> None:
    """Removing a schema leaves its model, vector and page obsolete: --check names them,
    codegen removes them (and the event from constants and the catalog)."""
    (tree / "tfso_events" / "schemas" / "bank.transaction.deleted@v1.json").unlink()
    done = tfso_events(tree, "codegen", "--check")
    assert done.returncode == 1
    for rel in (
        "tfso_events/models/bank_transaction_deleted_v1.py",
        "tests/vectors/bank_transaction_deleted_v1.json",
        "docs/events/bank_transaction_deleted_v1.md",
    ):
        assert f"obsolete (no schema generates it): {rel}" in done.stderr
    assert tfso_events(tree, "codegen").returncode == 0
    assert not (tree / "tfso_events" / "models" / "bank_transaction_deleted_v1.py").exists()
    assert "BankTransactionDeletedV1" not in (tree / "tfso_events" / "constants.py").read_text()


def test_codegen_output_is_deterministic(tree: Path) -> None:
    """Two runs over the same schemas write the same bytes: the second changes nothing."""
    for path in (tree / "tfso_events" / "models").glob("bank_*.py"):
        path.unlink()
    first = run(tree, check=False)
    assert "tfso_events/models/bank_test_created_v1.py" in first.stale
    assert run(tree, check=False).stale == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.__setitem__("x-module", "sales"),
            "bank.test.created@v1.json: $.x-module: 'sales' is not a module of _catalog.json",
        ),
        (
            lambda d: d["$defs"]["BankTestCreatedV1Content"]["properties"]["age"].pop("anyOf"),
            "$.$defs.BankTestCreatedV1Content.properties.age: an optional property is",
        ),
        (
            lambda d: d["$defs"]["BankTestCreatedV1Address"]["properties"]["city"].update(
                type="thing"
            ),
            "properties.city: type 'thing' is not one of",
        ),
        (
            lambda d: d["$defs"]["BankTestCreatedV1FavoriteColor"]["enum"].append("Red"),
            "$.$defs.BankTestCreatedV1FavoriteColor.enum: values repeat",
        ),
    ],
)
def test_a_schema_it_cannot_model_is_refused_with_file_and_path(
    tree: Path, edit: Any, message: str
) -> None:
    """A schema outside our conventions is a CodegenError naming the file and JSON path,
    and the tree is left as it was."""
    schema = tree / "tfso_events" / "schemas" / "bank.test.created@v1.json"
    doc = json.loads(schema.read_text())
    edit(doc)
    schema.write_text(json.dumps(doc), encoding="utf-8")
    before = (tree / "tfso_events" / "models" / "bank_test_created_v1.py").read_text()
    with pytest.raises(CodegenError, match=message.replace("$", r"\$").replace(".", r"\.")):
        run(tree, check=False)
    assert (tree / "tfso_events" / "models" / "bank_test_created_v1.py").read_text() == before


# -- a new event, end to end -------------------------------------------------------------------

NEW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "crm.customer:created@v1",
    "description": "A customer was created.",
    "x-detail-type": "crm.customer:created@v1",
    "x-source": "com.24sevenoffice.crm",
    "x-module": "crm",
    "type": "object",
    "properties": {"content": {"$ref": "#/$defs/CrmCustomerCreatedV1Content"}, **DETAIL_PROPERTIES},
    "required": ["content", "timestamp"],
    "additionalProperties": True,
    "examples": [
        {
            "content": {
                "customerId": "c-42",
                "tier": "standard-plus",
                "creditLimit": 1234.50,
                "signedUpAt": "2024-02-29T23:59:59.125+01:00",
                "address": {"street": "Karl Johans gate 1", "postalCode": "0154"},
                "tags": ["new", "vip"],
            },
            "timestamp": "2024-03-01T00:00:00Z",
            "metadata": {"traceId": "t-1"},
        }
    ],
    "$defs": {
        "CrmCustomerCreatedV1Content": {
            "description": "The customer as created.",
            "type": "object",
            "properties": {
                "customerId": {"description": "The customer's id", "type": "string"},
                "tier": {
                    "description": "The customer's tier",
                    "$ref": "#/$defs/CrmCustomerCreatedV1Tier",
                },
                "creditLimit": {
                    "description": "Credit limit in NOK",
                    "anyOf": [{"type": "number", "format": "decimal"}, {"type": "null"}],
                    "default": None,
                },
                "signedUpAt": {
                    "description": "When the customer signed up",
                    "type": "string",
                    "format": "date-time",
                    "pattern": DATE_TIME_PATTERN,
                },
                "address": {
                    "description": "Postal address",
                    "$ref": "#/$defs/CrmCustomerCreatedV1Address",
                },
                "tags": {
                    "description": "Free-form tags",
                    "anyOf": [
                        {"type": "array", "items": {"type": "string", "minLength": 1}},
                        {"type": "null"},
                    ],
                    "default": None,
                },
            },
            "required": ["customerId", "tier", "signedUpAt", "address"],
        },
        "CrmCustomerCreatedV1Tier": {
            "description": "A customer tier.",
            "type": "string",
            "enum": ["gold", "standard-plus"],
        },
        "CrmCustomerCreatedV1Address": {
            "description": "A postal address.",
            "type": "object",
            "properties": {
                "street": {"description": "Street and number", "type": "string"},
                "postalCode": {
                    "description": "Four digits",
                    "type": "string",
                    "pattern": "^[0-9]{4}$",
                },
            },
            "required": ["street", "postalCode"],
        },
    },
}

_ROUND_TRIP = """
import asyncio, json
from decimal import Decimal
from tfso_events import DetailTypes, TfsoModules, TfsoSources, event_schema, parse_event
from tfso_events import event_classes
from tfso_events.examples import sample_event
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.publishing._local_aws import LOCAL_REGION, local_aws_session
from tfso_events.models.crm_customer_created_v1 import (
    CrmCustomerCreatedV1Address, CrmCustomerCreatedV1Event, CrmCustomerCreatedV1Tier,
)
from tfso_events.publishing.api import TfsoEventApiClient
from tfso_events.publishing.eventbridge import TfsoEventBridgeClient


async def main():
    event = sample_event("crm.customer:created@v1")
    async with LocalHub() as hub:
        async with TfsoEventApiClient(
            environment="local", auth0_application_id=DEFAULT_CLIENT_ID,
            auth0_secret_id=DEFAULT_CLIENT_SECRET, api_url=hub.url, auth0_domain=hub.url,
        ) as api:
            await api.publish(event)
        async with TfsoEventBridgeClient(
            bus_environment="dev", endpoint_url=hub.url, region_name=LOCAL_REGION,
            session=local_aws_session(),
        ) as eventbridge:
            await eventbridge.publish(event)
        received = hub.received()
    out = {"received": []}
    for record in received:
        parsed = parse_event(record.envelope())
        content = parsed.detail.content
        out["received"].append({
            "via": record.via,
            "class": type(parsed).__name__,
            "equal": parsed.detail == event.detail,
            "tier": content.tier is CrmCustomerCreatedV1Tier.StandardPlus,
            "credit": content.credit_limit == Decimal("1234.50"),
            "decimal": type(content.credit_limit) is Decimal,
            "signed_up": content.signed_up_at.isoformat(),
            "address": type(content.address) is CrmCustomerCreatedV1Address,
            "metadata": parsed.detail.metadata,
        })
    out["in_catalog"] = CrmCustomerCreatedV1Event in event_classes()
    out["constants"] = [
        DetailTypes.CrmCustomerCreatedV1.value, TfsoModules.Crm.value, TfsoSources.Crm.value,
    ]
    out["schema"] = event_schema(CrmCustomerCreatedV1Event)["x-source"]
    out["wire"] = event.detail_json().decode()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_a_new_schema_becomes_an_event_that_publishes_and_parses(tree: Path) -> None:
    """Adding one schema (another module and source, a nested object, an enum whose value
    is not an identifier, a decimal, a date-time with an offset, a constrained list) and
    running codegen gives an importable module; the event publishes through the local hub
    with both publishers and parse_event returns it typed, equal to what was sent."""
    schemas = tree / "tfso_events" / "schemas"
    # written as 1234.50: the example's exact decimal text must survive into the sample
    text = json.dumps(NEW_SCHEMA, indent=2).replace(
        '"creditLimit": 1234.5,', '"creditLimit": 1234.50,'
    )
    (schemas / "crm.customer.created@v1.json").write_text(text, encoding="utf-8")
    registry = json.loads((schemas / "_catalog.json").read_text())
    registry["sources"]["Crm"] = "com.24sevenoffice.crm"
    (schemas / "_catalog.json").write_text(json.dumps(registry, indent=2), encoding="utf-8")

    done = tfso_events(tree, "codegen")
    assert done.returncode == 0, done.stderr
    for rel in (
        "tfso_events/models/crm_customer_created_v1.py",
        "tests/vectors/crm_customer_created_v1.json",
        "docs/events/crm_customer_created_v1.md",
    ):
        assert f"wrote {rel}" in done.stdout
    assert tfso_events(tree, "codegen", "--check").returncode == 0
    assert (
        json.loads((tree / "tests/vectors/crm_customer_created_v1.json").read_text())
        == (NEW_SCHEMA["examples"][0]["content"])
    )
    page = (tree / "docs/events/crm_customer_created_v1.md").read_text()
    assert "| creditLimit | number(decimal) | false | none | Credit limit in NOK |" in page
    assert "| tier | standard-plus |" in page

    child = python(tree, _ROUND_TRIP)
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    assert sorted(r["via"] for r in out["received"]) == ["api", "eventbridge"]
    for record in out["received"]:
        assert record == {
            "via": record["via"],
            "class": "CrmCustomerCreatedV1Event",
            "equal": True,
            "tier": True,
            "credit": True,
            "decimal": True,
            "signed_up": "2024-02-29T22:59:59.125000+00:00",  # the instant, written in UTC
            "address": True,
            "metadata": {"traceId": "t-1"},
        }
    assert out["in_catalog"] is True
    assert out["constants"] == ["crm.customer:created@v1", "crm", "com.24sevenoffice.crm"]
    assert out["schema"] == "com.24sevenoffice.crm"
    assert '"creditLimit":1234.50' in out["wire"]


def test_enum_member_names_can_be_spelled_in_the_schema(tree: Path) -> None:
    """x-enum-varnames names the members when the values' PascalCase will not do; the wire
    values stay the schema's."""
    schema = tree / "tfso_events" / "schemas" / "bank.test.created@v1.json"
    doc = json.loads(schema.read_text())
    doc["$defs"]["BankTestCreatedV1FavoriteColor"]["x-enum-varnames"] = ["Rouge", "Vert", "Bleu"]
    schema.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    files = generate(tree)
    model = files["tfso_events/models/bank_test_created_v1.py"]
    assert '    Rouge = "Red"\n    Vert = "Green"\n    Bleu = "Blue"\n' in model
    assert "favorite_color=BankTestCreatedV1FavoriteColor.Rouge" in files["tfso_events/examples.py"]


def test_an_object_may_say_it_is_open_but_not_closed(tree: Path) -> None:
    """additionalProperties: true (what the models do: unknown properties are ignored)
    generates the same model; false, a promise the models do not keep, is refused."""
    schema = tree / "tfso_events" / "schemas" / "bank.test.created@v1.json"
    doc = json.loads(schema.read_text())
    before = generate(tree)["tfso_events/models/bank_test_created_v1.py"]
    doc["$defs"]["BankTestCreatedV1Address"]["additionalProperties"] = True
    schema.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert generate(tree)["tfso_events/models/bank_test_created_v1.py"] == before
    doc["$defs"]["BankTestCreatedV1Address"]["additionalProperties"] = False
    schema.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    with pytest.raises(CodegenError, match=r"BankTestCreatedV1Address\.additionalProperties"):
        generate(tree)
