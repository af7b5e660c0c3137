"""A consumer writing an EventBridge pattern with a detail filter: checks under mypy --strict
and pyright (tests/static_types/test_static_types.py runs both on this file)."""

from __future__ import annotations

import json

from tfso_events import EventPattern, detail_filter, event_pattern
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event

pattern = event_pattern(BankTransactionCreatedV1Event)
pattern["detail"] = {"content": {"status": {"code": [{"numeric": [">=", 100]}]}}}
pattern["source"].append({"prefix": "com.24sevenoffice."})
filtered: EventPattern = event_pattern(
    BankTransactionCreatedV1Event,
    detail=detail_filter(BankTransactionCreatedV1Event, content__status__text=["created"]),
)
either: EventPattern = {
    "source": ["com.24sevenoffice.banktransfer"],
    "detail-type": [{"wildcard": "bank.transaction:*"}],
    "$or": [{"detail": {"content": {"license": [{"prefix": "x"}]}}}, {"account": ["1"]}],
}
print(json.dumps([pattern, filtered, either]))
