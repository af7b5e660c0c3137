"""Consume TFSO events in AWS Lambda: typed routing, partial batch responses, dedupe.

::

    from tfso_events.consume import EventRouter
    from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event

    router = EventRouter()

    @router.on(BankTransactionCreatedV1Event)
    def created(event: BankTransactionCreatedV1Event) -> None:
        ...

    lambda_handler = router.lambda_handler

The same handler serves every topology, detected from the payload: EventBridge rule →
Lambda, rule → SQS → Lambda (bodies are envelopes), rule → SNS → SQS → Lambda (raw or
not) and rule → SNS → Lambda. Importing this package loads msgspec only; the DynamoDB
dedupe store imports aioboto3 when it is first used.
"""

from __future__ import annotations

from tfso_events.consume._records import Via
from tfso_events.consume._router import BatchResponse, EventRouter, LambdaHandler, RecordContext
from tfso_events.consume.dedupe import Claim, DedupeStore, DynamoDBDedupeStore, MemoryDedupeStore
from tfso_events.errors import DedupeKeyHeldError, LambdaEventError, UnhandledEventError

__all__ = [
    "BatchResponse",
    "Claim",
    "DedupeKeyHeldError",
    "DedupeStore",
    "DynamoDBDedupeStore",
    "EventRouter",
    "LambdaEventError",
    "LambdaHandler",
    "MemoryDedupeStore",
    "RecordContext",
    "UnhandledEventError",
    "Via",
]
