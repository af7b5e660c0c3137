"""The hub as a bus: rules, their targets, and the deliveries made to them.

Every accepted event (events API and PutEvents) is handed to :meth:`Bus.submit`, which
only appends it to a queue: the accepting request never waits for matching or
delivery. One worker task per hub takes events in arrival order, matches them against
the enabled rules of their bus (:mod:`tfso_events.patterns`, EventBridge's semantics),
and starts one delivery per matched target, each with its own retries:

* an HTTP(S) URL as the target ``Arn``: ``POST`` of the payload as JSON; a connection
  error, a 429 or a 5xx is retried with exponential backoff, any other answer ends it;
* an in-process callable or :class:`~tfso_events.consume.EventRouter`
  (``hub.add_rule(..., handler)``): called with the payload; an exception is retried;
* an SQS queue ARN (``arn:aws:sqs:<region>:<account>:<name>``): ``SendMessage`` to
  the queue of that name at the hub's ``sqs_endpoint_url`` (a moto server).

The payload is the envelope EventBridge builds, or what the target's ``Input`` /
``InputPath`` make of it. A delivery that runs out of attempts is kept as a
dead-letter record; :meth:`Bus.deliveries` lists both kinds, oldest first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from tfso_events.patterns import CompiledPattern, _index_key, compile_pattern

__all__ = [
    "ACCOUNT",
    "REGION",
    "Bus",
    "Delivery",
    "DeliveryFailed",
    "Rule",
    "Target",
    "apply_input",
    "bus_name",
    "check_input_path",
    "rule_arn",
    "targets_from",
]

logger = logging.getLogger("tfso_events.local")

#: The account and region the hub writes into envelopes and ARNs.
ACCOUNT = "000000000000"
REGION = "local"
#: Attempts per delivery (the first included) and the first backoff, doubled each time.
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.05
_IN_FLIGHT = 64
#: Deliveries (and dead-letter records) kept in memory, newest last.
MAX_DELIVERIES = 100_000

Handler = Callable[[Any], Any]
Status = Literal["delivered", "failed"]


def bus_name(name_or_arn: str | None) -> str:
    """The bus name of an ``EventBusName`` (a name or an ARN; ``default`` when empty)."""
    if not name_or_arn:
        return "default"
    if name_or_arn.startswith("arn:"):
        return name_or_arn.rsplit("/", 1)[-1]
    return name_or_arn


def rule_arn(name: str, bus: str | None) -> str:
    """The ARN EventBridge gives a rule (``rule/<name>`` on the default bus)."""
    where = name if bus in (None, "default") else f"{bus}/{name}"
    return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{where}"


@dataclass(slots=True)
class Target:
    """One target of a rule: ``arn`` (a URL, an SQS queue ARN, or ``local:handler:<id>``
    for an in-process handler), with EventBridge's ``Input`` / ``InputPath``."""

    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    handler: Handler | None = None

    def describe(self) -> dict[str, str]:
        """The target as ``ListTargetsByRule`` answers it."""
        out = {"Id": self.id, "Arn": self.arn}
        if self.input is not None:
            out["Input"] = self.input
        if self.input_path is not None:
            out["InputPath"] = self.input_path
        return out


@dataclass(slots=True)
class Rule:
    """A rule: its pattern, state and targets. ``event_bus_name`` ``None`` (rules added
    in Python or from ``--rules`` without a bus) means every bus."""

    name: str
    event_pattern: str
    compiled: CompiledPattern
    event_bus_name: str | None = "default"
    state: str = "ENABLED"
    description: str | None = None
    targets: dict[str, Target] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        """The rule's ARN."""
        return rule_arn(self.name, self.event_bus_name)

    def describe(self) -> dict[str, Any]:
        """The rule as ``DescribeRule`` / ``ListRules`` answer it."""
        out: dict[str, Any] = {
            "Name": self.name,
            "Arn": self.arn,
            "EventPattern": self.event_pattern,
            "State": self.state,
            "EventBusName": self.event_bus_name or "*",
        }
        if self.description is not None:
            out["Description"] = self.description
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One delivery of an event to a rule's target, as :meth:`LocalHub.deliveries`
    lists it: ``status`` ``"delivered"`` or ``"failed"`` (a dead-letter record, with the
    last ``error``), after ``attempts`` tries; ``payload`` is what was sent."""

    id: int
    rule: str
    target_id: str
    target_arn: str
    event_id: str
    status: Status
    attempts: int
    error: str | None
    payload: Any
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /deliveries`` lists it."""
        return {
            "id": self.id,
            "rule": self.rule,
            "targetId": self.target_id,
            "targetArn": self.target_arn,
            "eventId": self.event_id,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "payload": self.payload,
            "at": self.at.isoformat().replace("+00:00", "Z"),
        }


class DeliveryFailed(Exception):
    """A try of a delivery failed; ``retry`` says whether another try may succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def apply_input(target: Target, envelope: dict[str, Any]) -> Any:
    """What EventBridge sends ``target`` for ``envelope``: the constant ``Input`` (JSON),
    the part of the event at ``InputPath``, or the whole envelope."""
    if target.input is not None:
        return msgspec.json.decode(target.input)
    if target.input_path is not None:
        return _at_path(envelope, target.input_path)
    return envelope


_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


def check_input_path(path: str) -> str | None:
    """Why ``path`` is not a JSONPath EventBridge takes for ``InputPath``, or ``None``."""
    if not path.startswith("$"):
        return "InputPath must start with $"
    rest = path[1:]
    position = 0
    for match in _STEP.finditer(rest):
        if match.start() != position:
            break
        position = match.end()
    if position != len(rest):
        return f"InputPath {path!r} is not a simple JSONPath ($.detail, $.detail.items[0])"
    return None


def _at_path(document: Any, path: str) -> Any:
    node = document
    for match in _STEP.finditer(path[1:]):
        key, index, quoted = match.groups()
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return None
            node = node[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(node, dict) or name not in node:
                return None
            node = node[name]
    return node


class Bus:
    """The rules of one hub and the worker delivering what they match."""

    def __init__(
        self,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        sqs_endpoint_url: str | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"delivery attempts must be at least 1, got {attempts}")
        self.attempts = attempts
        self.backoff = backoff
        self.sqs_endpoint_url = sqs_endpoint_url
        self.rules: dict[tuple[str, str], Rule] = {}
        # The newest MAX_DELIVERIES records (a long-running hub must not grow forever).
        self._deliveries: collections.deque[Delivery] = collections.deque(maxlen=MAX_DELIVERIES)
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[tuple[Callable[[], dict[str, Any]], str]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._limit: asyncio.Semaphore | None = None
        self._session: Any = None
        self._sqs: Any = None
        self._sqs_stack: contextlib.AsyncExitStack | None = None
        self._http: Any = None  # one aiohttp session for every HTTP target
        self._idle: asyncio.Event | None = None
        self._pending = 0
        # Rules looked up by a top-level field they need one of a few strings in
        # (detail-type, source, ...); the rest are tried for every event.
        self._index: tuple[dict[str, dict[str, list[Rule]]], list[Rule]] | None = None
        # Bumped by every change of the rules: an index built from an older copy (rules
        # may change from a test's thread meanwhile) is rebuilt.
        self._version = 0
        self._index_version = -1

    # -- rules ---------------------------------------------------------------------------

    def put_rule(
        self,
        name: str,
        pattern: Mapping[str, Any] | str,
        *,
        event_bus_name: str | None = "default",
        state: str = "ENABLED",
        description: str | None = None,
    ) -> Rule:
        """Create or update a rule (its targets are kept); ``InvalidPatternError`` when
        EventBridge would refuse the pattern."""
        compiled = compile_pattern(pattern)
        text = pattern if isinstance(pattern, str) else msgspec.json.encode(pattern).decode()
        key = (event_bus_name or "*", name)
        old = self.rules.get(key)
        rule = Rule(
            name=name,
            event_pattern=text,
            compiled=compiled,
            event_bus_name=event_bus_name,
            state=state,
            description=description,
            targets=old.targets if old is not None else {},
        )
        self.rules[key] = rule
        self._version += 1
        return rule

    def find(self, name: str, event_bus_name: str | None) -> Rule | None:
        """The rule ``name`` on the bus (or on every bus)."""
        return self.rules.get((event_bus_name or "*", name)) or self.rules.get(("*", name))

    def delete(self, rule: Rule) -> None:
        """Forget ``rule``."""
        self.rules.pop((rule.event_bus_name or "*", rule.name), None)
        self._version += 1

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker on the running loop."""
        self._queue = asyncio.Queue()
        self._limit = asyncio.Semaphore(_IN_FLIGHT)
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="hub-bus")

    async def stop(self) -> None:
        """Stop the worker; deliveries in flight are cancelled."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        stack, self._sqs_stack, self._sqs = self._sqs_stack, None, None
        if stack is not None:
            await stack.aclose()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    # -- the accepting path ----------------------------------------------------------------

    def submit(self, envelope: Callable[[], dict[str, Any]], bus: str) -> None:
        """Queue an accepted event for matching and delivery (never waits): ``envelope``
        builds its envelope, on the worker, only when there are rules."""
        if self._queue is None or not self.rules:
            return
        self._pending += 1
        if self._idle is not None:
            self._idle.clear()
        self._queue.put_nowait((envelope, bus))

    async def drain(self) -> None:
        """Wait until every submitted event is matched and every delivery has ended."""
        if self._idle is not None:
            await self._idle.wait()

    # -- the worker ------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            build, bus = await self._queue.get()
            try:
                self._fan_out(build(), bus)
            except Exception:  # pragma: no cover - a bug must not stop the bus
                logger.exception("local hub: matching an event against the rules failed")
            finally:
                self._done_one()
            # get() does not yield while the queue holds events: yield after each one,
            # so a request arriving meanwhile waits for one event's fan-out at most.
            await asyncio.sleep(0)

    def _candidates(self, envelope: dict[str, Any]) -> list[Rule]:
        if self._index is None or self._index_version != self._version:
            self._index_version = self._version
            indexed: dict[str, dict[str, list[Rule]]] = {}
            rest: list[Rule] = []
            # A copy: with `with LocalHub()` rules may be added from the test's thread.
            for rule in list(self.rules.values()):
                key = _index_key(rule.compiled)
                if key is None:
                    rest.append(rule)
                    continue
                for text in key[1]:
                    indexed.setdefault(key[0], {}).setdefault(text, []).append(rule)
            self._index = indexed, rest
        indexed, rest = self._index
        found = list(rest)
        for name, by_value in indexed.items():
            value: object = envelope.get(name)
            if type(value) is str:
                found.extend(by_value.get(value, ()))
            elif type(value) is list:  # a field may hold an array; any element can match
                seen: set[int] = set()
                for item in value:
                    for rule in by_value.get(item, ()) if type(item) is str else ():
                        if id(rule) not in seen:
                            seen.add(id(rule))
                            found.append(rule)
        return found

    def _fan_out(self, envelope: dict[str, Any], bus: str) -> None:
        for rule in self._candidates(envelope):
            if rule.state != "ENABLED":
                continue
            if rule.event_bus_name is not None and rule.event_bus_name != bus:
                continue
            if not rule.compiled.matches(envelope):
                continue
            for target in list(rule.targets.values()):
                self._pending += 1
                task = asyncio.get_running_loop().create_task(
                    self._deliver(rule.name, target, envelope)
                )
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    def _done_one(self) -> None:
        self._pending -= 1
        if self._pending == 0 and self._idle is not None:
            self._idle.set()

    async def _deliver(self, rule: str, target: Target, envelope: dict[str, Any]) -> None:
        assert self._limit is not None
        try:
            payload = apply_input(target, envelope)
            error: str | None = None
            attempts = 0
            async with self._limit:
                for attempt in range(1, self.attempts + 1):
                    attempts = attempt
                    try:
                        await self._send(target, payload)
                    except asyncio.CancelledError:
                        raise
                    except DeliveryFailed as exc:
                        error = str(exc)
                        if not exc.retry:
                            break
                    except Exception as exc:  # a handler's own failure
                        error = f"{type(exc).__name__}: {exc}"
                    else:
                        error = None
                        break
                    if attempt < self.attempts:
                        await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            self._record(rule, target, envelope, payload, attempts, error)
        finally:
            self._done_one()

    def _record(
        self,
        rule: str,
        target: Target,
        envelope: dict[str, Any],
        payload: Any,
        attempts: int,
        error: str | None,
    ) -> None:
        status: Status = "failed" if error is not None else "delivered"
        if error is not None:
            logger.warning(
                "local hub: gave up delivering event %s to %s of rule %s after %d attempts: %s",
                envelope.get("id"),
                target.id,
                rule,
                attempts,
                error,
            )
        self._deliveries.append(
            Delivery(
                id=next(self._ids),
                rule=rule,
                target_id=target.id,
                target_arn=target.arn,
                event_id=str(envelope.get("id", "")),
                status=status,
                attempts=attempts,
                error=error,
                payload=payload,
                at=datetime.now(UTC),
            )
        )

    async def _send(self, target: Target, payload: Any) -> None:
        if target.handler is not None:
            await _call(target.handler, payload)
        elif target.arn.startswith(("http://", "https://")):
            if self._http is None:
                import aiohttp

                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            await _post(self._http, target.arn, payload)
        elif target.arn.startswith("arn:aws:sqs:"):
            await self._send_sqs(target.arn, payload)
        else:
            raise DeliveryFailed(f"the hub cannot deliver to {target.arn}", retry=False)

    async def _send_sqs(self, arn: str, payload: Any) -> None:
        if self.sqs_endpoint_url is None:
            raise DeliveryFailed(
                "no SQS endpoint: start the hub with sqs_endpoint_url= (a moto server), "
                "or set AWS_ENDPOINT_URL_SQS",
                retry=False,
            )
        parts = arn.split(":")
        if len(parts) != 6 or not parts[5]:
            raise DeliveryFailed(f"not an SQS queue ARN: {arn}", retry=False)
        region, name = parts[3], parts[5]
        if self._sqs is None:
            import aioboto3

            from tfso_events._botocore import open_client

            stack = contextlib.AsyncExitStack()
            session = aioboto3.Session(
                aws_access_key_id="local", aws_secret_access_key="local", region_name=region
            )
            # The one way the package creates a botocore client (redacted DEBUG logs).
            self._sqs, _ = await open_client(
                stack, session, "sqs", endpoint_url=self.sqs_endpoint_url
            )
            self._sqs_stack = stack
        try:
            url = (await self._sqs.get_queue_url(QueueName=name))["QueueUrl"]
            await self._sqs.send_message(QueueUrl=url, MessageBody=_json(payload))
        except Exception as exc:
            raise DeliveryFailed(f"SQS {name}: {exc}") from None

    # -- what happened -----------------------------------------------------------------------

    def deliveries(
        self, *, status: Status | None = None, rule: str | None = None, after_id: int = 0
    ) -> list[Delivery]:
        """Deliveries and dead-letter records, oldest first."""
        return [
            d
            for d in self._deliveries
            if d.id > after_id
            and (status is None or d.status == status)
            and (rule is None or d.rule == rule)
        ]


def _json(payload: Any) -> str:
    # Always JSON: a string picked by InputPath goes out quoted, as EventBridge sends it.
    return msgspec.json.encode(payload).decode()


async def _call(handler: Handler, payload: Any) -> None:
    process = getattr(handler, "process", None)
    if process is not None and inspect.iscoroutinefunction(process):
        # An EventRouter: the payload is the EventBridge event a Lambda target gets.
        await process(payload)
        return
    result = handler(payload)
    if inspect.isawaitable(result):
        await result


async def _post(session: Any, url: str, payload: Any) -> None:
    import aiohttp

    try:
        async with session.post(
            url, data=_json(payload).encode(), headers={"Content-Type": "application/json"}
        ) as response:
            if response.status < 300:
                return
            retry = response.status == 429 or response.status >= 500
            raise DeliveryFailed(f"HTTP {response.status} from {url}", retry=retry)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__} posting to {url}: {exc}") from None


def targets_from(specs: Iterable[Any], *, start: int = 1) -> list[Target]:
    """Targets for :meth:`LocalHub.add_rule`: URLs, SQS ARNs, callables, routers."""
    out = []
    for number, spec in enumerate(specs, start):
        target_id = f"target-{number}"
        if isinstance(spec, str):
            out.append(Target(id=target_id, arn=spec))
        elif callable(spec) or hasattr(spec, "process"):
            name = getattr(spec, "__qualname__", type(spec).__name__)
            out.append(Target(id=target_id, arn=f"local:handler:{name}", handler=spec))
        else:
            raise TypeError(
                f"a target is a URL, an SQS queue ARN, a callable or an EventRouter, "
                f"not {type(spec).__name__}"
            )
    return out
