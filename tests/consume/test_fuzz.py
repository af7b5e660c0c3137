"""Hypothesis: arbitrary Lambda events never make the router raise anything but its
documented errors (LambdaEventError / EventValidationError for direct invocations)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.consume.conftest import envelope, sns_event, sqs_event
from tests.eventbridge.conftest import bank_event
from tfso_events import EventValidationError
from tfso_events.consume import EventRouter
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event

_ROUTER = EventRouter()
_ROUTER.on(BankTestCreatedV1Event)(lambda event, record: None)
_ROUTER.on_unknown(lambda event: None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)

_GOOD = envelope(bank_event(1))
_KEYS = [
    "Records",
    "detail-type",
    "source",
    "detail",
    "id",
    "eventSource",
    "EventSource",
    "messageId",
    "body",
    "attributes",
    "Sns",
    "Message",
    "Type",
    "eventSourceARN",
]


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """Replace one nested value of doc with an arbitrary JSON value."""
    if isinstance(doc, dict) and doc and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(doc)))
        return {**doc, key: _mutate(doc[key], data)}
    if isinstance(doc, list) and doc and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(doc) - 1))
        return [*doc[:index], _mutate(doc[index], data), *doc[index + 1 :]]
    if isinstance(doc, str) and doc.startswith("{") and data.draw(st.booleans()):
        return json.dumps(_mutate(json.loads(doc), data))
    return data.draw(json_values | st.dictionaries(st.sampled_from(_KEYS), json_values))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_arbitrary_lambda_events_raise_only_documented_errors(data: st.DataObject) -> None:
    """Mutations of SQS, SNS and EventBridge events, and arbitrary JSON: the router returns
    a partial batch response or None, or raises EventValidationError (LambdaEventError is
    one); an SQS response names only messageIds of the event."""
    body = json.dumps(_GOOD)
    base = data.draw(st.sampled_from([sqs_event(body, body), sns_event(body), _GOOD, {}]))
    event = _mutate(base, data)
    try:
        response = _ROUTER.lambda_handler(event, None)
    except EventValidationError:
        return
    if response is not None:
        ids = {r["messageId"] for r in event["Records"]}
        assert {f["itemIdentifier"] for f in response["batchItemFailures"]} <= ids
