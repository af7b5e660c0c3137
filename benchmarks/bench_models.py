"""Event models: tfso-events (msgspec) against pydantic v2, msgspec's own round trip and
the untyped JSON floor.

What it measures, per event of the catalog, in one run on one machine (ratios, not seconds,
are the result; the machines are shared and noisy). The events are realistic (all four
detail-types, ``benchmarks/_events.py``), with metadata of 4 keys, one nested, and again
with ``metadata={}``.

The produce side (issue 29), printed first as min / median / max of 3 runs, the
candidates timed in turn (interleaved) within each run, best of 15 repeats of 1,000 calls:

(a) **``detail_json()`` ÷ msgspec's floor**: validate + encode of a built event against
    what msgspec's own round trip of the same detail costs (``encode`` with the same
    encoder settings, then a typed ``Decoder(DetailClass).decode``), no check of ours.
    Goal <= 1.1x.
(b) **build + validate + encode, times faster than pydantic**: construct the event from
    Python values, validate it and produce the wire JSON of its detail. tfso-events:
    ``Event(...)`` then ``event.detail_json()``. pydantic: the same model built with
    ``BaseModel(...)`` (validates in ``__init__``) then ``model_dump_json``. Reported as
    pydantic's time ÷ ours. Goal >= 2.7x (>= 3.5x with ``metadata={}``).

Then the consume side:

(c) **decode an envelope**: an EventBridge envelope (bytes) of that event through the
    4-type dispatch. tfso-events: ``parse_event(raw)`` (one tagged-union decode, fully
    validated, typed). pydantic: ``TypeAdapter`` of a discriminated union,
    ``validate_json``. Floor: ``orjson.loads(raw)``, which validates nothing and builds
    untyped dicts: the cost of reading the JSON at all.

Run: ``.venv/bin/python -m benchmarks.bench_models``
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

from benchmarks._events import make_events, realistic_metadata
from tfso_events import parse_event
from tfso_events.examples import sample_events
from tfso_events.models import (
    bank_test_created_v1 as m_test,
)
from tfso_events.models import (
    bank_transaction_created_v1 as m_created,
)
from tfso_events.models import (
    bank_transaction_deleted_v1 as m_deleted,
)
from tfso_events.models import (
    bank_transaction_status_changed_v1 as m_changed,
)
from tfso_events.models._base import _PLANS, _checked_json, _plain_object, encode

# -- the same models in pydantic v2 -------------------------------------------------------


class _M(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Color(StrEnum):
    Red = "Red"
    Green = "Green"
    Blue = "Blue"


class Text(StrEnum):
    Created = "created"
    Approved = "approved"
    InProgress = "inProgress"
    Stopped = "stopped"
    ConfirmedPaid = "confirmedPaid"
    Posted = "posted"


class CreatedText(StrEnum):
    Created = "created"


class ChangedText(StrEnum):
    Approved = "approved"
    InProgress = "inProgress"
    Stopped = "stopped"
    ConfirmedPaid = "confirmedPaid"
    Posted = "posted"


class DeletionState(StrEnum):
    Deleted = "deleted"
    Active = "active"


class PAddress(_M):
    street: str
    city: str


class PTestContent(_M):
    first_name: str
    last_name: str
    favorite_color: Color
    registration_date: AwareDatetime
    age: float | None = None
    account_statement: Decimal | None = None
    address: PAddress | None = None


class PCreatedStatus(_M):
    text: CreatedText
    code: int


class PDeletedStatus(_M):
    text: Text
    code: int


class PChangedStatus(_M):
    text: ChangedText
    code: int


class PDeletionStatus(_M):
    new: DeletionState
    old: DeletionState


class PCreatedContent(_M):
    transaction_id: str
    license: str
    status: PCreatedStatus
    source_uris: list[str]


class PDeletedContent(_M):
    transaction_id: str
    license: str
    status: PDeletedStatus


class PChangedContent(_M):
    transaction_id: str
    license: str
    status: PChangedStatus
    deletion_status: PDeletionStatus


def _detail(content: type[_M]) -> type[_M]:
    return type(
        f"{content.__name__}Detail",
        (_M,),
        {
            "__annotations__": {
                "content": content,
                "timestamp": AwareDatetime,
                "metadata": dict[str, Any],
            },
            "metadata": Field(default_factory=dict),
        },
    )


PTestDetail = _detail(PTestContent)
PCreatedDetail = _detail(PCreatedContent)
PDeletedDetail = _detail(PDeletedContent)
PChangedDetail = _detail(PChangedContent)


class _Env(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str | None = None
    version: str | None = None
    time: datetime | None = None
    account: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    source: str


class PTestEvent(_Env):
    detail_type: Literal["bank.test:created@v1"] = Field(alias="detail-type")
    detail: PTestDetail  # type: ignore[valid-type]


class PCreatedEvent(_Env):
    detail_type: Literal["bank.transaction:created@v1"] = Field(alias="detail-type")
    detail: PCreatedDetail  # type: ignore[valid-type]


class PDeletedEvent(_Env):
    detail_type: Literal["bank.transaction:deleted@v1"] = Field(alias="detail-type")
    detail: PDeletedDetail  # type: ignore[valid-type]


class PChangedEvent(_Env):
    detail_type: Literal["bank.transaction:statuschanged@v1"] = Field(alias="detail-type")
    detail: PChangedDetail  # type: ignore[valid-type]


P_ANY = TypeAdapter(
    Annotated[
        PTestEvent | PCreatedEvent | PDeletedEvent | PChangedEvent,
        Field(discriminator="detail_type"),
    ]
)

# -- builders: the same values, through each library ----------------------------------------

TS = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
#: What every detail carries: realistic metadata (4 keys, one nested); main() also runs
#: a row set with ``{}`` for comparison.
META: dict[str, Any] = realistic_metadata(1)
TX = "123e4567-e89b-12d3-a456-426614174000"
LIC = "2947b4ae-0d40-447b-886f-dcd3aa11648b;693081080913543;1198"


def build_ours() -> dict[str, Callable[[], bytes]]:
    return {
        "bank.test:created@v1": lambda: m_test.BankTestCreatedV1Event(
            detail=m_test.BankTestCreatedV1Detail(
                content=m_test.BankTestCreatedV1Content(
                    first_name="John",
                    last_name="Doe",
                    age=30,
                    account_statement=Decimal("100000.25"),
                    favorite_color=m_test.BankTestCreatedV1FavoriteColor.Red,
                    registration_date=TS,
                    address=m_test.BankTestCreatedV1Address(street="221B", city="London"),
                ),
                timestamp=TS,
                metadata=META,
            )
        ).detail_json(),
        "bank.transaction:created@v1": lambda: m_created.BankTransactionCreatedV1Event(
            detail=m_created.BankTransactionCreatedV1Detail(
                content=m_created.BankTransactionCreatedV1Content(
                    transaction_id=TX,
                    license=LIC,
                    status=m_created.BankTransactionCreatedV1Status(
                        text=m_created.BankTransactionCreatedV1StatusText.Created, code=100
                    ),
                    source_uris=["urn:a", "urn:b"],
                ),
                timestamp=TS,
                metadata=META,
            )
        ).detail_json(),
        "bank.transaction:deleted@v1": lambda: m_deleted.BankTransactionDeletedV1Event(
            detail=m_deleted.BankTransactionDeletedV1Detail(
                content=m_deleted.BankTransactionDeletedV1Content(
                    transaction_id=TX,
                    license=LIC,
                    status=m_deleted.BankTransactionDeletedV1Status(
                        text=m_deleted.BankTransactionDeletedV1StatusText.Posted, code=600
                    ),
                ),
                timestamp=TS,
                metadata=META,
            )
        ).detail_json(),
        "bank.transaction:statuschanged@v1": lambda: m_changed.BankTransactionStatusChangedV1Event(
            detail=m_changed.BankTransactionStatusChangedV1Detail(
                content=m_changed.BankTransactionStatusChangedV1Content(
                    transaction_id=TX,
                    license=LIC,
                    status=m_changed.BankTransactionStatusChangedV1Status(
                        text=m_changed.BankTransactionStatusChangedV1StatusText.Approved,
                        code=200,
                    ),
                    deletion_status=m_changed.BankTransactionStatusChangedV1DeletionStatus(
                        new=m_changed.BankTransactionStatusChangedV1DeletionState.Deleted,
                        old=m_changed.BankTransactionStatusChangedV1DeletionState.Active,
                    ),
                ),
                timestamp=TS,
                metadata=META,
            )
        ).detail_json(),
    }


def build_pydantic() -> dict[str, Callable[[], bytes]]:
    return {
        "bank.test:created@v1": lambda: PTestDetail(
            content=PTestContent(
                first_name="John",
                last_name="Doe",
                age=30,
                account_statement=Decimal("100000.25"),
                favorite_color=Color.Red,
                registration_date=TS,
                address=PAddress(street="221B", city="London"),
            ),
            timestamp=TS,
            metadata=META,
        ).model_dump_json(by_alias=True, exclude_none=True),
        "bank.transaction:created@v1": lambda: PCreatedDetail(
            content=PCreatedContent(
                transaction_id=TX,
                license=LIC,
                status=PCreatedStatus(text=CreatedText.Created, code=100),
                source_uris=["urn:a", "urn:b"],
            ),
            timestamp=TS,
            metadata=META,
        ).model_dump_json(by_alias=True, exclude_none=True),
        "bank.transaction:deleted@v1": lambda: PDeletedDetail(
            content=PDeletedContent(
                transaction_id=TX,
                license=LIC,
                status=PDeletedStatus(text=Text.Posted, code=600),
            ),
            timestamp=TS,
            metadata=META,
        ).model_dump_json(by_alias=True, exclude_none=True),
        "bank.transaction:statuschanged@v1": lambda: PChangedDetail(
            content=PChangedContent(
                transaction_id=TX,
                license=LIC,
                status=PChangedStatus(text=ChangedText.Approved, code=200),
                deletion_status=PDeletionStatus(
                    new=DeletionState.Deleted, old=DeletionState.Active
                ),
            ),
            timestamp=TS,
            metadata=META,
        ).model_dump_json(by_alias=True, exclude_none=True),
    }


def envelopes() -> dict[str, bytes]:
    out = {}
    for template in sample_events():
        detail = msgspec.structs.replace(template.detail, metadata=META)
        event = msgspec.structs.replace(template, detail=detail)
        head = {
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": event.detail_type,
            "source": event.source,
            "account": "111122223333",
            "time": "2024-05-01T12:00:00Z",
            "region": "eu-west-1",
            "resources": [],
        }
        out[event.detail_type] = (
            json.dumps(head).encode()[:-1] + b',"detail":' + event.detail_json() + b"}"
        )
    return out


def best(fn: Callable[[], object], number: int) -> float:
    """Seconds per call: the best of 7 repeats (the least disturbed by other load)."""
    return min(timeit.repeat(fn, number=number, repeat=7)) / number


def run(number: int = 5_000) -> list[dict[str, Any]]:
    ours, theirs, raw = build_ours(), build_pydantic(), envelopes()
    rows = []
    for detail_type in ours:
        # sanity: both sides produce equivalent JSON and decode the same envelope
        mine, yours = json.loads(ours[detail_type]()), json.loads(theirs[detail_type]())
        # pydantic writes a Decimal as a JSON string; everything else must be equal
        if "accountStatement" in yours["content"]:
            yours["content"]["accountStatement"] = float(yours["content"]["accountStatement"])
        assert mine == yours, detail_type
        data = raw[detail_type]
        assert type(parse_event(data)).__name__.endswith("Event")
        P_ANY.validate_json(data)
        dec_m = best(lambda data=data: parse_event(data), number)
        dec_p = best(lambda data=data: P_ANY.validate_json(data), number)
        dec_o = best(lambda data=data: orjson.loads(data), number)
        rows.append(
            {
                "event": detail_type,
                "decode_us": dec_m * 1e6,
                "decode_pydantic_us": dec_p * 1e6,
                "decode_speedup": dec_p / dec_m,
                "orjson_us": dec_o * 1e6,
                "decode_vs_floor": dec_m / dec_o,
            }
        )
    return rows


# -- the produce side: the ratios of issue 29, in one run ---------------------------------

#: msgspec's own floor for a detail: encode it, then decode the bytes into its class (a
#: typed, validating decode): what a round trip costs without any check of ours.
_FLOOR_ENCODE = msgspec.json.Encoder(decimal_format="number").encode


def _interleaved(
    candidates: dict[str, Callable[[], object]], repeats: int, number: int
) -> dict[str, float]:
    """Seconds per call of each candidate: the best of ``repeats``, the candidates timed
    in turn within each repeat, so load on the machine falls on all of them alike."""
    fastest = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeats):
        for name, fn in candidates.items():
            fastest[name] = min(fastest[name], timeit.timeit(fn, number=number) / number)
    return fastest


def produce_run(repeats: int = 15, number: int = 1_000) -> dict[tuple[str, str, str], float]:
    """One run: for each metadata kind and event, ``detail_json()`` ÷ the floor and the
    build + validate + encode speedup over pydantic (pydantic's time ÷ ours)."""
    global META
    ratios: dict[tuple[str, str, str], float] = {}
    for label, metadata in (("realistic", True), ("{}", False)):
        META = realistic_metadata(1) if metadata else {}
        ours, theirs = build_ours(), build_pydantic()
        for event in make_events(4, metadata=metadata):
            detail, detail_type = event.detail, event.detail_type
            decoder = msgspec.json.Decoder(type(detail))
            assert decoder.decode(event.detail_json()) == detail, detail_type
            # both builders write the same JSON (pydantic a Decimal as a string)
            mine, yours = json.loads(ours[detail_type]()), json.loads(theirs[detail_type]())
            if "accountStatement" in yours["content"]:
                yours["content"]["accountStatement"] = float(yours["content"]["accountStatement"])
            assert mine == yours, detail_type
            plan = _PLANS[type(event)]
            assert plan is not None, detail_type
            took = _interleaved(
                {
                    "detail_json": event.detail_json,
                    "floor": lambda d=detail, dec=decoder: dec.decode(_FLOOR_ENCODE(d)),
                    "build": ours[detail_type],
                    "pydantic": theirs[detail_type],
                    # where detail_json()'s time goes: its encode + strict decode, and
                    # the metadata check (a Python walk: keys are strings, floats finite)
                    "core": lambda d=detail, p=plan: p.decode(encode(d)),
                    "walk": lambda m=detail.metadata: _plain_object(m),
                    # the general path alone: the code before the plan
                    "general": lambda e=event: _checked_json(e),
                },
                repeats,
                number,
            )
            floor = took["floor"]
            ratios["floor", label, detail_type] = took["detail_json"] / floor
            ratios["pydantic", label, detail_type] = took["pydantic"] / took["build"]
            ratios["core", label, detail_type] = took["core"] / floor
            ratios["walk", label, detail_type] = took["walk"] / floor if metadata else 0.0
            ratios["general", label, detail_type] = took["general"] / floor
    return ratios


_FIGURES = {
    "floor": ("`detail_json()` ÷ msgspec's floor (encode + typed decode)", "≤ 1.1×", "≤ 1.1×"),
    "pydantic": (
        "build + validate + encode: × faster than pydantic v2 (its time ÷ ours)",
        "≥ 2.7×",
        "≥ 3.5×",
    ),
}
_METADATA = {"realistic": "4 keys, one nested", "{}": "`{}`"}


def produce(runs: int = 3) -> dict[tuple[str, str, str], list[float]]:
    """Print (and return) the produce-side ratios: min / median / max over ``runs``
    interleaved runs, per event and metadata kind, and over all four events."""
    measured = [produce_run() for _ in range(runs)]
    spread = {key: sorted(run[key] for run in measured) for key in measured[0]}
    print(f"## Produce side (bench_models): min / median / max of {runs} interleaved runs\n")
    for figure, (name, goal, goal_empty) in _FIGURES.items():
        print(f"{name}\n")
        print("| metadata | event | min | median | max | goal |")
        print("|---|---|---|---|---|---|")
        for label, words in _METADATA.items():
            everything: list[float] = []
            for (f, m, detail_type), values in spread.items():
                if (f, m) != (figure, label):
                    continue
                everything += values
                print(
                    f"| {words} | {detail_type} | {values[0]:.2f} "
                    f"| {statistics.median(values):.2f} | {values[-1]:.2f} "
                    f"| {goal if label == 'realistic' else goal_empty} |"
                )
            everything.sort()
            print(
                f"| {words} | **all four** | **{everything[0]:.2f}** "
                f"| **{statistics.median(everything):.2f}** | **{everything[-1]:.2f}** "
                f"| {goal if label == 'realistic' else goal_empty} |"
            )
        print()
    print("Where `detail_json()`'s time goes, ÷ the floor (medians of the runs)\n")
    print(
        "| metadata | event | encode + strict decode | metadata check | the rest (call, "
        "plan lookup, type checks, UTC reads) | total | the general path alone (the code "
        "before the plan) |"
    )
    print("|---|---|---|---|---|---|---|")
    for (figure, label, detail_type), values in spread.items():
        if figure != "floor":
            continue
        total = statistics.median(values)
        core = statistics.median(spread["core", label, detail_type])
        walk = statistics.median(spread["walk", label, detail_type])
        general = statistics.median(spread["general", label, detail_type])
        print(
            f"| {_METADATA[label]} | {detail_type} | {core:.2f} | {walk:.2f} "
            f"| {total - core - walk:.2f} | {total:.2f} | {general:.2f} |"
        )
    print()
    return spread


def main() -> None:
    produce()
    global META
    for label, metadata in (
        ("realistic metadata (4 keys, one nested)", realistic_metadata(1)),
        ("metadata {} (comparison)", {}),
    ):
        META = metadata
        table(run(), label)


def table(rows: list[dict[str, Any]], label: str) -> None:
    print(f"## Decode an envelope (bench_models), {label}\n")
    print(
        "| event | decode envelope µs | pydantic µs | speedup | orjson.loads µs | typed / floor |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['event']} | {r['decode_us']:.2f} | {r['decode_pydantic_us']:.2f} "
            f"| {r['decode_speedup']:.1f}x | {r['orjson_us']:.2f} | {r['decode_vs_floor']:.2f}x |"
        )
    worst_decode = min(r["decode_speedup"] for r in rows)
    worst_floor = max(r["decode_vs_floor"] for r in rows)
    print(
        f"\nworst: decode {worst_decode:.1f}x pydantic, typed decode {worst_floor:.2f}x the "
        "orjson floor\n"
    )


if __name__ == "__main__":
    main()
