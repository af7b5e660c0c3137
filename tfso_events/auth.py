"""Auth0 client-credentials tokens: cached, refreshed ahead of expiry, one request in flight.

Auth0 counts every machine-to-machine token it issues against a monthly quota, so a
token is fetched once per (Auth0 domain, client id, audience, scope) and shared by every
publish that needs it:

* **cache** — a token is reused until ``refresh_margin(lifetime)`` seconds before it
  expires (``min(300 s, max(60 s, 10 % of lifetime))``, never more than half the
  lifetime), measured with :func:`time.monotonic` from ``expires_in`` on arrival;
* **single flight** — while a token is being fetched, every caller that needs it awaits
  the same future: 100 waiting publishes cost one request, and when it fails they all
  get the same error. A cancelled caller does not cancel the shared fetch;
* **retries** — 5xx answers and connection errors are retried with jittered backoff a
  bounded number of times (:class:`~tfso_events.RetryPolicy`), ``429`` waits for
  ``Retry-After`` / ``X-RateLimit-Reset``; 400/401/403 are final and raise
  :class:`~tfso_events.AuthenticationError` with Auth0's ``error_description``;
* **forced refresh** — :meth:`TokenProvider.invalidate` drops a token the API refused
  (401), but only if it is still the cached one, so a burst of 401s costs one refresh.

The policy is I/O-free, in the manner of httpx's auth flows: :class:`TokenCache` holds
tokens against an injectable clock, :func:`build_token_request` and
:func:`interpret_token_response` turn a key into a request and a response into a token
or an error, and :class:`TokenProvider` drives them through a *transport*, an async
function ``TokenRequest -> TokenResponse``. The default transport is aiohttp
(:func:`post_token_request`); tests can hand in any async function.

Secrets and tokens never appear in a ``repr``, a log line or an exception message: the
client secret lives in :class:`Secret` (whose ``repr`` and ``str`` are ``***``) and
:class:`AccessToken` leaves its value out of its ``repr``.

    provider = TokenProvider("https://login.dev.tfso.io", client_id, client_secret)
    token = await provider.get_token("bank")
    headers = {"Authorization": token.authorization}
    ...
    await provider.aclose()
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec

from tfso_events.environments import AUDIENCE, AUTH0_DOMAIN_VAR, CLIENT_ID_VAR, CLIENT_SECRET_VAR
from tfso_events.errors import AuthenticationError, ConfigurationError
from tfso_events.publishing._batching import RetryableCallError, RetryPolicy

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_TOKEN_RETRY",
    "DEFAULT_TOKEN_TIMEOUT",
    "AccessToken",
    "AuthMethod",
    "Secret",
    "TokenCache",
    "TokenKey",
    "TokenProvider",
    "TokenRequest",
    "TokenResponse",
    "TokenTransport",
    "build_token_request",
    "interpret_token_response",
    "parse_retry_after",
    "post_token_request",
    "refresh_margin",
    "scope_hint",
]

log = logging.getLogger("tfso_events.auth")

#: Token fetches: 4 tries in all, 0.2 s doubling to 2 s with full jitter; a ``429``'s
#: ``Retry-After`` is honoured up to 30 s.
DEFAULT_TOKEN_RETRY = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=2.0)
#: Seconds one token request may take, connection included.
DEFAULT_TOKEN_TIMEOUT = 30.0

#: How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
AuthMethod = Literal["client_secret_post", "client_secret_basic"]

_MIN_MARGIN = 60.0
_MAX_MARGIN = 300.0
#: A token this close to its expiry is not handed out even as a fallback.
_EXPIRY_SLACK = 1.0
#: After a refresh failed but the old token is still valid, keep using it this long
#: before trying again (capped by the token's remaining life).
_REFRESH_COOLDOWN = 15.0
#: When Auth0 omits ``expires_in`` (it does not), assume this lifetime.
_DEFAULT_LIFETIME = 300.0


# -- values --------------------------------------------------------------------------


class Secret:
    """A secret string that hides itself: its ``repr`` and ``str`` are ``***``.

    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}"
    (***, '***', '***')
    >>> s.reveal()
    'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret wraps a str, not {type(value).__name__}")
        self._value = value

    @classmethod
    def wrap(cls, value: str | Secret) -> Secret:
        """``value`` as a :class:`Secret` (unchanged if it already is one)."""
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> str:
        """The secret itself. Only the token request body should ever call this."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # equal secrets need not be dict keys

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class TokenKey:
    """What a token is cached under: Auth0 domain, client id, audience and scope."""

    auth0_domain: str
    client_id: str
    audience: str
    scope: str

    @property
    def token_url(self) -> str:
        """``{auth0_domain}/oauth/token``."""
        return f"{self.auth0_domain}/oauth/token"


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token of ``lifetime`` seconds is refreshed:
    ``min(300, max(60, lifetime / 10))``, but at most ``lifetime / 2`` so that a
    short-lived token (a test hub's) is still used for half its life.

    >>> refresh_margin(86400), refresh_margin(1200), refresh_margin(100), refresh_margin(4)
    (300.0, 120.0, 50.0, 2.0)
    """
    return min(_MAX_MARGIN, max(_MIN_MARGIN, lifetime / 10), lifetime / 2)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token for one :class:`TokenKey`. Its ``value`` is not in its ``repr``.

    ``obtained_at`` is a :func:`time.monotonic` reading taken when the answer arrived;
    ``lifetime`` is Auth0's ``expires_in``.
    """

    value: str = field(repr=False)
    key: TokenKey
    lifetime: float
    obtained_at: float

    @property
    def expires_at(self) -> float:
        """Monotonic time at which the token expires."""
        return self.obtained_at + self.lifetime

    @property
    def refresh_at(self) -> float:
        """Monotonic time from which the token is refreshed before use."""
        return self.expires_at - refresh_margin(self.lifetime)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value, ``Bearer <token>``."""
        return f"Bearer {self.value}"


# -- the cache: pure bookkeeping against a clock --------------------------------------


class TokenCache:
    """Tokens by :class:`TokenKey`, judged against ``clock`` (default
    :func:`time.monotonic`). No I/O and no asyncio: the policy of when a token is good
    enough lives here and is tested with a fake clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[TokenKey, AccessToken] = {}
        self._deferred: dict[TokenKey, float] = {}

    def fresh(self, key: TokenKey) -> AccessToken | None:
        """The cached token if it needs no refresh yet (or a failed refresh deferred
        the next one and it is still valid), else ``None``."""
        token = self._tokens.get(key)
        if token is None:
            return None
        now = self._clock()
        if now < token.refresh_at:
            return token
        if now < self._deferred.get(key, 0.0) and now < token.expires_at - _EXPIRY_SLACK:
            return token
        return None

    def usable(self, key: TokenKey) -> AccessToken | None:
        """The cached token if it has not expired, even if it is due for refresh."""
        token = self._tokens.get(key)
        if token is not None and self._clock() < token.expires_at - _EXPIRY_SLACK:
            return token
        return None

    def store(self, token: AccessToken) -> None:
        """Cache ``token`` under its key, replacing any older one."""
        self._tokens[token.key] = token
        self._deferred.pop(token.key, None)

    def defer(self, key: TokenKey, seconds: float) -> None:
        """Keep serving the current (still valid) token for ``seconds`` before trying
        to refresh it again: used when a refresh failed but the old token still works."""
        self._deferred[key] = self._clock() + seconds

    def invalidate(self, token: AccessToken) -> bool:
        """Drop ``token`` if it is still the cached one; ``True`` if it was dropped.

        A token refused by the API is passed here; when many requests fail with the
        same token only the first drops it, the rest find a newer one cached.
        """
        if self._tokens.get(token.key) == token:
            del self._tokens[token.key]
            self._deferred.pop(token.key, None)
            return True
        return False

    def clear(self) -> None:
        """Forget every token."""
        self._tokens.clear()
        self._deferred.clear()

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"TokenCache(scopes={sorted(k.scope for k in self._tokens)})"


# -- the token endpoint, as data ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One ``POST`` to the token endpoint. ``headers`` and ``body`` may carry the
    client secret and are left out of the ``repr``."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    key: TokenKey


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """What the token endpoint answered: ``status``, lower-cased ``headers`` and the
    raw ``body`` (a token on success, so it is left out of the ``repr``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


TokenTransport = Callable[[TokenRequest], Awaitable[TokenResponse]]


def build_token_request(
    key: TokenKey, secret: Secret, auth_method: AuthMethod = "client_secret_post"
) -> TokenRequest:
    """The client-credentials request for ``key`` (RFC 6749 §4.4, built with authlib):
    form-encoded ``grant_type``, ``audience`` and ``scope``, and the client credentials
    in the body (``client_secret_post``, Auth0's default) or in a Basic header."""
    # authlib ships no type hints; these two helpers take and return str.
    from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
    from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
        prepare_token_request,
    )

    body = prepare_token_request("client_credentials", audience=key.audience, scope=key.scope)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    auth = ClientAuth(key.client_id, secret.reveal(), auth_method)
    url, headers, body = auth.prepare("POST", key.token_url, headers, body)
    return TokenRequest(url, headers, body.encode(), key)


class _TokenBody(msgspec.Struct):
    access_token: str
    expires_in: float | None = None
    token_type: str | None = None
    scope: str | None = None


class _ErrorBody(msgspec.Struct):
    error: str | None = None
    error_description: str | None = None
    message: str | None = None


_TOKEN_DECODER = msgspec.json.Decoder(_TokenBody)
_ERROR_DECODER = msgspec.json.Decoder(_ErrorBody)


def scope_hint(scope: str, audience: str = AUDIENCE) -> str:
    """The sentence that tells a user which scope their Auth0 application lacks."""
    return f"the Auth0 application needs the `{scope}` scope for audience {audience}"


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (seconds or an HTTP date) or, as
    Auth0 sends it, ``X-RateLimit-Reset`` (a Unix time). ``headers`` keys are lower-case;
    ``now`` is the wall clock (default :func:`time.time`). ``None`` when neither is
    usable.

    >>> parse_retry_after({"retry-after": "3"})
    3.0
    >>> parse_retry_after({"x-ratelimit-reset": "1000"}, now=990.5)
    9.5
    """
    wall = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(when.timestamp() - wall, 0.0)
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(float(reset) - wall, 0.0)
        except ValueError:
            return None
    return None


def _scrub(text: str, secret: Secret | None) -> str:
    text = text.strip()
    if secret is not None and secret.reveal() and secret.reveal() in text:
        text = text.replace(secret.reveal(), "***")
    return text if len(text) <= 300 else text[:297] + "..."


def _describe(body: bytes, secret: Secret | None) -> tuple[str | None, str]:
    """Auth0's ``error`` and a scrubbed ``error_description`` (or the raw text)."""
    try:
        parsed = _ERROR_DECODER.decode(body)
    except msgspec.DecodeError:
        return None, _scrub(body.decode("utf-8", "replace"), secret) or "no description"
    description = parsed.error_description or parsed.message or parsed.error or ""
    return parsed.error, _scrub(description, secret) or "no description"


def interpret_token_response(
    response: TokenResponse,
    key: TokenKey,
    *,
    received_at: float,
    secret: Secret | None = None,
    wall_clock: float | None = None,
) -> AccessToken:
    """Turn a token endpoint answer into an :class:`AccessToken`, or raise.

    * 2xx with ``access_token`` → the token (``received_at`` is the monotonic time the
      answer arrived); a granted ``scope`` that lacks ``key.scope`` is refused;
    * 400/401/403 and other 4xx → :class:`~tfso_events.AuthenticationError` with
      Auth0's ``error_description`` and what to do;
    * 404/405 → :class:`~tfso_events.ConfigurationError` (no token endpoint there);
    * 408, 429 and 5xx → :class:`~tfso_events.publishing._batching.RetryableCallError`
      carrying ``Retry-After``.

    ``secret`` is scrubbed from any text echoed into a message.
    """
    status = response.status
    where = f"Auth0 at {key.auth0_domain}"
    if 200 <= status < 300:
        try:
            body = _TOKEN_DECODER.decode(response.body)
        except msgspec.DecodeError:
            raise AuthenticationError(
                f"{where} answered HTTP {status} without a token for client "
                f"`{key.client_id}` (is {key.token_url} really an Auth0 token endpoint?)"
            ) from None
        if body.scope is not None and key.scope not in body.scope.split():
            raise AuthenticationError(
                f"{where} issued client `{key.client_id}` a token without the "
                f"`{key.scope}` scope: {scope_hint(key.scope, key.audience)}"
            )
        lifetime = body.expires_in if body.expires_in and body.expires_in > 0 else None
        return AccessToken(
            body.access_token, key, lifetime or _DEFAULT_LIFETIME, obtained_at=received_at
        )
    error, description = _describe(response.body, secret)
    if status in (408, 429) or status >= 500:
        raise RetryableCallError(
            f"http_{status}", description, parse_retry_after(response.headers, wall_clock)
        )
    if status in (404, 405):
        raise ConfigurationError(
            f"no Auth0 token endpoint at {key.token_url} (HTTP {status}); check "
            f"auth0_domain or {AUTH0_DOMAIN_VAR}"
        )
    refused = (
        f"{where} refused client `{key.client_id}` a token for scope `{key.scope}` "
        f"(HTTP {status}{f' {error}' if error else ''}: {description})"
    )
    text = f"{error or ''} {description}".lower()
    if status == 403 or "scope" in text:
        hint = scope_hint(key.scope, key.audience)
    elif status == 401 or error in ("invalid_client", "unauthorized_client"):
        hint = (
            "check the application id and secret (auth0_application_id/auth0_secret_id or "
            f"{CLIENT_ID_VAR}/{CLIENT_SECRET_VAR}) and that the application belongs to "
            f"the {key.auth0_domain} tenant"
        )
    else:
        hint = (
            f"check that the API {key.audience} exists in the {key.auth0_domain} tenant "
            "and that the application is authorized for it"
        )
    raise AuthenticationError(f"{refused}; {hint}")


async def post_token_request(
    session: aiohttp.ClientSession,
    request: TokenRequest,
    request_timeout: float = DEFAULT_TOKEN_TIMEOUT,
) -> TokenResponse:
    """The aiohttp transport: send ``request`` on ``session``. Connection errors and
    timeouts become :class:`~tfso_events.publishing._batching.RetryableCallError`."""
    import aiohttp

    try:
        async with session.post(
            request.url,
            data=request.body,
            headers=dict(request.headers),
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as response:
            body = await response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            return TokenResponse(response.status, headers, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The text of aiohttp's errors names the host, never the request body.
        raise RetryableCallError(
            "connection_error", f"{type(exc).__name__} talking to {request.url}: {exc}"
        ) from None


# -- the provider ---------------------------------------------------------------------


class TokenProvider:
    """Auth0 client-credentials tokens for one application, cached per scope.

    ``auth0_domain`` is the tenant URL (``https://login.dev.tfso.io``); ``client_id``
    and ``client_secret`` the machine-to-machine application's credentials. Options:

    * ``audience`` — the API identifier, default ``https://events.24sevenoffice.com``;
    * ``auth_method`` — ``"client_secret_post"`` (default) or ``"client_secret_basic"``;
    * ``session`` — an :class:`aiohttp.ClientSession` to send on (not closed by us); by
      default one is created on first use and closed by :meth:`aclose`;
    * ``transport`` — any async ``TokenRequest -> TokenResponse`` instead of aiohttp;
    * ``retry`` — attempts and backoff for 5xx/429/connection errors
      (:data:`DEFAULT_TOKEN_RETRY`); ``timeout`` — seconds per request;
    * ``clock``/``sleep`` — monotonic clock and sleep, replaceable in tests.

    >>> async def main():  # doctest: +SKIP
    ...     async with TokenProvider("http://127.0.0.1:8642", "local-client",
    ...                              "local-secret") as tokens:
    ...         token = await tokens.get_token("bank")
    """

    def __init__(
        self,
        auth0_domain: str,
        client_id: str,
        client_secret: str | Secret,
        *,
        audience: str = AUDIENCE,
        auth_method: AuthMethod = "client_secret_post",
        session: aiohttp.ClientSession | None = None,
        transport: TokenTransport | None = None,
        retry: RetryPolicy = DEFAULT_TOKEN_RETRY,
        timeout: float = DEFAULT_TOKEN_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if auth_method not in ("client_secret_post", "client_secret_basic"):
            raise ConfigurationError(
                f"unknown auth_method {auth_method!r}; use 'client_secret_post' or "
                "'client_secret_basic'"
            )
        if not client_id:
            raise ConfigurationError("client_id must not be empty")
        self._secret = Secret.wrap(client_secret)
        if not self._secret:
            raise ConfigurationError("client_secret must not be empty")
        self.auth0_domain = auth0_domain.rstrip("/")
        self.client_id = client_id
        self.audience = audience
        self.auth_method: AuthMethod = auth_method
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._transport = transport
        self._retry = retry
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._cache = TokenCache(clock)
        self._flights: dict[TokenKey, asyncio.Task[AccessToken]] = {}
        self._requests: dict[TokenKey, TokenRequest] = {}
        self._closed = False
        #: Requests sent to the token endpoint (answered or not), for diagnostics.
        self.requests_sent = 0

    def __repr__(self) -> str:
        return (
            f"TokenProvider(auth0_domain={self.auth0_domain!r}, client_id={self.client_id!r}, "
            f"audience={self.audience!r}, auth_method={self.auth_method!r})"
        )

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` has been called."""
        return self._closed

    @property
    def cache(self) -> TokenCache:
        """The tokens this provider holds."""
        return self._cache

    def key(self, scope: str) -> TokenKey:
        """The cache key of ``scope`` for this application."""
        return TokenKey(self.auth0_domain, self.client_id, self.audience, scope)

    async def get_token(self, scope: str) -> AccessToken:
        """A valid token for ``scope`` (an Event Hub module such as ``bank``).

        Served from the cache while fresh; otherwise every concurrent caller awaits one
        shared fetch. Raises :class:`~tfso_events.AuthenticationError` when Auth0
        refuses (or stays unreachable after the retries) — the same error object for
        every caller of that fetch — and :class:`~tfso_events.ConfigurationError` after
        :meth:`aclose`.
        """
        if self._closed:
            raise ConfigurationError("the token provider is closed; create a new client")
        key = self.key(scope)
        token = self._cache.fresh(key)
        if token is not None:
            return token
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(
                self._fetch(key), name=f"tfso-events token fetch ({scope})"
            )
            self._flights[key] = flight
            flight.add_done_callback(functools.partial(self._landed, key))
        # shield: a caller that is cancelled stops waiting; the fetch carries on for
        # the others (and fills the cache for the next caller).
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.cancelled() and self.closed and task is not None and not task.cancelling():
                # Not our caller's cancellation: aclose() stopped the fetch it waited for.
                raise ConfigurationError(
                    "the token provider was closed while waiting for a token"
                ) from None
            raise

    def invalidate(self, token: AccessToken) -> bool:
        """Force the next :meth:`get_token` of ``token``'s scope to fetch a new token,
        if ``token`` is still the cached one (the API refused it with 401). Returns
        whether it was dropped; a token already replaced is left alone."""
        dropped = self._cache.invalidate(token)
        if dropped:
            log.info(
                "dropped the cached token of client %s for scope %s",
                self.client_id,
                token.key.scope,
            )
        return dropped

    def _landed(self, key: TokenKey, flight: asyncio.Task[AccessToken]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning if all waiters left

    def _request(self, key: TokenKey) -> TokenRequest:
        request = self._requests.get(key)
        if request is None:
            request = build_token_request(key, self._secret, self.auth_method)
            self._requests[key] = request
        return request

    async def _send(self, request: TokenRequest) -> TokenResponse:
        if self._transport is not None:
            return await self._transport(request)
        session = self._session
        if session is None:
            session = self._own_session
            if session is None:
                import aiohttp

                session = self._own_session = aiohttp.ClientSession()
        return await post_token_request(session, request, self._timeout)

    async def _fetch(self, key: TokenKey) -> AccessToken:
        request = self._request(key)
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            self.requests_sent += 1
            try:
                response = await self._send(request)
                token = interpret_token_response(
                    response, key, received_at=self._clock(), secret=self._secret
                )
            except RetryableCallError as exc:
                delay = self._retry.delay(attempt, exc.retry_after)
                deadline = self._retry.deadline
                if self._retry.may_retry(attempt) and (
                    deadline is None or time.monotonic() + delay - started <= deadline
                ):
                    log.warning(
                        "token endpoint %s: %s (attempt %d of %s), retrying in %.2f s",
                        key.token_url,
                        exc,
                        attempt,
                        self._retry.max_attempts or "unlimited",
                        delay,
                    )
                    await self._sleep(delay)
                    continue
                return self._give_up(key, exc, attempt)
            self._cache.store(token)
            log.debug(
                "fetched a token for client %s, scope %s, valid %.0f s",
                key.client_id,
                key.scope,
                token.lifetime,
            )
            return token

    def _give_up(self, key: TokenKey, exc: RetryableCallError, attempts: int) -> AccessToken:
        stale = self._cache.usable(key)
        if stale is not None:
            # Auth0 is down but the current token still works: keep using it for a while
            # rather than failing publishes that would succeed.
            cooldown = min(_REFRESH_COOLDOWN, stale.expires_at - self._clock())
            self._cache.defer(key, cooldown)
            log.warning(
                "could not refresh the token for scope %s (%s); using the current one, "
                "valid %.0f s more",
                key.scope,
                exc,
                stale.expires_at - self._clock(),
            )
            return stale
        raise AuthenticationError(
            f"could not obtain a token for scope `{key.scope}` from {key.token_url}: "
            f"{exc} (gave up after {attempts} attempts)"
        ) from exc

    async def aclose(self) -> None:
        """Stop: cancel fetches in flight, forget tokens, close our own session."""
        self._closed = True
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        if flights:
            await asyncio.gather(*flights, return_exceptions=True)
        self._cache.clear()
        self._requests.clear()
        if self._own_session is not None:
            session, self._own_session = self._own_session, None
            await session.close()

    async def __aenter__(self) -> TokenProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
