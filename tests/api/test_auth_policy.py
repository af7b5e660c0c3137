"""The token provider's policy without a network: cache, single flight, refresh time,
error translation. The transport is an async function handed to the provider (the
httpx-style seam), the clock a number the test moves."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import msgspec
import pytest

from tfso_events import AuthenticationError, ConfigurationError, RetryPolicy
from tfso_events.auth import (
    AccessToken,
    Secret,
    TokenCache,
    TokenKey,
    TokenProvider,
    TokenRequest,
    TokenResponse,
    build_token_request,
    interpret_token_response,
    parse_retry_after,
    refresh_margin,
)
from tfso_events.publishing._batching import RetryableCallError

DOMAIN = "https://login.example"
KEY = TokenKey(DOMAIN, "cid", "https://events.24sevenoffice.com", "bank")
SECRET = "very-secret-value"
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ok(token: str = "tok", expires_in: float = 3600, scope: str = "bank") -> TokenResponse:
    """A 200 answer carrying ``token``."""
    body = {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
    return TokenResponse(200, {}, msgspec.json.encode({**body, "scope": scope}))


def error(status: int, error: str, description: str, **headers: str) -> TokenResponse:
    """An Auth0-shaped error answer."""
    body = msgspec.json.encode({"error": error, "error_description": description})
    return TokenResponse(status, headers, body)


@dataclass
class FakeAuth0:
    """A transport answering from a script; ``gate`` holds answers until it is set."""

    answer: Callable[[TokenRequest, int], TokenResponse]
    requests: list[TokenRequest] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def __call__(self, request: TokenRequest) -> TokenResponse:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        return self.answer(request, len(self.requests))


def scoped(request: TokenRequest, n: int) -> TokenResponse:
    """Issue token ``tok-<n>`` for whatever scope was asked."""
    return ok(f"tok-{n}", scope=request.key.scope)


def provider(transport: FakeAuth0, clock: Clock | None = None, **kwargs: object) -> TokenProvider:
    """A provider for ``cid`` at DOMAIN using ``transport``."""
    return TokenProvider(
        DOMAIN,
        "cid",
        SECRET,
        transport=transport,
        clock=clock or Clock(),
        retry=kwargs.pop("retry", FAST),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


# -- values ---------------------------------------------------------------------------


def test_refresh_margin() -> None:
    """Refresh min(300, max(60, 10 %)) before expiry, at most half the lifetime."""
    assert refresh_margin(86400) == 300
    assert refresh_margin(1200) == 120
    assert refresh_margin(300) == 60
    assert refresh_margin(4) == 2


def test_secret_hides_itself() -> None:
    """A Secret prints as *** in every form and refuses to be pickled."""
    secret = Secret(SECRET)
    assert repr(secret) == str(secret) == f"{secret}" == "***"
    assert SECRET not in repr([secret, {"s": secret}])
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_access_token_repr_leaves_out_the_value() -> None:
    """An AccessToken's repr shows its key and lifetime, never the token."""
    token = AccessToken("eyJ-secret-token", KEY, 3600, 0.0)
    assert "eyJ-secret-token" not in repr(token)
    assert "bank" in repr(token)
    assert token.authorization == "Bearer eyJ-secret-token"


# -- the cache ------------------------------------------------------------------------


def test_cache_serves_until_refresh_time_then_not() -> None:
    """A token is fresh until its refresh time and usable until it expires."""
    clock = Clock()
    cache = TokenCache(clock)
    token = AccessToken("t", KEY, 3600, clock.now)  # margin 300: refresh at +3300
    cache.store(token)
    clock.now += 3299
    assert cache.fresh(KEY) is token
    clock.now += 2
    assert cache.fresh(KEY) is None
    assert cache.usable(KEY) is token
    clock.now += 300
    assert cache.usable(KEY) is None


def test_cache_invalidate_only_drops_the_cached_token() -> None:
    """invalidate() drops the token it is given only if that token is still cached."""
    cache = TokenCache(Clock())
    old, new = AccessToken("old", KEY, 3600, 1000.0), AccessToken("new", KEY, 3600, 1000.0)
    cache.store(old)
    assert cache.invalidate(old) is True
    cache.store(new)
    assert cache.invalidate(old) is False
    assert cache.fresh(KEY) is new


def test_cache_defer_keeps_a_due_token_in_service() -> None:
    """After defer(), a token due for refresh (but valid) is served until the deadline."""
    clock = Clock()
    cache = TokenCache(clock)
    token = AccessToken("t", KEY, 600, clock.now)  # margin 60: refresh at +540
    cache.store(token)
    clock.now += 550
    assert cache.fresh(KEY) is None
    cache.defer(KEY, 10)
    assert cache.fresh(KEY) is token
    clock.now += 11
    assert cache.fresh(KEY) is None


# -- request and response -------------------------------------------------------------


def test_token_request_client_secret_post() -> None:
    """The default request is a form POST of client credentials, audience and scope."""
    request = build_token_request(KEY, Secret(SECRET))
    assert request.url == f"{DOMAIN}/oauth/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form == {
        "grant_type": "client_credentials",
        "audience": "https://events.24sevenoffice.com",
        "scope": "bank",
        "client_id": "cid",
        "client_secret": SECRET,
    }
    assert SECRET not in repr(request)


def test_token_request_client_secret_basic() -> None:
    """client_secret_basic moves the credentials into an Authorization header."""
    request = build_token_request(KEY, Secret(SECRET), "client_secret_basic")
    assert request.headers["Authorization"].startswith("Basic ")
    assert b"client_secret" not in request.body
    assert SECRET not in repr(request)


def test_interpret_success() -> None:
    """A 200 becomes a token whose lifetime is expires_in, timed from arrival."""
    token = interpret_token_response(ok("abc", 120), KEY, received_at=50.0)
    assert (token.value, token.lifetime, token.expires_at) == ("abc", 120, 170.0)


def test_interpret_token_without_the_scope() -> None:
    """A 200 whose granted scope lacks ours is refused with the scope sentence."""
    with pytest.raises(AuthenticationError, match="needs the `bank` scope for audience"):
        interpret_token_response(ok(scope="crm"), KEY, received_at=0.0)


def test_interpret_wrong_secret_quotes_auth0_without_the_secret() -> None:
    """A 401 carries Auth0's description and how to fix it, with any echoed secret masked."""
    answer = error(401, "access_denied", f"Unauthorized ({SECRET})")
    with pytest.raises(AuthenticationError) as info:
        interpret_token_response(answer, KEY, received_at=0.0, secret=Secret(SECRET))
    message = str(info.value)
    assert "Unauthorized (***)" in message
    assert "TFSO_EVENTS_CLIENT_SECRET" in message
    assert SECRET not in message


def test_interpret_missing_scope() -> None:
    """A 403 names the scope the Auth0 application lacks and the audience."""
    answer = error(403, "access_denied", "Client has not been granted scopes: bank")
    with pytest.raises(AuthenticationError) as info:
        interpret_token_response(answer, KEY, received_at=0.0)
    assert "Client has not been granted scopes: bank" in str(info.value)
    assert (
        "the Auth0 application needs the `bank` scope for audience "
        "https://events.24sevenoffice.com" in str(info.value)
    )


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (error(503, "server_error", "down"), None),
        (error(429, "too_many_requests", "slow down", **{"retry-after": "2"}), 2.0),
        (error(429, "too_many_requests", "slow down", **{"x-ratelimit-reset": "1010"}), 10.0),
    ],
)
def test_interpret_retryable(answer: TokenResponse, retry_after: float | None) -> None:
    """5xx and 429 are retryable and carry Retry-After / X-RateLimit-Reset as seconds."""
    with pytest.raises(RetryableCallError) as info:
        interpret_token_response(answer, KEY, received_at=0.0, wall_clock=1000.0)
    assert info.value.code == f"http_{answer.status}"
    assert info.value.retry_after == retry_after


def test_interpret_no_token_endpoint() -> None:
    """A 404 means the Auth0 domain is wrong: a ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_AUTH0_DOMAIN"):
        interpret_token_response(TokenResponse(404, {}, b"Not Found"), KEY, received_at=0.0)


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP date is seconds from now; garbage is ignored."""
    headers = {"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}
    assert parse_retry_after(headers, now=20.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}, now=0.0) is None


# -- the provider ---------------------------------------------------------------------


async def test_concurrent_callers_share_one_request() -> None:
    """100 callers waiting for the same scope cost one token request."""
    fake = FakeAuth0(scoped, gate=asyncio.Event())
    tokens = provider(fake)
    waiters = [asyncio.create_task(tokens.get_token("bank")) for _ in range(100)]
    await asyncio.sleep(0)
    fake.gate.set()  # type: ignore[union-attr]
    got = await asyncio.gather(*waiters)
    assert len(fake.requests) == 1
    assert {t.value for t in got} == {"tok-1"}
    assert (await tokens.get_token("bank")).value == "tok-1"
    assert len(fake.requests) == 1
    await tokens.aclose()


async def test_each_scope_has_its_own_token() -> None:
    """Two modules cost two requests, each for its own scope."""
    fake = FakeAuth0(scoped)
    tokens = provider(fake)
    bank, crm = await asyncio.gather(tokens.get_token("bank"), tokens.get_token("crm"))
    assert [r.key.scope for r in fake.requests] == ["bank", "crm"]
    assert bank.value != crm.value
    await tokens.aclose()


async def test_refresh_ahead_of_expiry_exactly_once() -> None:
    """A token is refreshed once when it reaches its refresh time, not before."""
    clock = Clock()
    fake = FakeAuth0(scoped)
    tokens = provider(fake, clock)
    assert (await tokens.get_token("bank")).value == "tok-1"
    clock.now += 3299  # margin for a 3600 s token is 300 s
    assert (await tokens.get_token("bank")).value == "tok-1"
    clock.now += 2
    refreshed = await asyncio.gather(*(tokens.get_token("bank") for _ in range(20)))
    assert {t.value for t in refreshed} == {"tok-2"}
    assert len(fake.requests) == 2
    await tokens.aclose()


async def test_herd_gets_one_error_after_bounded_attempts() -> None:
    """When the endpoint keeps failing, N waiters share max_attempts requests and one error."""
    fake = FakeAuth0(lambda request, n: error(503, "server_error", "down"))
    tokens = provider(fake)
    results = await asyncio.gather(
        *(tokens.get_token("bank") for _ in range(50)), return_exceptions=True
    )
    assert len(fake.requests) == FAST.max_attempts
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert all(r is results[0] for r in results)
    assert "gave up after 3 attempts" in str(results[0])
    await tokens.aclose()


async def test_transient_failure_then_success() -> None:
    """A 5xx followed by a token costs two requests and succeeds for every waiter."""
    fake = FakeAuth0(lambda r, n: error(502, "bad_gateway", "x") if n == 1 else ok("tok"))
    tokens = provider(fake)
    got = await asyncio.gather(*(tokens.get_token("bank") for _ in range(10)))
    assert {t.value for t in got} == {"tok"}
    assert len(fake.requests) == 2
    await tokens.aclose()


async def test_429_waits_for_retry_after() -> None:
    """A 429 sleeps for its Retry-After before the next request."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    first = error(429, "too_many_requests", "slow", **{"retry-after": "7"})
    fake = FakeAuth0(lambda r, n: first if n == 1 else ok())
    tokens = provider(fake, sleep=sleep)
    await tokens.get_token("bank")
    assert slept == [7.0]
    await tokens.aclose()


async def test_refusal_is_not_retried() -> None:
    """A 401 from Auth0 is final: one request, an AuthenticationError."""
    fake = FakeAuth0(lambda r, n: error(401, "access_denied", "Unauthorized"))
    tokens = provider(fake)
    with pytest.raises(AuthenticationError, match="Unauthorized"):
        await tokens.get_token("bank")
    assert len(fake.requests) == 1
    await tokens.aclose()


async def test_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    """Cancelling one waiter leaves the fetch running for the others and fills the cache."""
    fake = FakeAuth0(scoped, gate=asyncio.Event())
    tokens = provider(fake)
    first = asyncio.create_task(tokens.get_token("bank"))
    second = asyncio.create_task(tokens.get_token("bank"))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    fake.gate.set()  # type: ignore[union-attr]
    assert (await second).value == "tok-1"
    assert first.cancelled()
    assert tokens.cache.fresh(tokens.key("bank")) is not None
    assert len(fake.requests) == 1
    await tokens.aclose()


async def test_fetch_outlives_all_its_callers() -> None:
    """If every waiter is cancelled the fetch still completes and caches the token."""
    fake = FakeAuth0(scoped, gate=asyncio.Event())
    tokens = provider(fake)
    waiter = asyncio.create_task(tokens.get_token("bank"))
    await asyncio.sleep(0)
    waiter.cancel()
    fake.gate.set()  # type: ignore[union-attr]
    for _ in range(5):
        await asyncio.sleep(0)
    assert (await tokens.get_token("bank")).value == "tok-1"
    assert len(fake.requests) == 1
    await tokens.aclose()


async def test_invalidate_forces_exactly_one_refresh() -> None:
    """Many invalidate() calls with the same refused token cause one new request."""
    fake = FakeAuth0(scoped)
    tokens = provider(fake)
    refused = await tokens.get_token("bank")
    assert tokens.invalidate(refused) is True
    new = await tokens.get_token("bank")
    assert [tokens.invalidate(refused) for _ in range(10)] == [False] * 10
    assert (await tokens.get_token("bank")) is new
    assert len(fake.requests) == 2
    await tokens.aclose()


async def test_refresh_failure_falls_back_to_the_valid_token() -> None:
    """If Auth0 is down when a token is due, the still-valid token keeps being served."""
    clock = Clock()
    down = False
    fake = FakeAuth0(lambda r, n: error(503, "server_error", "down") if down else ok(f"t{n}"))
    tokens = provider(fake, clock)
    first = await tokens.get_token("bank")
    clock.now += 3400  # due for refresh (margin 300), valid for 200 s more
    down = True
    assert await tokens.get_token("bank") is first
    assert len(fake.requests) == 1 + FAST.max_attempts
    assert await tokens.get_token("bank") is first  # deferred: no new attempts
    assert len(fake.requests) == 1 + FAST.max_attempts
    await tokens.aclose()


async def test_closed_provider_refuses_and_cancels_fetches() -> None:
    """aclose() cancels a fetch in flight: its waiter gets ConfigurationError (not a
    CancelledError it did not ask for), and so do later calls."""
    fake = FakeAuth0(scoped, gate=asyncio.Event())
    tokens = provider(fake)
    waiter = asyncio.create_task(tokens.get_token("bank"))
    await asyncio.sleep(0)
    await tokens.aclose()
    with pytest.raises(ConfigurationError, match="closed while waiting"):
        await waiter
    assert not waiter.cancelled()
    with pytest.raises(ConfigurationError, match="closed"):
        await tokens.get_token("bank")
