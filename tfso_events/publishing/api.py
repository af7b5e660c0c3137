"""``TfsoEventApiClient``: publish through the HTTPS events API with an Auth0 M2M token.

For on-prem services (Rancher and the like) that have no AWS credentials. Each event is
one ``POST {api_url}/events`` with the JSON body ``{"source", "detailType", "detail"}``
and ``Authorization: Bearer <token>``, where the token's scope is the event's module.

How it is put together:

* validation first — every event is validated (``event.detail_json()``) before any
  network call and before a token is fetched; in ``publish_many`` nothing is sent when
  any event is invalid;
* tokens come from :class:`~tfso_events.auth.TokenProvider` (cached per scope, single
  flight, refreshed ahead of expiry); a ``401`` drops the refused token (if it is still
  the cached one) and retries once with a fresh one;
* delivery is :func:`~tfso_events.publishing._batching.deliver`, the retry loop the
  EventBridge client uses too, with batches of one event: ``429``, ``5xx`` and
  connection errors are retried with jittered backoff honouring ``Retry-After``;
  ``400`` (the API's validation) and ``403`` (missing scope) fail at once;
* one :class:`aiohttp.ClientSession` per client, created on first use (keep-alive, a
  connection pool the size of ``max_concurrency``) and closed by :meth:`aclose` or
  ``async with``; a session you pass in is yours to close;
* no redirect is followed, here or at the token endpoint: a ``3xx`` would carry the
  event and the bearer token (or the client secret) to wherever ``Location`` points,
  or turn the POST into a GET that some other page answers ``200``. A ``3xx`` fails the
  event with a :class:`~tfso_events.ConfigurationError` naming the status and the
  ``Location``, and is never retried; a ``2xx`` without the event id the API returns
  is a failure too, not a success;
* plain ``http`` is refused outside loopback hosts and the ``local`` environment unless
  ``allow_insecure_http=True`` (:func:`~tfso_events.environments.require_https`).

Delivery is at least once: a connection lost after the API stored an event makes the
retry store it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

import tfso_events.telemetry as telemetry
from tfso_events._clip import clip
from tfso_events.auth import (
    DEFAULT_TOKEN_TIMEOUT,
    AccessToken,
    Secret,
    TokenProvider,
    TokenRequest,
    TokenResponse,
    parse_retry_after,
    post_token_request,
    scope_hint,
)
from tfso_events.environments import Environment, resolve_credentials, resolve_environment
from tfso_events.errors import (
    AuthenticationError,
    ConfigurationError,
    DeliveryError,
    EventValidationError,
    delivery_error,
)
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._backpressure import DEFAULT_MAX_PENDING, PendingLimit
from tfso_events.publishing._batching import (
    DEFAULT_RETRY,
    UNANSWERED,
    AdaptiveRate,
    BatchResult,
    Entry,
    Outcome,
    PublishFailure,
    PublishResult,
    Rejected,
    RetryableCallError,
    RetryPolicy,
    deliver,
)
from tfso_events.publishing._circuit import Circuit
from tfso_events.publishing._lifecycle import PublisherLifecycle
from tfso_events.results import OnResult

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT",
    "TfsoEventApiClient",
]

log = logging.getLogger("tfso_events.publishing.api")


def _bus_of(entry: Entry[bytes]) -> str:
    # The events API puts an event on its module's bus (the hub's naming).
    return f"tfso-{entry.event.module}-events"


#: Events in flight at once (and the size of the connection pool).
DEFAULT_MAX_CONCURRENCY = 16
#: Seconds one HTTP request (events API or token endpoint) may take.
DEFAULT_TIMEOUT = DEFAULT_TOKEN_TIMEOUT

_encode = msgspec.json.encode


class _Answer(msgspec.Struct):
    """The parts of an events API answer we read; everything is optional."""

    event_id: str | None = msgspec.field(default=None, name="eventId")
    id: str | None = None
    message: str | None = None
    error: str | None = None
    path: str | None = None


_ANSWER_DECODER = msgspec.json.Decoder(_Answer)


def _answer(body: bytes) -> _Answer:
    try:
        return _ANSWER_DECODER.decode(body)
    except msgspec.DecodeError:
        return _Answer(message=body.decode("utf-8", "replace").strip()[:300] or None)


class TfsoEventApiClient(PublisherLifecycle):
    """Publish events through the TFSO events API (``POST {api_url}/events``).

    ``environment`` is ``dev``, ``pre-prod``, ``prod`` or ``local`` (default
    ``TFSO_EVENTS_ENVIRONMENT``); ``auth0_application_id``/``auth0_secret_id`` are the
    Auth0 machine-to-machine credentials (default ``TFSO_EVENTS_CLIENT_ID`` /
    ``TFSO_EVENTS_CLIENT_SECRET``); the application needs, for audience
    ``https://events.24sevenoffice.com``, the scope of each module it publishes.
    Keyword options:

    * ``api_url``, ``auth0_domain``, ``audience`` — override the environment's URLs
      (also ``TFSO_EVENTS_API_URL`` / ``TFSO_EVENTS_AUTH0_DOMAIN``); outside ``local``
      they must be ``https`` unless their host is loopback;
    * ``allow_insecure_http`` — accept plain ``http`` URLs anyway (default
      ``TFSO_EVENTS_ALLOW_INSECURE_HTTP``): the secret and tokens then cross in clear;
    * ``session`` — an :class:`aiohttp.ClientSession` to use (you close it);
    * ``max_concurrency`` — events in flight at once (default 16);
    * ``retry`` — :class:`~tfso_events.RetryPolicy` for 429/5xx/connection errors;
    * ``timeout`` — seconds per HTTP request (default 30);
    * ``max_pending`` — ``publish()`` calls the client holds at once (default 10,000,
      :data:`DEFAULT_MAX_PENDING`); beyond it ``publish()`` waits for a place
      (backpressure) before its event is encoded, under the retry deadline.

    When the events API stops answering (connections refused, timeouts, 5xx), every
    pending publish waits while one request at a time probes it (the client's circuit,
    ``docs/reliability.md``), and the ``tfso_events.publishing`` log says so once.

    ::

        async with TfsoEventApiClient("dev", client_id, client_secret) as client:
            result = await client.publish(event)           # PublishResult
            batch = await client.publish_many(events)      # BatchResult

    Missing credentials or an unknown environment raise
    :class:`~tfso_events.ConfigurationError` here, before any network call.
    """

    def __init__(
        self,
        environment: str | None = None,
        auth0_application_id: str | None = None,
        auth0_secret_id: str | Secret | None = None,
        *,
        api_url: str | None = None,
        auth0_domain: str | None = None,
        audience: str | None = None,
        session: aiohttp.ClientSession | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
        max_pending: int = DEFAULT_MAX_PENDING,
        allow_insecure_http: bool | None = None,
    ) -> None:
        super().__init__()
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if max_pending < 1:
            raise ConfigurationError(f"max_pending must be at least 1, got {max_pending}")
        self._environment: Environment = resolve_environment(
            environment,
            auth0_domain=auth0_domain,
            api_url=api_url,
            audience=audience,
            allow_insecure_http=allow_insecure_http,
        )
        client_id, secret = resolve_credentials(auth0_application_id, auth0_secret_id)
        self._events_url = self._environment.events_url
        self._max_concurrency = max_concurrency
        self._retry = retry
        self._timeout = timeout
        self._session = session
        self._own_session = session is None
        # One limit for everything this client posts, taken by deliver() around each
        # send (so a send that waited for a slot while the target went down does not go).
        self._slots = asyncio.Semaphore(max_concurrency)
        # One adaptive send rate for everything this client posts (engages on 429).
        self._rate = AdaptiveRate() if retry.adaptive else None
        # One circuit: when the API stops answering, one probe instead of every publish.
        self._circuit = Circuit(f"the events API at {self._events_url}")
        self._pending = PendingLimit(max_pending)
        # _send in a span per POST when OpenTelemetry is installed (else _send itself).
        self._traced_send = telemetry.traced_send(
            self._send, telemetry.EVENTS_API_SYSTEM, "send", _bus_of
        )
        self._tokens = TokenProvider(
            self._environment.auth0_domain,
            client_id,
            secret,
            audience=self._environment.audience,
            transport=self._post_token,
            timeout=timeout,
            # resolve_environment already judged the URLs (and named the setting).
            allow_insecure_http=True,
        )

    # -- configuration ----------------------------------------------------------------

    @property
    def environment(self) -> Environment:
        """The resolved environment: name, Auth0 domain, API URL and audience."""
        return self._environment

    @property
    def tokens(self) -> TokenProvider:
        """The token provider (its ``requests_sent`` counts token endpoint requests)."""
        return self._tokens

    def __repr__(self) -> str:
        env = self._environment
        return (
            f"TfsoEventApiClient(environment={env.name!r}, api_url={env.api_url!r}, "
            f"auth0_domain={env.auth0_domain!r}, client_id={self._tokens.client_id!r})"
        )

    # -- publishing -------------------------------------------------------------------

    async def publish(self, event: TfsoEvent) -> PublishResult:
        """Publish one event and return its :class:`~tfso_events.PublishResult`.

        Raises :class:`~tfso_events.EventValidationError` (nothing sent),
        :class:`~tfso_events.AuthenticationError` (Auth0 refused, or the application
        lacks the module's scope), or :class:`~tfso_events.DeliveryError` (the API
        refused the event, or retries ran out). When ``max_pending`` calls are pending
        already, it first waits for one of them to end.
        """
        self._check_open()
        since = time.monotonic()
        observed = telemetry.publication(telemetry.EVENTS_API_SYSTEM, log)
        self._in_flight.enter()
        try:
            await self._pending.acquire(self._retry, self._circuit, since)
            try:
                entry = self._entry(0, event, observed)
                outcomes = await deliver(
                    [[entry]],
                    self._traced_send,
                    policy=self._retry,
                    semaphore=self._slots,
                    rate=self._rate,
                    prepare=self._prepare,
                    circuit=self._circuit,
                    since=since,
                )
            finally:
                self._pending.release()
        finally:
            self._in_flight.leave()
        outcome = outcomes[0]
        observed.finished_one(outcome)
        if isinstance(outcome, PublishFailure):
            raise delivery_error(outcome.error, code=outcome.code, attempts=outcome.attempts)
        return outcome

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = True,
        on_result: OnResult | None = None,
        retry: RetryPolicy | None = None,
    ) -> BatchResult:
        """Publish many events, up to ``max_concurrency`` at a time.

        Every event is validated first: if any is invalid,
        :class:`~tfso_events.EventValidationError` is raised (with a note giving its
        position) and nothing is sent. The :class:`~tfso_events.BatchResult` has one
        result per event, in input order. When any event failed for good,
        :class:`~tfso_events.PublishError` carrying that result is raised, unless
        ``raise_on_error=False``.

        ``on_result``, when given, is called with each event's
        :class:`~tfso_events.PublishResult` or :class:`~tfso_events.PublishFailure`
        the moment it is final, in the order answers arrive (a progress bar, a
        checkpoint of what is confirmed; what it raises is logged). ``retry`` replaces
        the client's :class:`~tfso_events.RetryPolicy` for this call.
        """
        self._check_open()
        observed = telemetry.publication(telemetry.EVENTS_API_SYSTEM, log)
        entries = []
        for index, event in enumerate(events):
            try:
                entries.append(self._entry(index, event, observed))
            except EventValidationError as exc:
                note = f"publish_many: event #{index}; nothing was sent"
                exc.add_note(note)
                observed.abandon(exc, f"not sent: {note}")
                raise
        if not entries:
            return BatchResult.of(())
        async with self._in_flight.track():
            outcomes = await deliver(
                ([entry] for entry in entries),
                self._traced_send,
                policy=retry or self._retry,
                max_concurrency=self._max_concurrency,
                semaphore=self._slots,
                rate=self._rate,
                prepare=self._prepare,
                on_result=observed.watch(on_result),
                circuit=self._circuit,
            )
        result = observed.finished(BatchResult.of(outcomes[entry.index] for entry in entries))
        return result.raise_on_failure() if raise_on_error else result

    # -- lifecycle ----------------------------------------------------------------------

    async def _close_transport(self) -> None:
        # aclose() (PublisherLifecycle): the token provider, then our own session.
        await self._tokens.aclose()
        session, self._session = self._session, None
        if session is not None and self._own_session:
            await session.close()

    # -- internals ----------------------------------------------------------------------

    def _entry(
        self, index: int, event: TfsoEvent, observed: telemetry.Publication | None = None
    ) -> Entry[bytes]:
        if not isinstance(event, TfsoEvent):
            raise EventValidationError(
                f"expected a TfsoEvent, got {type(event).__name__}", path="$"
            )
        detail = event.detail_json()  # validates; raises EventValidationError
        # The create span, and the trace context written into detail.metadata.
        detail, span = (
            observed.create(event, detail, f"tfso-{event.module}-events")
            if observed is not None and observed.active
            else (detail, None)
        )
        # The detail is already JSON: splice it in rather than decode and re-encode.
        body = b"".join(
            (
                b'{"source":',
                _encode(event.source),
                b',"detailType":',
                _encode(event.detail_type),
                b',"detail":',
                detail,
                b"}",
            )
        )
        return Entry(index, event, body, len(body), span=span)

    async def _open_transport(self) -> None:
        # open(): the HTTP session (its connections open on the first request).
        self._session_now()

    def _session_now(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ConfigurationError("this TfsoEventApiClient is closed; create a new one")
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    # event posts are capped by max_concurrency; two spare connections
                    # keep a token refresh from queueing behind them.
                    limit=self._max_concurrency + 2,
                    keepalive_timeout=30,
                ),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self._session

    async def _post_token(self, request: TokenRequest) -> TokenResponse:
        return await post_token_request(self._session_now(), request, self._timeout)

    async def _prepare(self, entries: Sequence[Entry[bytes]]) -> None:
        # Before a send waits for a slot: every waiter shares one token fetch (and its
        # failure) instead of fetching in turn as slots free up.
        await self._tokens.get_token(entries[0].event.module)

    async def _send(self, entries: Sequence[Entry[bytes]]) -> Sequence[Outcome]:
        (entry,) = entries
        scope = entry.event.module
        # deliver() holds one of the client's slots here; the token is taken again (a
        # cache hit, after _prepare) because a burst can queue longer than a token lives.
        token = await self._tokens.get_token(scope)
        status, outcome = await self._post(entry, token)
        if status == 401:
            # The API refused a token we thought valid (revoked, keys rotated): drop it
            # unless a newer one already replaced it, and try once more.
            self._tokens.invalidate(token)
            token = await self._tokens.get_token(scope)
            status, outcome = await self._post(entry, token)
        return [outcome]

    async def _post(self, entry: Entry[bytes], token: AccessToken) -> tuple[int, Outcome]:
        import aiohttp

        headers = {"Authorization": token.authorization, "Content-Type": "application/json"}
        session = self._session_now()
        try:
            # Never follow a redirect: it would take the event and the token elsewhere.
            async with session.post(
                self._events_url, data=entry.payload, headers=headers, allow_redirects=False
            ) as r:
                body = await r.read()
                status = r.status
                answer_headers = {k.lower(): v for k, v in r.headers.items()}
        except (aiohttp.ClientError, TimeoutError) as exc:
            # aiohttp's error text names the host, never our headers.
            raise RetryableCallError(
                UNANSWERED, f"{type(exc).__name__} posting to {self._events_url}"
            ) from None
        return status, self._outcome(entry, token, status, body, answer_headers)

    def _outcome(
        self,
        entry: Entry[bytes],
        token: AccessToken,
        status: int,
        body: bytes,
        headers: dict[str, str],
    ) -> Outcome:
        """Translate one events API answer; the only place HTTP statuses are read."""
        answer = _answer(body)
        event = entry.event
        if 200 <= status < 300:
            event_id = answer.event_id or answer.id
            if event_id:
                return event_id
            # Not a success: a proxy, a login page or a redirect target answered, and
            # whether the API stored the event is unknown (resending may duplicate it).
            error: Exception = DeliveryError(
                f"{self._events_url} answered HTTP {status} without the event id the events "
                f"API returns, so {event.detail_type} is not confirmed stored; check "
                "api_url (is it the events API?) before resending it",
                code="missing_event_id",
                attempts=entry.attempts,
            )
            return Rejected(error, "missing_event_id")
        code = f"http_{status}"
        if 300 <= status < 400:
            location = clip(headers.get("location") or "(no Location header)")
            error = ConfigurationError(
                f"the events API at {self._events_url} answered HTTP {status} redirecting "
                f"to {location}; redirects are not followed (the event and the bearer token "
                "would go there): set api_url or TFSO_EVENTS_API_URL to the address that "
                "answers itself"
            )
            return Rejected(error, code)
        message = answer.message or answer.error or f"HTTP {status}"
        # A careless API or proxy may quote the Authorization header back: never repeat it.
        message = message.replace(token.value, "***")
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(headers)
            raise RetryableCallError(code, message, retry_after, throttled=status == 429)
        if status == 400 and answer.path:
            # The API's message may already end with " at `<path>`"; the error adds it.
            reason = message.removesuffix(f" at `{answer.path}`")
            error = EventValidationError(
                f"the events API refused the event: {reason}",
                path=answer.path,
                detail_type=event.detail_type,
            )
        elif status == 401:
            error = AuthenticationError(
                f"the events API at {self._events_url} refused a fresh token for scope "
                f"`{token.key.scope}` (HTTP 401: {message}); check that the API and Auth0 "
                f"agree on the audience {token.key.audience}"
            )
        elif status == 403:
            hint = scope_hint(event.module, token.key.audience)
            error = AuthenticationError(
                f"the events API refused {event.detail_type} (HTTP 403: {message})"
                + ("" if hint in message else f"; {hint}")
            )
        else:
            error = DeliveryError(
                f"the events API refused {event.detail_type} (HTTP {status}): {message}",
                code=code,
                attempts=entry.attempts,
            )
        return Rejected(error, code)
