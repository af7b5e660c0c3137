"""Whatever arrives, the hub answers 4xx or 2xx (never 5xx) and stores only what it accepted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.local.conftest import DETAIL_TYPE, SOURCE, sample_detail
from tfso_events.local import LocalHub

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_text_or_json = st.one_of(
    st.sampled_from([SOURCE, DETAIL_TYPE, json.dumps(sample_detail()), "{}", "[]", ""]),
    st.text(max_size=12),
    _json,
)
_entry = st.dictionaries(
    st.sampled_from(["Source", "DetailType", "Detail", "EventBusName", "Resources", "Time"]),
    _text_or_json,
)
_put_events = st.one_of(
    st.fixed_dictionaries({"Entries": st.lists(_entry, max_size=12)}),
    st.fixed_dictionaries({"Entries": _json}),
    _json,
)
_api_body = st.one_of(
    st.dictionaries(
        st.sampled_from(["source", "detailType", "detail"]),
        st.one_of(st.sampled_from([SOURCE, DETAIL_TYPE, sample_detail(), {"content": {}}]), _json),
    ),
    _json,
)


@pytest.fixture(scope="module")
def threaded_hub() -> Iterator[LocalHub]:
    """One hub for every generated request, on its own thread."""
    with LocalHub() as hub:
        yield hub


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_put_events)
def test_put_events_never_5xx_and_stores_exactly_the_accepted(
    threaded_hub: LocalHub, body: Any
) -> None:
    """Any JSON sent as PutEvents gets a 200 or a 400 JSON 1.1 error; only entries
    answered with an EventId are stored."""
    before = threaded_hub.count()
    status, answer = _post(
        threaded_hub.url,
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"},
    )
    assert status in (200, 400), answer
    if status == 200:
        accepted = [r["EventId"] for r in answer["Entries"] if "EventId" in r]
        assert answer["FailedEntryCount"] == len(answer["Entries"]) - len(accepted)
        stored = threaded_hub.received()[before:]
        assert [r.event_id for r in stored] == accepted
    else:
        assert answer["__type"]
        assert threaded_hub.count() == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_api_body)
def test_events_api_never_5xx_and_stores_only_on_200(threaded_hub: LocalHub, body: Any) -> None:
    """Any JSON posted to /events with a valid token gets 200 or a 4xx JSON error;
    nothing is stored unless it is 200."""
    token = threaded_hub.issue_token()
    before = threaded_hub.count()
    status, answer = _post(
        f"{threaded_hub.url}/events",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert status == 200 or 400 <= status < 500, answer
    assert threaded_hub.count() == before + (status == 200)
    if status != 200:
        assert answer["error"]
