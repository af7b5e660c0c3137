"""Duplicate suppression for the consume router: the :class:`DedupeStore` protocol, the
:class:`Claim` it answers with, and two stores.

Delivery is at least once: EventBridge retries a target, SQS redelivers, a producer
resends. ``router.handler(dedupe=store, key=...)`` claims each event's key before its
handler runs. A key is in one of three states:

* **free** — never seen, released, or its lease or dedupe window ran out;
* **held** — claimed by one invocation (a *claim token*) until its *lease* ends;
* **done** — its handler succeeded; kept for the dedupe window (``ttl``).

The protocol, which any store implements (the router only ever calls these three):

1. ``claim(key, lease=...)`` → :class:`Claim`. A free key becomes held for ``lease``
   seconds and the answer carries a new token (``Claim.state == "claimed"``); otherwise
   the answer says ``"held"`` or ``"done"``. The router **skips only a done key**; a
   duplicate of a held key **fails its record** (SQS: listed in ``batchItemFailures``,
   so it comes back after the visibility timeout; EventBridge and SNS: raised, so the
   platform retries), because the holder may still fail or die: acknowledging it would
   lose the event.
2. ``complete(key, token, ttl=...)`` → ``bool``. The handler succeeded: the key becomes
   done for ``ttl`` seconds, **only if ``token`` still holds it** (else nothing changes
   and the answer is ``False``).
3. ``release(key, token)`` → ``bool``. The handler raised (any ``BaseException``,
   cancellation included): the key becomes free, **only if ``token`` still holds it**.

A holder that outlived its lease and whose key was claimed again changes nothing: its
token no longer holds the key. A holder that died (timeout, out of memory, SIGKILL)
neither completes nor releases; its key becomes free when its lease ends, and the next
delivery after that runs the handler. :class:`MemoryDedupeStore` serves one warm
container (and tests); :class:`DynamoDBDedupeStore` is shared by every container
(conditional writes; aioboto3 is imported on first use only).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_dynamodb.client import DynamoDBClient

__all__ = ["Claim", "DedupeStore", "DynamoDBDedupeStore", "MemoryDedupeStore"]

ClaimState = Literal["claimed", "held", "done"]


class Claim(NamedTuple):
    """What :meth:`DedupeStore.claim` answers.

    * ``state`` — ``"claimed"``: the key was free and is now held for the caller, whose
      ``token`` it is; ``"held"``: another claim holds it and its lease has not ended
      (the caller must not acknowledge the event); ``"done"``: its event was handled
      within the dedupe window (the caller skips it);
    * ``token`` — the claim token (only with ``"claimed"``): pass it to ``complete`` or
      ``release``.
    """

    state: ClaimState
    token: str | None = None


#: The answers without a token, shared.
HELD = Claim("held")
DONE = Claim("done")


def _claimed(fields: tuple[ClaimState, str]) -> Claim:
    # NamedTuple's own __new__ is Python code; tuple.__new__ builds the same Claim in C.
    return tuple.__new__(Claim, fields)


def new_token() -> str:
    """A claim token: 128 random bits, unique across processes and hosts."""
    # What secrets.token_hex(16) returns, without importing secrets (hmac, hashlib and
    # OpenSSL's _hashlib: ~6 ms of the consume router's import).
    return os.urandom(16).hex()


@runtime_checkable
class DedupeStore(Protocol):
    """Where the router records the state of each event's key (see the module doc).

    Implement these three coroutines to bring a store of your own (an SQL "inbox"
    table, Redis): ``claim`` takes a free key (or one whose lease or window ran out) for
    a new token, atomically; ``complete`` and ``release`` act only when the token given
    still holds the key (an SQL store: ``UPDATE ... WHERE key = :key AND token = :token``).
    """

    async def claim(self, key: str, *, lease: float) -> Claim:
        """Hold ``key`` for ``lease`` seconds under a new token if it is free; else say
        whether it is ``"held"`` or ``"done"``."""
        ...

    async def complete(self, key: str, token: str, *, ttl: float) -> bool:
        """Mark ``key`` done for ``ttl`` seconds from now, if ``token`` holds it."""
        ...

    async def release(self, key: str, token: str) -> bool:
        """Free ``key`` (its handler raised; the retry must run), if ``token`` holds it."""
        ...


# A memory store's entry: (done, token, expires at). A plain tuple: this runs per record.
_Entry = tuple[bool, str | None, float]


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
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # Tokens only this store compares: a random prefix and a counter (cheaper per
        # record than 128 fresh random bits, and as unique within the process).
        self._token_prefix = new_token()[:16] + "-"
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is held or done (not free)."""
        return self.state(key) != "free" if isinstance(key, str) else False

    def state(self, key: str) -> Literal["free", "held", "done"]:
        """``"free"``, ``"held"`` or ``"done"``: where ``key`` stands now."""
        entry = self._entries.get(key)
        if entry is None or entry[2] <= self._clock():
            return "free"
        return "done" if entry[0] else "held"

    async def claim(self, key: str, *, lease: float) -> Claim:
        """Hold ``key`` for ``lease`` seconds under a new token unless it is held or done."""
        now = self._clock()
        entries = self._entries
        entry = entries.get(key)
        if entry is not None and entry[2] > now:
            return DONE if entry[0] else HELD
        token = self._token_prefix + str(next(self._tokens))
        entries[key] = (False, token, now + lease)
        entries.move_to_end(key)
        if len(entries) > self._max_keys:
            while len(entries) > self._max_keys:
                entries.popitem(last=False)
        return _claimed(("claimed", token))

    async def complete(self, key: str, token: str, *, ttl: float) -> bool:
        """Mark ``key`` done for ``ttl`` seconds, if ``token`` holds it."""
        entry = self._entries.get(key)
        if entry is None or entry[1] != token:  # a done entry holds no token
            return False
        self._entries[key] = (True, None, self._clock() + ttl)
        self._entries.move_to_end(key)
        return True

    async def release(self, key: str, token: str) -> bool:
        """Free ``key``, if ``token`` holds it."""
        entry = self._entries.get(key)
        if entry is None or entry[1] != token:
            return False
        del self._entries[key]
        return True


class DynamoDBDedupeStore:
    """A DynamoDB table shared by every container of a consumer.

    The table has a string partition key (``key_attribute``, default ``"id"``) and,
    ideally, DynamoDB TTL enabled on ``ttl_attribute`` (default ``"expires_at"``, epoch
    seconds) so old keys are deleted. Each item also holds ``state`` (``"held"`` or
    ``"done"``) and, while held, the claim ``token``. A claim is a conditional
    ``PutItem`` that succeeds only when the key is absent or its expiry has passed (TTL
    deletion lags by up to days, so the condition, not the deletion, decides);
    ``complete`` is an ``UpdateItem`` and ``release`` a ``DeleteItem``, each on the
    condition that the item still carries the caller's token.

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

            from tfso_events._botocore import open_client

            session = self._session or aioboto3.Session()
            stack = contextlib.AsyncExitStack()
            # open_client: botocore's DEBUG logs redacted from the first request on.
            self._client, _ = await open_client(
                stack,
                session,
                "dynamodb",
                region_name=self._region_name,
                endpoint_url=self._endpoint_url,
                config=AioConfig(retries={"mode": "standard"}),
            )
            self._exit = stack
        return self._client

    def _key(self, key: str) -> dict[str, dict[str, str]]:
        return {self.key_attribute: {"S": self.namespace + key}}

    async def claim(self, key: str, *, lease: float) -> Claim:
        """Conditional put: the key is held under a new token unless it is present and
        not expired; else one consistent read says whether it is held or done."""
        client = await self._get_client()
        token = new_token()
        for _ in range(3):  # the item may expire or be released between put and read
            now = time.time()
            try:
                await client.put_item(
                    TableName=self.table_name,
                    Item={
                        **self._key(key),
                        self.ttl_attribute: {"N": str(int(now + lease) + 1)},
                        "state": {"S": "held"},
                        "token": {"S": token},
                    },
                    ConditionExpression="attribute_not_exists(#k) OR #exp <= :now",
                    ExpressionAttributeNames={"#k": self.key_attribute, "#exp": self.ttl_attribute},
                    ExpressionAttributeValues={":now": {"N": str(int(now))}},
                )
            except client.exceptions.ConditionalCheckFailedException:
                pass
            else:
                return Claim("claimed", token)
            answer = await client.get_item(
                TableName=self.table_name, Key=self._key(key), ConsistentRead=True
            )
            item = answer.get("Item")
            if item is None or int(item[self.ttl_attribute]["N"]) <= int(time.time()):
                continue  # free again: claim it
            state = item.get("state", {}).get("S")
            if state == "done":
                return DONE
            if state is None and int(item[self.ttl_attribute]["N"]) > time.time() + _LONGEST_LEASE:
                return DONE  # written before states existed: only a completion lives that long
            return HELD
        return HELD

    async def complete(self, key: str, token: str, *, ttl: float) -> bool:
        """Mark the key done for ``ttl`` seconds, on the condition that ``token`` holds it."""
        client = await self._get_client()
        try:
            await client.update_item(
                TableName=self.table_name,
                Key=self._key(key),
                UpdateExpression="SET #st = :done, #exp = :exp REMOVE #tok",
                ConditionExpression="#tok = :tok",
                ExpressionAttributeNames={
                    "#st": "state",
                    "#exp": self.ttl_attribute,
                    "#tok": "token",
                },
                ExpressionAttributeValues={
                    ":done": {"S": "done"},
                    ":exp": {"N": str(int(time.time() + ttl) + 1)},
                    ":tok": {"S": token},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    async def release(self, key: str, token: str) -> bool:
        """Delete the key, on the condition that ``token`` holds it."""
        client = await self._get_client()
        try:
            await client.delete_item(
                TableName=self.table_name,
                Key=self._key(key),
                ConditionExpression="#tok = :tok",
                ExpressionAttributeNames={"#tok": "token"},
                ExpressionAttributeValues={":tok": {"S": token}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    async def aclose(self) -> None:
        """Close the DynamoDB client (a new one is opened if the store is used again)."""
        stack, self._exit, self._client = self._exit, None, None
        if stack is not None:
            import contextlib

            assert isinstance(stack, contextlib.AsyncExitStack)
            await stack.aclose()


#: Lambda's longest timeout: no lease the router takes by default is longer.
_LONGEST_LEASE = 901
