"""AWS Signature Version 4 for the lean PutEvents transport: what botocore's ``SigV4Auth``
computes, for the one request shape PutEvents has, without its per-call costs.

botocore derives the signing key (four HMACs) on every call; the key only changes with
the secret key, the UTC date, the region and the service, so :class:`Signer` derives it
once per (secret, date, region, service) and keeps only the latest. The canonical
request follows botocore's rules exactly (headers lower-cased and sorted, values with
whitespace runs folded to one space, the host without a default port, the path
normalised and quoted with ``/~`` safe); ``tests/eventbridge/test_lean_signing.py``
checks every signature against botocore's own signer.

Standard library only. Nothing here logs, and the signer's ``repr`` shows no key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

__all__ = ["ALGORITHM", "Signer", "canonical_host", "canonical_path"]

ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: botocore never signs these (a proxy or the HTTP stack may change them).
_UNSIGNED = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})


def canonical_host(url: str) -> str:
    """The ``host`` header botocore signs for ``url``: the host name (IPv6 in brackets)
    and the port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


def canonical_path(path: str) -> str:
    """The canonical URI of ``path`` as botocore computes it for non-S3 services: dot
    segments removed, then quoted (so an already-escaped ``%`` is escaped again)."""
    if not path:
        return "/"
    # RFC 3986 5.2.4, and empty segments dropped (AWS wants no "//"), as botocore does.
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    normalised = first + "/".join(output) + last
    return quote(normalised, safe="/~")


class Signer:
    """Signs requests to one endpoint (``host``, ``path``) for one ``region`` and
    ``service``, with a signing key cached per (secret key, date, region, service)."""

    __slots__ = ("_key", "_key_for", "_path", "_scope_tail", "host", "region", "service")

    def __init__(self, *, host: str, path: str, region: str, service: str) -> None:
        self.host = host
        self.region = region
        self.service = service
        self._path = canonical_path(path)
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key = b""
        self._key_for: tuple[str, str] | None = None  # (secret key, date) of _key

    def __repr__(self) -> str:
        return f"Signer(host={self.host!r}, region={self.region!r}, service={self.service!r})"

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """The SigV4 signing key of ``date`` (``YYYYMMDD``), derived once per day (and
        per secret key, which changes when temporary credentials are refreshed)."""
        if self._key_for != (secret_key, date):
            key = hmac.digest(f"AWS4{secret_key}".encode(), date.encode(), "sha256")
            key = hmac.digest(key, self.region.encode(), "sha256")
            key = hmac.digest(key, self.service.encode(), "sha256")
            self._key = hmac.digest(key, b"aws4_request", "sha256")
            self._key_for = (secret_key, date)
        return self._key

    def sign(
        self,
        method: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        access_key: str,
        secret_key: str,
        token: str | None = None,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """``headers`` plus ``Host``, ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a
        session token) and ``Authorization``: the request signed. ``amz_date``
        (``YYYYMMDDTHHMMSSZ``) defaults to now."""
        if amz_date is None:
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = {name.lower(): value for name, value in headers.items()}
        signed.pop("authorization", None)
        signed["host"] = self.host
        signed["x-amz-date"] = amz_date
        if token:
            signed["x-amz-security-token"] = token
        names = sorted(name for name in signed if name not in _UNSIGNED)
        canonical_headers = "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names)
        signed_headers = ";".join(names)
        canonical_request = (
            f"{method}\n{self._path}\n\n{canonical_headers}\n{signed_headers}\n"
            f"{hashlib.sha256(body).hexdigest()}"
        )
        date = amz_date[:8]
        scope = f"{date}{self._scope_tail}"
        string_to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        signature = hmac.new(
            self.signing_key(secret_key, date), string_to_sign.encode(), "sha256"
        ).hexdigest()
        out = dict(headers)
        out["Host"] = self.host
        out["X-Amz-Date"] = amz_date
        if token:
            out["X-Amz-Security-Token"] = token
        out["Authorization"] = (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        return out
