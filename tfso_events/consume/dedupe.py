"""Duplicate suppression for the consume router: the :class:`DedupeStore` protocol and
two stores.

Delivery is at least once: EventBridge retries a target, SQS redelivers, a producer
resends. ``router.handler(dedupe=store, key=...)`` claims each event's key before its
handler runs and skips the event when the key is already claimed:

1. ``claim(key, lease=...)`` — take the key for as long as the handler may run (the
   lease; the Lambda's remaining time). ``False`` means it is taken (handled before, or
   being handled right now by another invocation): the event is skipped.
2. ``complete(key, ttl=...)`` — the handler succeeded: keep the key for the dedupe
   window (``ttl``).
3. ``release(key)`` — the handler raised: free the key, so the retry runs.

A function that dies mid-handler (timeout, out of memory) neither completes nor
releases; its lease runs out and the redelivery runs. :class:`MemoryDedupeStore` serves
one warm container (and tests); :class:`DynamoDBDedupeStore` is shared by every
container, with a conditional put (aioboto3 is imported on first use only).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_dynamodb.client import DynamoDBClient

__all__ = ["DedupeStore", "DynamoDBDedupeStore", "MemoryDedupeStore"]


@runtime_checkable
class DedupeStore(Protocol):
    """Where the router records the keys of events it has handled (see the module doc)."""

    async def claim(self, key: str, *, lease: float) -> bool:
        """Take ``key`` for ``lease`` seconds; ``False`` if it is already taken."""
        ...

    async def complete(self, key: str, *, ttl: float) -> None:
        """Keep ``key`` taken for ``ttl`` seconds from now (its event was handled)."""
        ...

    async def release(self, key: str) -> None:
        """Free ``key`` (its handler raised; the retry must run)."""
        ...


class MemoryDedupeStore:
    """An in-process store: keys live until they expire, at most ``max_keys`` of them
    (the oldest are forgotten first). Catches redeliveries that reach the same warm
    container; use :class:`DynamoDBDedupeStore` to catch them across containers.

    ``clock`` (default :func:`time.monotonic`) is for tests.
    """

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] | None = None
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._clock = clock or time.monotonic
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, key: object) -> bool:
        expiry = self._expiry.get(key) if isinstance(key, str) else None
        return expiry is not None and expiry > self._clock()

    async def claim(self, key: str, *, lease: float) -> bool:
        """Take ``key`` for ``lease`` seconds unless it is held and not expired."""
        now = self._clock()
        expiry = self._expiry.get(key)
        if expiry is not None and expiry > now:
            return False
        self._expiry[key] = now + lease
        self._expiry.move_to_end(key)
        while len(self._expiry) > self._max_keys:
            self._expiry.popitem(last=False)
        return True

    async def complete(self, key: str, *, ttl: float) -> None:
        """Hold ``key`` for ``ttl`` seconds from now."""
        self._expiry[key] = self._clock() + ttl
        self._expiry.move_to_end(key)

    async def release(self, key: str) -> None:
        """Forget ``key``."""
        self._expiry.pop(key, None)


class DynamoDBDedupeStore:
    """A DynamoDB table shared by every container of a consumer.

    The table has a string partition key (``key_attribute``, default ``"id"``) and,
    ideally, DynamoDB TTL enabled on ``ttl_attribute`` (default ``"expires_at"``, epoch
    seconds) so old keys are deleted. A claim is a conditional ``PutItem`` that succeeds
    only when the key is absent or its expiry has passed (TTL deletion lags by up to
    days, so the condition, not the deletion, decides).

    ``namespace`` is prefixed to every key: consumers sharing a table must use distinct
    ones, or one consumer's handled events would be skipped by the other. The client is
    created on first use from ``session`` (default a new :class:`aioboto3.Session`) with
    ``region_name``/``endpoint_url``; ``await store.aclose()`` closes it. Keep one store
    per event loop.
    """

    def __init__(
        self,
        table_name: str,
        *,
        namespace: str = "",
        key_attribute: str = "id",
        ttl_attribute: str = "expires_at",
        region_name: str | None = None,
        endpoint_url: str | None = None,
        session: aioboto3.Session | None = None,
    ) -> None:
        if not table_name:
            raise ValueError("table_name must not be empty")
        self.table_name = table_name
        self.namespace = namespace
        self.key_attribute = key_attribute
        self.ttl_attribute = ttl_attribute
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._session = session
        self._client: DynamoDBClient | None = None
        self._exit: object = None

    def __repr__(self) -> str:
        return f"DynamoDBDedupeStore(table_name={self.table_name!r}, namespace={self.namespace!r})"

    async def _get_client(self) -> DynamoDBClient:
        if self._client is None:
            import contextlib

            import aioboto3
            from aiobotocore.config import AioConfig

            session = self._session or aioboto3.Session()
            stack = contextlib.AsyncExitStack()
            self._client = await stack.enter_async_context(
                session.client(
                    "dynamodb",
                    region_name=self._region_name,
                    endpoint_url=self._endpoint_url,
                    config=AioConfig(retries={"mode": "standard"}),
                )
            )
            self._exit = stack
        return self._client

    def _key(self, key: str) -> dict[str, dict[str, str]]:
        return {self.key_attribute: {"S": self.namespace + key}}

    async def claim(self, key: str, *, lease: float) -> bool:
        """Conditional put: the key is taken unless absent or expired."""
        client = await self._get_client()
        now = time.time()
        try:
            await client.put_item(
                TableName=self.table_name,
                Item={
                    **self._key(key),
                    self.ttl_attribute: {"N": str(int(now + lease) + 1)},
                },
                ConditionExpression="attribute_not_exists(#k) OR #exp <= :now",
                ExpressionAttributeNames={"#k": self.key_attribute, "#exp": self.ttl_attribute},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    async def complete(self, key: str, *, ttl: float) -> None:
        """Push the key's expiry to ``ttl`` seconds from now."""
        client = await self._get_client()
        await client.put_item(
            TableName=self.table_name,
            Item={**self._key(key), self.ttl_attribute: {"N": str(int(time.time() + ttl) + 1)}},
        )

    async def release(self, key: str) -> None:
        """Delete the key."""
        client = await self._get_client()
        await client.delete_item(TableName=self.table_name, Key=self._key(key))

    async def aclose(self) -> None:
        """Close the DynamoDB client (a new one is opened if the store is used again)."""
        stack, self._exit, self._client = self._exit, None, None
        if stack is not None:
            import contextlib

            assert isinstance(stack, contextlib.AsyncExitStack)
            await stack.aclose()
