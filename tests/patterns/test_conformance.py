"""aws/event-ruler's own test cases, carried over as data (tests/patterns/cases/*.json).

Each case names the event-ruler test (or EventBridge user-guide section) it comes from.
A case is a pattern and an event with the result event-ruler gives, or a pattern with
whether event-ruler's compiler accepts it. docs/patterns.md counts them per operator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tfso_events.errors import InvalidPatternError
from tfso_events.patterns import compile_pattern

CASES = Path(__file__).parent / "cases"


def _load() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.json")):
        document = json.loads(path.read_text())
        for index, case in enumerate(document["cases"]):
            out.append(pytest.param(case, id=f"{path.stem}-{index}"))
    return out


ALL = _load()


@pytest.mark.parametrize("case", ALL)
def test_event_ruler_case(case: dict[str, Any]) -> None:
    """The matcher and the compiler give event-ruler's answer for every carried-over case."""
    if "invalid" in case:
        if case["invalid"]:
            with pytest.raises(InvalidPatternError):
                compile_pattern(case["pattern"])
        else:
            compile_pattern(case["pattern"])
        return
    compiled = compile_pattern(case["pattern"])
    event = case["event"]
    assert compiled.matches(event) is case["match"], (case["source"], compiled.explain(event))
    assert (compiled.explain(event) is None) is case["match"]


def test_every_operator_has_cases() -> None:
    """The case files cover every operator EventBridge supports, with both outcomes."""
    names = {path.stem for path in CASES.glob("*.json")}
    assert {
        "exact",
        "prefix",
        "prefix-equals-ignore-case",
        "suffix",
        "suffix-equals-ignore-case",
        "equals-ignore-case",
        "anything-but",
        "anything-but-prefix",
        "anything-but-suffix",
        "anything-but-equals-ignore-case",
        "anything-but-wildcard",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
        "or",
        "arrays",
        "compiler",
    } <= names
    outcomes = {c.values[0].get("match", c.values[0].get("invalid")) for c in ALL}
    assert outcomes == {True, False}
