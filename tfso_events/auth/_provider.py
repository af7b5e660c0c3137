"""The driving half of Auth0 tokens: :class:`TokenProvider` and the aiohttp transport.

It runs the I/O-free policy of :mod:`tfso_events.auth._tokens` (cache, request,
interpretation) with single flight, retries and forced refresh, sending through a
*transport* (default :func:`post_token_request`). Public through :mod:`tfso_events.auth`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tfso_events._clip import clip
from tfso_events._secret import Secret
from tfso_events.auth._tokens import (
    AccessToken,
    AuthMethod,
    TokenCache,
    TokenKey,
    TokenRequest,
    TokenResponse,
    TokenTransport,
    build_token_request,
    interpret_token_response,
)
from tfso_events.environments import AUDIENCE, require_https
from tfso_events.errors import AuthenticationError, ConfigurationError
from tfso_events.publishing._batching import UNANSWERED, RetryableCallError, RetryPolicy

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_TOKEN_RETRY", "DEFAULT_TOKEN_TIMEOUT", "TokenProvider", "post_token_request"]

log = logging.getLogger("tfso_events.auth")

#: Token fetches: 4 tries in all, 0.2 s doubling to 2 s with full jitter; a ``429``'s
#: ``Retry-After`` is honoured up to 30 s.
DEFAULT_TOKEN_RETRY = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=2.0)
#: Seconds one token request may take, connection included.
DEFAULT_TOKEN_TIMEOUT = 30.0
#: After a refresh failed but the old token is still valid, keep using it this long
#: before trying again (capped by the token's remaining life).
_REFRESH_COOLDOWN = 15.0


async def post_token_request(
    session: aiohttp.ClientSession,
    request: TokenRequest,
    request_timeout: float = DEFAULT_TOKEN_TIMEOUT,
) -> TokenResponse:
    """The aiohttp transport: send ``request`` on ``session``. Connection errors and
    timeouts become :class:`~tfso_events.publishing._batching.RetryableCallError`.
    A redirect is never followed (it would re-post the client secret to wherever it
    points): the 3xx is handed back as the answer."""
    import aiohttp

    try:
        async with session.post(
            request.url,
            data=request.body,
            headers=dict(request.headers),
            timeout=aiohttp.ClientTimeout(total=request_timeout),
            allow_redirects=False,
        ) as response:
            body = await response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            return TokenResponse(response.status, headers, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The text of aiohttp's errors names the host, never the request body.
        raise RetryableCallError(
            UNANSWERED, f"{type(exc).__name__} talking to {request.url}: {exc}"
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
    * ``allow_insecure_http`` — accept a plain ``http`` Auth0 domain that is not a
      loopback host (the secret then crosses in clear); refused by default with a
      :class:`~tfso_events.ConfigurationError`;
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
        allow_insecure_http: bool = False,
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
        self.auth0_domain = require_https(
            auth0_domain.rstrip("/"), "auth0_domain", allow_insecure_http=allow_insecure_http
        )
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
                        clip(exc),
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
                clip(exc),
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
