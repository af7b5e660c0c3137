"""The I/O-free half of Auth0 tokens: the cache, the request, the answer's meaning.

:class:`TokenCache` judges tokens against an injectable clock; :func:`build_token_request`
turns a :class:`TokenKey` into a :class:`TokenRequest` and :func:`interpret_token_response`
a :class:`TokenResponse` into an :class:`AccessToken` or an error. No sockets, no
asyncio: :mod:`tfso_events.auth._provider` drives these through a transport. Public
through :mod:`tfso_events.auth`.
"""

from __future__ import annotations

import base64
import email.utils
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from tfso_events._clip import clip
from tfso_events._secret import Secret
from tfso_events.environments import AUDIENCE, AUTH0_DOMAIN_VAR, CLIENT_ID_VAR, CLIENT_SECRET_VAR
from tfso_events.errors import AuthenticationError, ConfigurationError
from tfso_events.publishing._batching import RetryableCallError

__all__ = [
    "AccessToken",
    "AuthMethod",
    "TokenCache",
    "TokenKey",
    "TokenRequest",
    "TokenResponse",
    "TokenTransport",
    "build_token_request",
    "interpret_token_response",
    "parse_retry_after",
    "refresh_margin",
    "scope_hint",
]

#: How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
AuthMethod = Literal["client_secret_post", "client_secret_basic"]

_MIN_MARGIN = 60.0
_MAX_MARGIN = 300.0
#: A token this close to its expiry is not handed out even as a fallback.
_EXPIRY_SLACK = 1.0
#: When Auth0 omits ``expires_in`` (it does not), assume this lifetime.
_DEFAULT_LIFETIME = 300.0


# -- values --------------------------------------------------------------------------


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


def _sent_forms(secret: str, client_id: str | None) -> list[str]:
    """Every form in which the client puts ``secret`` on the wire, which an endpoint or a
    proxy may echo: as is, form-encoded (``client_secret_post``; ``+`` or ``%20`` for a
    space, either hex case), and base64 of ``id:secret`` (``client_secret_basic``, with
    and without authlib's percent-encoding of both halves, padded or not)."""
    encoded = {
        secret,
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
    }
    encoded |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), e) for e in encoded}
    forms = set(encoded)
    if client_id is not None:
        for pair in (
            f"{client_id}:{secret}",
            f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}",
        ):
            raw = pair.encode("utf-8", "replace")
            for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                text = b64.decode()
                forms |= {text, text.rstrip("=")}
    # Longest first, so a form containing another is masked whole.
    return sorted((f for f in forms if f), key=len, reverse=True)


def _scrub(text: str, secret: Secret | None, client_id: str | None = None) -> str:
    text = text.strip()
    if secret is not None and secret.reveal():
        for form in _sent_forms(secret.reveal(), client_id):
            text = text.replace(form, "***")
    return text if len(text) <= 300 else text[:297] + "..."


def _describe(
    body: bytes, secret: Secret | None, client_id: str | None = None
) -> tuple[str | None, str]:
    """Auth0's ``error`` and a scrubbed ``error_description`` (or the raw text, whose
    ``error`` is then ``None``)."""
    try:
        parsed = _ERROR_DECODER.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace")
        return None, _scrub(text, secret, client_id) or "no description"
    description = parsed.error_description or parsed.message or parsed.error or ""
    return parsed.error, _scrub(description, secret, client_id) or "no description"


#: Auth0's ``error_description`` when the application lacks a scope (403 access_denied).
_NOT_GRANTED = "client has not been granted scopes"


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
    * 3xx → :class:`~tfso_events.ConfigurationError` naming the status and the
      ``Location``: a redirect is never followed, since it would re-post the secret;
    * 408, 429 and 5xx → :class:`~tfso_events.publishing._batching.RetryableCallError`
      carrying ``Retry-After``.

    ``secret`` is scrubbed, in every encoding the client sends it in, from any text
    echoed into a message.
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
    if 300 <= status < 400:
        location = clip(response.headers.get("location") or "(no Location header)")
        raise ConfigurationError(
            f"{where} answered HTTP {status} redirecting to {location}; redirects are not "
            "followed (the client secret would be posted there): set auth0_domain or "
            f"{AUTH0_DOMAIN_VAR} to the tenant URL that answers {key.token_url} itself"
        )
    error, description = _describe(response.body, secret, key.client_id)
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
    # The hint follows Auth0's error fields, never a word in echoed text.
    missing_scope = error == "invalid_scope" or (
        status == 403 and error is not None and description.lower().startswith(_NOT_GRANTED)
    )
    if missing_scope:
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
