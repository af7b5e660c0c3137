"""Fuzzing ``parse_event`` with hypothesis, 100,000 examples in one run.

What it feeds ``parse_event``, each example drawn from one of four sources:

* **mutated envelopes** — a valid EventBridge envelope of a catalog event (the seed's
  sample events) with one to three mutations anywhere in the tree: a value replaced by a
  hostile one (huge or tiny numbers, long or odd strings, JSON nested up to 3,000 deep,
  wrong types), a key deleted, an unknown key added, the detail-type swapped;
* **broken bytes** — the JSON text of a valid envelope truncated, with a byte changed,
  or with bytes inserted;
* **arbitrary JSON** and **arbitrary bytes**, as ``tests/models`` fuzzes them.

Envelopes are passed as ``bytes``, ``str`` or ``dict`` (what Lambda hands a handler).
The promise checked on every example: ``parse_event`` returns a typed event or
``UnknownEvent``, or raises ``EventValidationError``; nothing else. And a typed event
it returns is valid: ``event.validate()`` passes (what we accept, we could also send).

It prints examples/s and the outcome counts; any example breaking the promise is
counted under ``UNEXPECTED`` with its first lines printed, and the exit status is 1.
The CI version of the same strategies (fewer examples) is
``tests/reliability/test_parse_hostile.py``.

Run: ``.venv/bin/python -m benchmarks.bench_fuzz`` (``--examples N``, ``--seed S``).
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import sys
import time
import traceback
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tfso_events import EventValidationError, TfsoEvent, UnknownEvent, catalog, parse_event
from tfso_events.examples import sample_events

__all__ = ["documents", "envelope", "outcome"]


def envelope(event: TfsoEvent) -> dict[str, Any]:
    """The EventBridge envelope that delivers ``event``, as a dict."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "111122223333",
        "time": "2024-02-29T12:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:111122223333:rule/r"],
        "detail": json.loads(event.detail_json()),
    }


_ENVELOPES = [envelope(event) for event in sample_events()]
_DETAIL_TYPES = [cls.detail_type for cls in catalog.event_classes()]


class _Deep:
    """JSON nested ``depth`` deep, built only when the document is written: Python's
    own ``json`` (and ``copy``, ``repr``) would hit the recursion limit first."""

    def __init__(self, depth: int, kind: str) -> None:
        self.depth, self.kind = depth, kind

    def build(self) -> Any:
        value: Any = 1
        for _ in range(self.depth):
            value = [value] if self.kind == "list" else {"a": value}
        return value

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "1" + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth


_HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, -(10**400), 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, 0.1]),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "\x00",
            "2023-07-04T08:05:58",
            "2023-07-04T08:05:58Z",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "2023-02-30T00:00:00Z",
            "Red",
            "red",
            "created",
            "NaN",
            "1e400",
            "x" * 70_000,
            "é" * 1000,
            "\U0001f600",
        ]
    ),
    st.builds(_Deep, st.integers(1, 3000), st.sampled_from(["list", "dict"])),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> Any:
    """A valid envelope with one to three mutations anywhere in its tree."""
    doc = _copy(draw(st.sampled_from(_ENVELOPES)))
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(doc, dict):
            break
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "detail-type"]))
        if action == "detail-type":
            doc["detail-type"] = draw(st.sampled_from(_DETAIL_TYPES) | st.text(max_size=30))
            continue
        if not path:
            if action == "replace":
                doc = draw(_HOSTILE)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "replace":
            parent[last] = draw(_HOSTILE)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(_HOSTILE)
        else:
            parent.append(draw(_HOSTILE))
    return doc


@st.composite
def broken_bytes(draw: st.DrawFn) -> bytes:
    """The JSON text of a valid envelope, truncated, with a byte changed or inserted."""
    data = bytearray(json.dumps(draw(st.sampled_from(_ENVELOPES))).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["truncate", "flip", "insert"]))
        if action == "truncate":
            del data[at:]
        elif action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _with_deep(node: Any) -> Any:
    if isinstance(node, _Deep):
        return node.build()
    if isinstance(node, dict):
        return {key: _with_deep(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_deep(value) for value in node]
    return node


def _as(form: str, doc: Any) -> Any:
    if form == "dict":
        return _with_deep(doc)
    deep: list[_Deep] = []

    def mark(node: object) -> str:
        if not isinstance(node, _Deep):
            raise TypeError(type(node).__name__)
        deep.append(node)
        return f"\x00deep{len(deep) - 1}\x00"

    text = json.dumps(doc, ensure_ascii=False, default=mark)
    for n, node in enumerate(deep):
        text = text.replace(f'"\\u0000deep{n}\\u0000"', node.text())
    return text if form == "str" else text.encode("utf-8", "surrogatepass")


def documents() -> st.SearchStrategy[Any]:
    """Every kind of input the fuzz feeds ``parse_event``."""
    forms = st.sampled_from(["bytes", "str", "dict"])
    envelopes = st.tuples(forms, mutated_envelopes()).map(lambda args: _as(*args))
    others = [broken_bytes(), _JSON.map(json.dumps), st.binary()]
    # Half the examples are mutated envelopes: they reach the field validators, where
    # arbitrary bytes and JSON rarely get.
    return st.integers(0, 5).flatmap(lambda n: envelopes if n < 3 else others[n - 3])


def outcome(raw: Any) -> str:
    """What ``parse_event(raw)`` did: ``typed <detail-type>``, ``unknown``,
    ``invalid <path root>``, or ``UNEXPECTED ...`` when the promise is broken."""
    try:
        result = parse_event(raw)
    except EventValidationError as exc:
        return f"invalid {exc.path.split('.')[1] if '.' in exc.path else '$'}"
    except Exception as exc:
        return f"UNEXPECTED {type(exc).__name__}: {str(exc)[:120]}"
    if isinstance(result, UnknownEvent):
        return "unknown"
    if not isinstance(result, TfsoEvent):
        return f"UNEXPECTED result {type(result).__name__}"
    try:
        result.validate()
    except EventValidationError as exc:
        if isinstance(raw, dict) and "nested too deeply" in str(exc):
            # An already decoded dict may hold free-form metadata nested deeper than
            # JSON can be written back; parse_event keeps it, validate() refuses it.
            return f"typed {result.detail_type}, too deep to re-send"
        return f"UNEXPECTED accepted but invalid ({str(exc)[:100]})"
    except Exception as exc:
        return f"UNEXPECTED accepted but invalid ({type(exc).__name__}: {str(exc)[:100]})"
    return f"typed {result.detail_type}"


def run(examples: int, seed_value: int) -> tuple[collections.Counter[str], list[str], float]:
    """Run ``examples`` hypothesis examples; return counts, unexpected samples, seconds."""
    counts: collections.Counter[str] = collections.Counter()
    samples: list[str] = []

    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(documents())
    def fuzz(raw: Any) -> None:
        result = outcome(raw)
        counts[result] += 1
        if result.startswith("UNEXPECTED") and len(samples) < 5:
            try:
                shown = repr(raw)[:300]
            except RecursionError:
                shown = f"a {type(raw).__name__} nested too deeply to show"
            samples.append(f"{result}\n    input: {shown}")

    started = time.perf_counter()
    fuzz()
    return counts, samples, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"parse_event fuzz: {args.examples:,} examples, seed {args.seed}, "
          f"CPython {platform.python_version()}")  # fmt: skip
    counts, samples, seconds = run(args.examples, args.seed)
    total = sum(counts.values())
    print(f"{total:,} examples in {seconds:.1f} s: {total / seconds:,.0f} examples/s")
    grouped: collections.Counter[str] = collections.Counter()
    for result, n in counts.items():
        grouped[result.split(" (")[0].split(":")[0] if "UNEXPECTED" in result else result] += n
    for result, n in sorted(grouped.items(), key=lambda item: -item[1]):
        print(f"  {n:>8,}  {result}")
    for sample in samples:
        print(sample)
    unexpected = sum(n for result, n in counts.items() if result.startswith("UNEXPECTED"))
    print(f"unexpected outcomes: {unexpected}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.exit(130)
