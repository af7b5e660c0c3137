"""The hub's Auth0 stand-in without I/O: registered clients, token grants, verification.

Tokens are RS256 JWTs signed with a key generated when the hub starts; the public half
is published as a JWKS. Verification pins the algorithm to RS256 (no ``none``, no
HS256 signed with the public key), checks ``iss``, ``aud`` and ``exp``, and caches the
result of the signature check per token string, so a busy publisher pays for one RSA
verification per token, not per request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import msgspec
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tfso_events.environments import AUDIENCE

__all__ = ["AUDIENCE", "GRANT_TYPE", "Client", "GrantError", "InvalidToken", "TokenIssuer"]

GRANT_TYPE = "client_credentials"
_ALGORITHMS = ["RS256"]
_VERIFIED_CACHE_SIZE = 4096
#: Seconds of clock skew allowed on ``nbf`` and ``iat`` (the hub signs with its own clock).
_CLOCK_LEEWAY = 1.0


@dataclass(frozen=True, slots=True)
class Client:
    """A registered machine-to-machine application and the scopes it was granted."""

    client_id: str
    secret: str = field(repr=False)
    scopes: frozenset[str]


class GrantError(Exception):
    """The token endpoint refuses: HTTP ``status`` with Auth0's ``error`` and
    ``error_description``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class InvalidToken(Exception):
    """A bearer token the events API must refuse with 401; the message says why."""


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a valid access token says: who (``client_id``), which ``scopes``, until when."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jti: str
    not_before: float = 0.0


_CLAIMS_DECODER = msgspec.json.Decoder(dict[str, Any])


class TokenIssuer:
    """Clients, grants and tokens of one hub. ``issuer`` is set once the URL is known."""

    def __init__(self, *, ttl: int, audience: str = AUDIENCE) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ValueError(f"token_ttl must be a whole number of seconds >= 1, got {ttl!r}")
        self.ttl = ttl
        self.audience = audience
        self.issuer = ""
        self._key = RSAKey.generate_key(
            2048, parameters={"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
        )
        self._public = RSAKey.import_key(self._key.as_dict(private=False))
        self.kid = self._key.kid
        self._clients: dict[str, Client] = {}
        self._verified: dict[str, VerifiedToken] = {}
        self._issued: set[str] = set()
        self._revoked: set[str] = set()

    # -- clients -------------------------------------------------------------------------

    def register(self, client_id: str, client_secret: str, scopes: Iterable[str]) -> Client:
        """Add (or replace) a client allowed the given scopes."""
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret must be non-empty strings")
        if isinstance(scopes, str):
            scopes = scopes.split()
        client = Client(client_id, client_secret, frozenset(str(s) for s in scopes))
        self._clients[client_id] = client
        return client

    @property
    def clients(self) -> Mapping[str, Client]:
        """The registered clients by id."""
        return self._clients

    # -- the token endpoint --------------------------------------------------------------

    def grant(self, params: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """Answer a client-credentials request the way Auth0 does, or raise GrantError."""
        grant_type = params.get("grant_type")
        if not grant_type:
            raise GrantError(400, "invalid_request", "Missing required parameter: grant_type")
        if grant_type != GRANT_TYPE:
            raise GrantError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
        client = self._authenticate(params, authorization)
        audience = params.get("audience")
        if not audience:
            raise GrantError(
                403,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        if audience != self.audience:
            raise GrantError(403, "access_denied", f"Service not found: {audience}")
        requested = params.get("scope", "").split()
        if requested:
            missing = [s for s in requested if s not in client.scopes]
            if missing:
                raise GrantError(
                    403,
                    "access_denied",
                    f"Client has not been granted scopes: {' '.join(missing)}",
                )
            scopes = list(dict.fromkeys(requested))
        else:
            scopes = sorted(client.scopes)
        scope = " ".join(scopes)
        return {
            "access_token": self.issue(client.client_id, scope),
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "scope": scope,
        }

    def _authenticate(self, params: Mapping[str, str], authorization: str | None) -> Client:
        client_id = params.get("client_id")
        secret = params.get("client_secret")
        if authorization is not None:
            basic_id, basic_secret = _parse_basic(authorization)
            if client_id and client_id != basic_id:
                raise GrantError(
                    400,
                    "invalid_request",
                    "client_id in the body does not match the Authorization header",
                )
            client_id, secret = basic_id, basic_secret
        if not client_id:
            raise GrantError(400, "invalid_request", "Missing required parameter: client_id")
        client = self._clients.get(client_id)
        # Compare even for an unknown client so timing does not tell which ids exist.
        expected = client.secret if client is not None else "\x00unknown client"
        if not hmac.compare_digest((secret or "").encode(), expected.encode()) or not client:
            raise GrantError(401, "access_denied", "Unauthorized")
        return client

    # -- tokens --------------------------------------------------------------------------

    def issue(
        self,
        client_id: str,
        scope: str,
        *,
        ttl: float | None = None,
        audience: str | None = None,
    ) -> str:
        """Sign an access token for ``client_id`` with ``scope`` (space separated)."""
        now = time.time()
        lifetime = self.ttl if ttl is None else ttl
        jti = uuid.uuid4().hex
        claims = {
            "iss": self.issuer,
            "sub": f"{client_id}@clients",
            "aud": self.audience if audience is None else audience,
            "iat": int(now),
            # Rounded up: the token lives at least `ttl` seconds.
            "exp": math.ceil(now + lifetime),
            "scope": scope,
            "gty": "client-credentials",
            "azp": client_id,
            "jti": jti,
        }
        self._issued.add(jti)
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, self._key)

    def revoke_all(self) -> None:
        """Refuse every token issued so far (the events API answers 401 to them)."""
        self._revoked |= self._issued
        self._issued = set()
        self._verified.clear()

    def verify(self, token: str) -> VerifiedToken:
        """Check a bearer token; raise :class:`InvalidToken` saying why it is refused."""
        verified = self._verified.get(token)
        if verified is None:
            verified = self._verify_signed(token)
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = verified
        now = time.time()
        if verified.expires_at <= now:
            raise InvalidToken("the access token has expired")
        if verified.not_before > now + _CLOCK_LEEWAY:
            raise InvalidToken("the access token is not valid yet (`nbf`/`iat` in the future)")
        return verified

    def _verify_signed(self, token: str) -> VerifiedToken:
        try:
            signed = jws.deserialize_compact(token, self._public, algorithms=_ALGORITHMS)
        except JoseError as exc:
            raise InvalidToken(f"the access token is not a valid RS256 JWT ({exc.error})") from None
        except (ValueError, TypeError, binascii.Error):
            raise InvalidToken("the access token is not a valid RS256 JWT") from None
        header = signed.headers()
        if header.get("kid") not in (None, self.kid):
            raise InvalidToken("the access token was signed by an unknown key (kid)")
        try:
            claims = _CLAIMS_DECODER.decode(signed.payload or b"")
        except (msgspec.DecodeError, RecursionError):
            raise InvalidToken("the access token's claims are not a JSON object") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken(f"the access token was not issued by {self.issuer}")
        aud = claims.get("aud")
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise InvalidToken(f"the access token's audience is not {self.audience}")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise InvalidToken("the access token has no valid `exp` claim")
        times: list[float] = []
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken(f"the access token's `{name}` claim is not a number")
            times.append(float(value))
        scope = claims.get("scope", "")
        sub = claims.get("sub")
        jti = claims.get("jti")
        if not isinstance(scope, str) or not isinstance(sub, str) or not isinstance(jti, str):
            raise InvalidToken("the access token's `scope`, `sub` or `jti` claim is invalid")
        if jti in self._revoked:
            raise InvalidToken("the access token has been revoked")
        return VerifiedToken(
            client_id=sub.removesuffix("@clients"),
            scopes=frozenset(scope.split()),
            expires_at=float(exp),
            jti=jti,
            # A token may not be used before it was issued, nor before its `nbf`.
            not_before=max(times, default=0.0),
        )

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set with the public signing key."""
        return {"keys": [self._public.as_dict(private=False)]}


def _parse_basic(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise GrantError(
            400, "invalid_request", "the Authorization header must be HTTP Basic client auth"
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise GrantError(
            400, "invalid_request", "the Authorization header is not valid Basic auth"
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise GrantError(400, "invalid_request", "the Authorization header is not valid Basic auth")
    # RFC 6749 §2.3.1: both halves are form-urlencoded before base64.
    return unquote(client_id), unquote(secret)
