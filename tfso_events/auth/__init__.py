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

from tfso_events._secret import Secret
from tfso_events.auth._provider import (
    DEFAULT_TOKEN_RETRY,
    DEFAULT_TOKEN_TIMEOUT,
    TokenProvider,
    post_token_request,
)
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
    parse_retry_after,
    refresh_margin,
    scope_hint,
)

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
