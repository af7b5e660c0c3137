"""``LocalHub``: Auth0, the events API and EventBridge in one aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
from aiohttp import web

from tfso_events.constants import TfsoModules
from tfso_events.local._auth0 import auth0_routes
from tfso_events.local._bus import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    Bus,
    Delivery,
    Rule,
    targets_from,
)
from tfso_events.local._eventbridge import eventbridge_routes
from tfso_events.local._events_api import events_api_routes
from tfso_events.local._faults import Faults
from tfso_events.local._http import (
    PARSER_HEADER_BYTES,
    READ_TIMEOUT,
    error_middleware,
    json_response,
)
from tfso_events.local._state import HubState
from tfso_events.local._store import EventStore, ReceivedEvent, Via
from tfso_events.local._tokens import TokenIssuer

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TOKEN_TTL",
    "HOST",
    "LocalHub",
]

#: The hub binds to loopback only.
HOST = "127.0.0.1"
#: The port of ``tfso-events hub`` (and of the ``local`` environment).
DEFAULT_PORT = 8642
#: The ready client every hub registers, with every module's scope.
DEFAULT_CLIENT_ID = "local-client"
# Spelled in two parts: hypothesis plants the string literals of the package's modules
# into the text it generates, and the test suite's log check (every log record, every
# library) would then find this secret in a generated payload that botocore logs.
DEFAULT_CLIENT_SECRET = "-".join(("local", "secret"))
#: Access token lifetime in seconds (Auth0's default for M2M applications).
DEFAULT_TOKEN_TTL = 86400
#: PutEvents request limit, summed with AWS's entry-size formula.
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
_MAX_REQUEST_BYTES_CAP = 1024 * 1024
#: Seconds a connection has to send a whole request (headers, then body) from when it
#: opened or its last answer went out; an idle keep-alive connection closes after it too.
DEFAULT_READ_TIMEOUT = 60.0


class LocalHub:
    """A local stand-in for Auth0, the events API and EventBridge, on 127.0.0.1.

    ``hub.url`` (no trailing slash) is at once the Auth0 domain, the events API base URL
    and the EventBridge endpoint::

        async with LocalHub(token_ttl=60) as hub:
            hub.register_client("billing", "s3cret", ["bank"])
            async with TfsoEventApiClient("local", "billing", "s3cret",
                                          api_url=hub.url, auth0_domain=hub.url) as client:
                await client.publish(event)
            assert hub.received()[0].detail_type == event.detail_type

    Options (keyword-only): ``port`` (0 = a random free port), ``token_ttl`` (seconds),
    ``seed`` (for :attr:`faults`), ``db_path`` (an SQLite file instead of memory),
    ``max_request_bytes`` (PutEvents size limit, 256 KiB), ``strict`` (refuse PutEvents
    entries whose detail-type is not in the catalog), ``faults`` (initial
    :class:`Faults`), ``default_client`` (register ``local-client``/``local-secret``
    with every module scope), ``read_timeout`` (seconds a connection has to send its
    request headers, from when it opened or was last answered, and again its body; a
    connection that has not is closed, so partial requests cannot hold sockets open;
    60 s).

    ``async with`` (or ``await start()``/``await stop()``) runs it on the current event
    loop. A plain ``with LocalHub() as hub:`` runs it on a private loop in a daemon
    thread, for synchronous code and tests of the sync facade.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        seed: int | None = None,
        db_path: str | os.PathLike[str] | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        strict: bool = False,
        faults: Faults | None = None,
        default_client: bool = True,
        rules: str | os.PathLike[str] | None = None,
        sqs_endpoint_url: str | None = None,
        delivery_attempts: int = DEFAULT_ATTEMPTS,
        delivery_backoff: float = DEFAULT_BACKOFF,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if not 1 <= max_request_bytes <= _MAX_REQUEST_BYTES_CAP:
            raise ValueError(
                f"max_request_bytes must be between 1 and {_MAX_REQUEST_BYTES_CAP}, "
                f"got {max_request_bytes}"
            )
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if not read_timeout > 0:
            raise ValueError(f"read_timeout must be positive, got {read_timeout}")
        self._read_timeout = float(read_timeout)
        self._requested_port = port
        self.faults: Faults = faults if faults is not None else Faults()
        """The fault knobs (:class:`Faults`); change them at any time."""
        if seed is not None:
            self.faults.seed(seed)
        self._state = HubState(
            tokens=TokenIssuer(ttl=token_ttl),
            store=EventStore(os.fspath(db_path) if db_path is not None else None),
            faults=self.faults,
            max_request_bytes=max_request_bytes,
            strict=strict,
            bus=Bus(
                attempts=delivery_attempts,
                backoff=delivery_backoff,
                sqs_endpoint_url=sqs_endpoint_url
                or os.environ.get("AWS_ENDPOINT_URL_SQS")
                or os.environ.get("AWS_ENDPOINT_URL"),
            ),
        )
        if rules is not None:
            self.load_rules(rules)
        if default_client:
            self.register_client(
                DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [m.value for m in TfsoModules]
            )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        where = self._url() if self._port is not None else "stopped"
        return f"LocalHub({where}, clients={sorted(self._state.tokens.clients)})"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Self:
        """Start serving; returns the hub, whose :attr:`url` is then known."""
        if self._runner is not None:
            raise RuntimeError("the hub is already running")
        state = self._state
        app = web.Application(
            middlewares=[error_middleware],
            # JSON escaping can double a Detail; anything bigger is refused as too large.
            client_max_size=8 * state.max_request_bytes,
        )
        app[READ_TIMEOUT] = self._read_timeout
        app.add_routes(auth0_routes(state))
        app.add_routes(events_api_routes(state))
        app.add_routes(eventbridge_routes(state))
        app.add_routes([web.get("/", self._index), web.get("/deliveries", self._deliveries)])
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            # The middleware refuses header lines over MAX_HEADER_BYTES in JSON.
            max_field_size=PARSER_HEADER_BYTES,
            max_line_size=PARSER_HEADER_BYTES,
            # aiohttp closes a connection still waiting for (the rest of) its request
            # headers this long after it opened or was last answered: the read timeout
            # of the header phase (read_body bounds the body).
            keepalive_timeout=self._read_timeout,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, HOST, self._requested_port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        state.bus.start()
        state.tokens.issuer = f"{self._url()}/"
        return self

    async def stop(self) -> None:
        """Stop serving (idempotent). What arrived stays readable with :meth:`received`."""
        runner, self._runner = self._runner, None
        self._port = None
        if runner is not None:
            await self._state.bus.stop()
            await runner.cleanup()
            if self._state.store.path:
                self._state.store.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __enter__(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the hub is already running in a thread")
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="tfso-events-local-hub", daemon=True)
        thread.start()
        ready.wait()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
        except BaseException:
            self._stop_thread(loop, thread)
            raise
        self._thread, self._thread_loop = thread, loop
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread = self._thread_loop, self._thread
        self._thread = self._thread_loop = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        finally:
            self._stop_thread(loop, thread)

    @staticmethod
    def _stop_thread(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    # -- where -------------------------------------------------------------------------

    def _url(self) -> str:
        return f"http://{HOST}:{self._port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash: the Auth0 domain, the events
        API base URL and the EventBridge endpoint at once."""
        if self._port is None:
            raise RuntimeError("the hub is not running: use `async with LocalHub()` or start()")
        return self._url()

    @property
    def port(self) -> int:
        """The TCP port the hub listens on."""
        if self._port is None:
            raise RuntimeError("the hub is not running: use `async with LocalHub()` or start()")
        return self._port

    @property
    def audience(self) -> str:
        """The Auth0 audience tokens are issued for (``https://events.24sevenoffice.com``)."""
        return self._state.tokens.audience

    @property
    def token_ttl(self) -> int:
        """The lifetime of issued access tokens, in seconds."""
        return self._state.tokens.ttl

    @property
    def max_request_bytes(self) -> int:
        """The PutEvents size limit (AWS's entry-size formula, summed over a call)."""
        return self._state.max_request_bytes

    # -- clients and tokens ----------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, scopes: Iterable[str]) -> None:
        """Let ``client_id``/``client_secret`` get tokens with any of ``scopes`` (modules
        such as ``"bank"``). Registering an existing id replaces it."""
        self._state.tokens.register(client_id, client_secret, scopes)

    def issue_token(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        scopes: Iterable[str] | None = None,
        *,
        ttl: float | None = None,
        audience: str | None = None,
    ) -> str:
        """Sign an access token directly (a testing helper; not counted as a request).

        ``scopes`` default to the client's grants; ``ttl`` may be negative for an expired
        token; ``audience`` may be wrong on purpose.
        """
        client = self._state.tokens.clients.get(client_id)
        if scopes is None:
            scopes = sorted(client.scopes) if client else ()
        return self._state.tokens.issue(client_id, " ".join(scopes), ttl=ttl, audience=audience)

    def revoke_tokens(self) -> None:
        """Make the events API refuse (401) every token issued so far, as if it had
        expired: publishers must fetch a new one."""
        self._state.tokens.revoke_all()

    @property
    def jwks(self) -> dict[str, object]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json``."""
        return self._state.tokens.jwks()

    # -- counters ----------------------------------------------------------------------

    @property
    def token_requests(self) -> int:
        """Tokens issued by ``POST /oauth/token``."""
        return self._state.token_requests

    @property
    def token_attempts(self) -> int:
        """Requests to ``POST /oauth/token``, answered or failed."""
        return self._state.token_attempts

    @property
    def put_events_calls(self) -> int:
        """PutEvents calls received, answered or failed."""
        return self._state.put_events_calls

    @property
    def api_requests(self) -> int:
        """``POST /events`` requests received, answered or failed."""
        return self._state.api_requests

    # -- what arrived ----------------------------------------------------------------------

    def received(
        self,
        detail_type: str | None = None,
        *,
        via: Via | None = None,
        source: str | None = None,
    ) -> list[ReceivedEvent]:
        """The events the hub accepted, oldest first, optionally filtered."""
        return self._state.store.records(detail_type=detail_type, via=via, source=source)

    def count(self, detail_type: str | None = None, *, via: Via | None = None) -> int:
        """How many events were accepted (cheaper than ``len(received())``)."""
        return self._state.store.count(detail_type=detail_type, via=via)

    def clear(self) -> None:
        """Forget every stored event (clients, tokens, counters and faults are kept)."""
        self._state.store.clear()

    # -- rules and deliveries ----------------------------------------------------------------

    def add_rule(
        self,
        name: str,
        pattern: Mapping[str, Any] | str,
        *targets: Any,
        event_bus_name: str | None = None,
        input: str | None = None,
        input_path: str | None = None,
        enabled: bool = True,
    ) -> str:
        r"""Add (or replace) a rule and its targets; returns the rule's ARN.

        ``pattern`` is an event pattern (dict or JSON text), refused with
        :class:`~tfso_events.InvalidPatternError` as ``PutRule`` would refuse it.
        ``targets`` are HTTP(S) URLs (the payload is POSTed), SQS queue ARNs (sent to the
        moto server at ``sqs_endpoint_url``), callables (called with the payload; a
        coroutine function is awaited) or :class:`~tfso_events.consume.EventRouter`\ s
        (``await router.process(payload)``: the EventBridge event a Lambda target gets).
        ``input`` (JSON text) or ``input_path`` (``$.detail``) change the payload as
        EventBridge's ``Input``/``InputPath`` do. ``event_bus_name`` ``None`` matches
        events on every bus (the API puts events on ``tfso-<module>-events``, PutEvents
        on the entry's ``EventBusName``, ``default`` when omitted).
        """
        from tfso_events.local._bus import check_input_path

        if input is not None and input_path is not None:
            raise ValueError("a target takes input or input_path, not both")
        if input is not None:
            msgspec.json.decode(input)  # refuse what EventBridge would refuse
        if input_path is not None and (problem := check_input_path(input_path)):
            raise ValueError(problem)
        bus = self._state.bus
        rule = bus.put_rule(
            name,
            pattern,
            event_bus_name=event_bus_name,
            state="ENABLED" if enabled else "DISABLED",
        )
        rule.targets.clear()
        for target in targets_from(targets):
            target.input, target.input_path = input, input_path
            rule.targets[target.id] = target
        return rule.arn

    def load_rules(self, path: str | os.PathLike[str]) -> list[str]:
        """Add the rules of a JSON file (what ``tfso-events hub --rules FILE`` does);
        returns their ARNs.

        The file is a list of rules (or ``{"rules": [...]}``), each in ``PutRule`` and
        ``PutTargets`` form: ``Name``, ``EventPattern`` (an object or JSON text),
        optional ``EventBusName`` (omitted: every bus), ``State``, ``Description`` and
        ``Targets`` (``Id``, ``Arn``: a URL or an SQS queue ARN, ``Input`` or
        ``InputPath``). A wrong rule raises ``ValueError`` naming it and the file.
        """
        from tfso_events.local._rules_api import RuleApiError, put_targets

        where = os.fspath(path)
        try:
            document = msgspec.json.decode(Path(where).read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise ValueError(f"{where}: cannot read the rules: {exc}") from None
        specs = document.get("rules") if isinstance(document, dict) else document
        if not isinstance(specs, list):
            raise ValueError(f'{where}: expected a list of rules (or {{"rules": [...]}})')
        arns = []
        bus = self._state.bus
        for index, spec in enumerate(specs):
            label = f"{where}: rule {index}"
            if not isinstance(spec, dict) or not isinstance(spec.get("Name"), str):
                raise ValueError(f"{label}: each rule needs a Name")
            label = f"{where}: rule {spec['Name']!r}"
            pattern = spec.get("EventPattern")
            if not isinstance(pattern, dict | str):
                raise ValueError(f"{label}: EventPattern must be an object or JSON text")
            try:
                rule = bus.put_rule(
                    spec["Name"],
                    pattern,
                    event_bus_name=spec.get("EventBusName"),
                    state=spec.get("State", "ENABLED"),
                    description=spec.get("Description"),
                )
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None
            targets = spec.get("Targets") or []
            if targets:
                try:
                    result = put_targets(
                        bus,
                        {
                            "Rule": rule.name,
                            "EventBusName": rule.event_bus_name,
                            "Targets": targets,
                        },
                    )
                except RuleApiError as exc:
                    raise ValueError(f"{label}: {exc}") from None
                if result["FailedEntryCount"]:
                    reason = result["FailedEntries"][0]["ErrorMessage"]
                    raise ValueError(f"{label}: {reason}")
            arns.append(rule.arn)
        return arns

    def rules(self) -> list[Rule]:
        """The rules, by name (each with ``name``, ``event_pattern``, ``state``,
        ``event_bus_name`` and ``targets``)."""
        return sorted(self._state.bus.rules.values(), key=lambda rule: rule.name)

    def deliveries(
        self,
        *,
        status: Literal["delivered", "failed"] | None = None,
        rule: str | None = None,
    ) -> list[Delivery]:
        """Deliveries to rule targets, oldest first; ``status="failed"`` gives the
        dead-letter records (attempts exhausted, with the last error). Call
        :meth:`drain` first to wait for deliveries still under way."""
        return self._state.bus.deliveries(status=status, rule=rule)

    async def drain(self) -> None:
        """Wait until every accepted event is matched and every delivery has ended
        (delivered, or failed for good)."""
        await self._state.bus.drain()

    def drain_sync(self, timeout: float = 10.0) -> None:
        """:meth:`drain` for a hub running in its thread (``with LocalHub() as hub``)."""
        loop = self._thread_loop
        if loop is None:
            raise RuntimeError("drain_sync() is for a hub started with `with LocalHub()`")
        asyncio.run_coroutine_threadsafe(self.drain(), loop).result(timeout)

    async def _deliveries(self, request: web.Request) -> web.Response:
        query = request.query
        status = query.get("status")
        if status not in (None, "delivered", "failed"):
            return json_response(
                400, {"error": "invalid_query", "message": "status must be delivered or failed"}
            )
        after = query.get("after_id", "0")
        if not (after.isascii() and after.isdigit() and len(after) <= 18):
            return json_response(
                400, {"error": "invalid_query", "message": "after_id must be a whole number"}
            )
        records = self._state.bus.deliveries(
            status=status,  # type: ignore[arg-type]
            rule=query.get("rule"),
            after_id=int(after),
        )
        return json_response(200, [record.to_json() for record in records])

    async def _index(self, request: web.Request) -> web.Response:
        url = self._url()
        return json_response(
            200,
            {
                "name": "tfso-events local hub",
                "auth0Domain": url,
                "apiUrl": url,
                "eventBridgeEndpoint": url,
                "audience": self.audience,
                "events": self._state.store.count(),
            },
        )
