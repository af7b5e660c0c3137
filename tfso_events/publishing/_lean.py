"""The lean ``PutEvents`` transport of :class:`~tfso_events.TfsoEventBridgeClient`
(``transport="lean"``).

What botocore spends on every ``PutEvents`` call (a signing key derived anew, request
serialisation through the service model, a dozen event hooks, endpoint rules, response
parsing through the model) is done here once, or not at all:

* **resolution stays the AWS SDK's.** At open, botocore (imported then, and only for
  this) resolves the credentials (its provider chain: environment, profiles, SSO,
  assume-role, container and instance roles), the region and the endpoint (an explicit
  ``endpoint_url``, ``AWS_ENDPOINT_URL_EVENTBRIDGE``/``AWS_ENDPOINT_URL`` or the
  profile's ``endpoint_url``, else EventBridge's own endpoint rules, FIPS and dual-stack
  included), the CA bundle and the proxy. Temporary credentials are read again when
  botocore says they need a refresh (its advisory window, 15 minutes before expiry), on
  a thread, one refresh at a time.
* **the common Lambda/container case without botocore** (:func:`_resolve_from_env`):
  when the environment holds the keys and the region and nothing that could change
  botocore's answer (no ``session``, no profile, no other ``AWS_*`` setting, no
  ``~/.aws``, a region of the ``aws`` partition), the answer botocore would give is
  read from the environment directly: importing botocore's session and walking its
  chain was a quarter of a cold first publish. Anything else goes to botocore.
* **each call** is a msgspec-encoded JSON 1.1 body, signed with SigV4
  (:mod:`~tfso_events.publishing._sigv4`, the signing key cached per day), posted over
  one :class:`aiohttp.ClientSession` with a pool as large as the client's concurrency.
* **answers are read as botocore reads them**: a 2xx body's ``Entries``; an error's
  code from ``__type`` (the part after ``#``, before ``:``), or the
  ``x-amzn-query-error`` header, or the status; its message from ``message`` or
  ``Message``; a 5xx without a JSON body is its status. What a code means (retry,
  credentials, final) is decided in ``eventbridge.py``, the same for both transports.

Nothing here logs a credential; a session token is refused for a plain-HTTP endpoint
that is not on this machine (the secret key itself never leaves the process).
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import logging
import os
import re
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

import msgspec

from tfso_events._botocore import install as _redact_in_botocore_logs
from tfso_events._threads import in_a_thread
from tfso_events.errors import ConfigurationError
from tfso_events.publishing._batching import UNANSWERED, RetryableCallError
from tfso_events.publishing._sigv4 import Signer, canonical_host

if TYPE_CHECKING:
    import aiohttp

__all__ = ["CREDENTIALS_HINT", "LeanPutEvents", "ResultEntry"]

log = logging.getLogger("tfso_events.publishing.eventbridge")

CREDENTIALS_HINT = (
    "give the process AWS credentials: a role (Lambda, ECS and AppRunner provide one), "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; or pass session="
)
_SERVICE = "events"
_CONTENT_TYPE = "application/x-amz-json-1.1"
_TARGET = "AWSEvents.PutEvents"
#: botocore's defaults for both (``Config(connect_timeout=60, read_timeout=60)``).
_CONNECT_TIMEOUT = 60.0
_READ_TIMEOUT = 60.0
#: How often (seconds) the client asks botocore whether temporary credentials are due
#: for a refresh; asking costs a clock read and a comparison.
_CREDENTIAL_CHECK_EVERY = 1.0


class ResultEntry(msgspec.Struct, rename="pascal"):
    """One entry of a ``PutEvents`` answer."""

    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class _Result(msgspec.Struct, rename="pascal"):
    entries: list[ResultEntry] | None = None


class _ErrorBody(msgspec.Struct):
    type: str | None = msgspec.field(default=None, name="__type")
    message: str | None = None
    Message: str | None = None


class Answer(NamedTuple):
    """What one call got back: the ``entries`` of a 2xx answer, or an error's ``code``,
    ``message`` and HTTP ``status``."""

    entries: list[ResultEntry] | None
    code: str = ""
    message: str = ""
    status: int = 200


_encode = msgspec.json.encode
_decode_result = msgspec.json.Decoder(_Result).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode


def read_error(status: int, body: bytes, query_error: str | None) -> tuple[str, str]:
    """The code and message botocore's JSON parser gives an error answer."""
    stripped = body.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        # botocore's "generic" error: no protocol body (a proxy's page, an empty 503).
        return str(status), _reason(status)
    try:
        parsed = _decode_error(body) if stripped else _ErrorBody()
    except (msgspec.DecodeError, UnicodeDecodeError):
        parsed = _ErrorBody(message=body.decode("utf-8", "replace"))
    message = parsed.message if parsed.message is not None else (parsed.Message or "")
    code = parsed.type if parsed.type is not None else str(status)
    code = code.split(":", 1)[0]
    code = code.rsplit("#", 1)[-1]
    if query_error:
        query_code, _, kind = query_error.partition(";")
        if query_code and kind and ";" not in kind:
            code = query_code
    return code, message


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class _Keys:
    """One frozen set of AWS credentials; its ``repr`` shows the access key id only."""

    __slots__ = ("access_key", "secret_key", "token")

    def __init__(self, access_key: str, secret_key: str, token: str | None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token or None

    def __repr__(self) -> str:
        return f"<AWS credentials {self.access_key}>"


class _Credentials:
    """botocore's credentials object for this client, read once and again when
    botocore says they need a refresh (temporary credentials)."""

    def __init__(self, source: Any, *, plain_remote: str | None) -> None:
        self._source = source
        self._aio = asyncio.iscoroutinefunction(source.get_frozen_credentials)
        self._static = not callable(getattr(source, "refresh_needed", None))
        self._plain_remote = plain_remote
        self._keys: _Keys | None = None
        self._check_at = 0.0
        self._lock = asyncio.Lock()
        self.method = str(getattr(source, "method", "unknown"))

    def __repr__(self) -> str:
        return f"<AWS credentials via {self.method}>"

    async def current(self) -> _Keys:
        keys = self._keys
        if keys is not None and (self._static or time.monotonic() < self._check_at):
            return keys
        return await self._read()

    async def _read(self) -> _Keys:
        async with self._lock:  # one refresh however many calls find them due
            keys = self._keys
            if keys is not None and (self._static or time.monotonic() < self._check_at):
                return keys
            if keys is None or self._source.refresh_needed():
                frozen: Any
                if self._aio:
                    frozen = await self._source.get_frozen_credentials()
                elif isinstance(self._source, _EnvKeys):
                    frozen = self._source.get_frozen_credentials()  # read already
                else:
                    # A refresh may call STS or the instance metadata service: off the loop.
                    frozen = await in_a_thread(
                        self._source.get_frozen_credentials, name="tfso-events-aws-credentials"
                    )
                keys = self._keys = self._check(frozen)
                log.debug("read AWS credentials (%s)", self.method)
            self._check_at = time.monotonic() + _CREDENTIAL_CHECK_EVERY
            return keys

    def _check(self, frozen: Any) -> _Keys:
        access_key, secret_key, token = frozen.access_key, frozen.secret_key, frozen.token
        if not access_key or not secret_key:
            raise ConfigurationError(f"no usable AWS credentials found; {CREDENTIALS_HINT}")
        if token and self._plain_remote:
            raise ConfigurationError(
                f"refusing to send an AWS session token over plain HTTP to "
                f"{self._plain_remote}; use an https:// endpoint_url (plain HTTP is "
                "accepted for loopback emulators only)"
            )
        # botocore's own DEBUG logs (should any botocore client run in this process)
        # must not show them either.
        _redact_in_botocore_logs(token, secret_key)
        return _Keys(access_key, secret_key, token)


class _Setup(NamedTuple):
    region: str
    endpoint: str
    credentials: Any  # botocore's Credentials (or aiobotocore's), or None
    ca_bundle: str | None
    proxy: str | None


def _resolve(
    session: Any, region_name: str | None, endpoint_url: str | None, *, local: bool
) -> _Setup:
    """Resolve region, endpoint, credentials, CA bundle and proxy as botocore would for
    an ``events`` client (``local``: from a session with dummy credentials, blind to the
    AWS configuration). Blocking (imports botocore, reads the AWS config files, may
    call a credential provider): run in a thread. Raises botocore's exceptions, which
    the client translates."""
    import botocore.session
    from botocore.exceptions import NoRegionError
    from botocore.utils import validate_region_name

    core: Any = getattr(session, "_session", None) if session is not None else None
    if core is None and local:
        from tfso_events.publishing._local_aws import local_botocore_session

        core = local_botocore_session(region_name) if region_name else local_botocore_session()
    if core is None:
        core = botocore.session.get_session()
    region = region_name or core.get_config_variable("region")
    if not region:
        raise NoRegionError()
    validate_region_name(region)
    endpoint = endpoint_url or _configured_endpoint(core) or _rules_endpoint(core, region)
    # aiobotocore's session answers get_credentials() with a coroutine: read it later.
    credentials = None if _is_aio(core) else core.get_credentials()
    ca_bundle = core.get_config_variable("ca_bundle")
    return _Setup(region, endpoint, credentials, ca_bundle, _proxy_for(endpoint))


#: Regions of the ``aws`` partition (its ``regionRegex``, three lower-case parts) whose
#: EventBridge endpoint is ``https://events.{region}.amazonaws.com`` in the endpoint
#: rule set; every other region (cn-, us-gov-, ISO, EUSC, ``aws-global``) goes to botocore.
_STANDARD_REGION = re.compile(r"(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]+")
#: The ``AWS_*`` variables the environment fast path reads or knows botocore's
#: resolution for ``events`` ignores; any other ``AWS_*`` variable (a profile, a config
#: or credentials file, an endpoint, FIPS, dual-stack, a CA bundle, a data path, an
#: expiry, a container or web-identity role...) sends the resolution to botocore.
_ENV_KEYS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",  # botocore does not read it (Lambda sets it to AWS_DEFAULT_REGION)
        "AWS_CA_BUNDLE",
        "AWS_EXECUTION_ENV",  # botocore's user agent only
    }
)
#: Lambda's and X-Ray's own variables: read by botocore for its user agent and the
#: trace header, never for credentials, region or endpoint.
_ENV_PREFIXES_IGNORED = ("AWS_LAMBDA_", "AWS_XRAY_")


class _EnvKeys:
    """Static credentials read from the environment, the shape of botocore's
    ``Credentials`` that :class:`_Credentials` reads (``method`` ``"env"``, no refresh)."""

    __slots__ = ("_keys",)
    method = "env"

    def __init__(self, keys: _Keys) -> None:
        self._keys = keys

    def __repr__(self) -> str:
        return "<AWS credentials via env>"

    def get_frozen_credentials(self) -> _Keys:
        return self._keys


def _resolve_from_env(
    region_name: str | None,
    endpoint_url: str | None,
    environ: Mapping[str, str] = os.environ,
) -> _Setup | None:
    """botocore's answer (credentials, region, endpoint, CA bundle) for a client
    with no ``session`` and not ``local``, read from ``environ`` without importing
    botocore; ``None`` (ask botocore) unless nothing else could change that answer.

    botocore's chain starts with the environment (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, the token from ``AWS_SECURITY_TOKEN`` then
    ``AWS_SESSION_TOKEN``) unless a profile is named; its region is ``region_name`` or
    ``AWS_DEFAULT_REGION`` or the config file's; its CA bundle ``AWS_CA_BUNDLE`` or the
    config file's; its endpoint ``endpoint_url``, a
    configured one, or the rule set's (which ``~/.aws/models`` or ``AWS_DATA_PATH`` can
    replace). tests/eventbridge/test_env_resolution.py compares the two."""
    for name in environ:
        if (
            name.startswith("AWS_")
            and name not in _ENV_KEYS
            and not name.startswith(_ENV_PREFIXES_IGNORED)
        ):
            return None
    access_key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = region_name or environ.get("AWS_DEFAULT_REGION", "")
    if not (access_key and secret_key and region and _STANDARD_REGION.fullmatch(region)):
        return None
    # ~/.aws: config and credentials files (a region, an endpoint, FIPS...) and models.
    if os.path.lexists(os.path.expanduser("~/.aws")):
        return None
    token = environ.get("AWS_SECURITY_TOKEN", "") or environ.get("AWS_SESSION_TOKEN", "")
    endpoint = endpoint_url or f"https://events.{region}.amazonaws.com"
    credentials = _EnvKeys(_Keys(access_key, secret_key, token or None))
    ca_bundle = environ.get("AWS_CA_BUNDLE")
    return _Setup(region, endpoint, credentials, ca_bundle, _proxy_for(endpoint))


def _is_aio(core: Any) -> bool:
    return asyncio.iscoroutinefunction(getattr(core, "get_credentials", None))


def _configured_endpoint(core: Any) -> str | None:
    """``AWS_ENDPOINT_URL_EVENTBRIDGE``, ``AWS_ENDPOINT_URL`` or the profile's
    ``endpoint_url`` (its ``services`` section first), unless configured endpoints are
    ignored: botocore's ``ConfiguredEndpointProvider``."""
    if core.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    try:
        from botocore.configprovider import ConfiguredEndpointProvider
    except ImportError:  # a botocore older than configured endpoints (1.31)
        return None
    provider = ConfiguredEndpointProvider(
        full_config=core.full_config,
        scoped_config=core.get_scoped_config(),
        client_name=_SERVICE,
    )
    url: str | None = provider.provide()
    return url


def _rules_endpoint(core: Any, region: str) -> str:
    """EventBridge's endpoint for ``region`` from its endpoint rule set (the data every
    AWS SDK uses), with the FIPS and dual-stack settings of the AWS configuration."""
    from botocore.endpoint_provider import EndpointProvider

    loader = core.get_component("data_loader")
    provider = EndpointProvider(
        ruleset_data=loader.load_service_model(_SERVICE, "endpoint-rule-set-1"),
        partition_data=loader.load_data("partitions"),
    )
    resolved = provider.resolve_endpoint(
        Region=region,
        UseFIPS=bool(core.get_config_variable("use_fips_endpoint")),
        UseDualStack=bool(core.get_config_variable("use_dualstack_endpoint")),
    )
    url: str = resolved.url
    return url


def _proxy_for(endpoint: str) -> str | None:
    """The proxy botocore would use for ``endpoint`` (``HTTPS_PROXY``/``HTTP_PROXY``,
    ``NO_PROXY``), read once instead of on every request."""
    parts = urlsplit(endpoint)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme)
    if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy or None


def _plain_remote(endpoint: str) -> str | None:
    """``endpoint`` when it is plain HTTP to another machine (where a session token
    must not go), else ``None``."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http":
        return None
    host = parts.hostname or ""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return endpoint


class LeanPutEvents:
    """One open lean transport: ``put_events(entries)`` signs and posts one call and
    returns its :class:`Answer`; :meth:`aclose` closes its connections."""

    def __init__(
        self,
        *,
        endpoint: str,
        region: str,
        credentials: _Credentials,
        http: aiohttp.ClientSession,
        proxy: str | None,
        user_agent: str,
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self._credentials = credentials
        self._http = http
        self._proxy = proxy
        parts = urlsplit(endpoint)
        self._url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
        self._signer = Signer(
            host=canonical_host(endpoint), path=parts.path, region=region, service=_SERVICE
        )
        self._headers = {
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Target": _TARGET,
            "User-Agent": user_agent,
        }

    def __repr__(self) -> str:
        return f"LeanPutEvents(endpoint={self.endpoint!r}, region={self.region!r})"

    @classmethod
    async def open(
        cls,
        *,
        session: Any,
        region_name: str | None,
        endpoint_url: str | None,
        pool: int,
        user_agent: str,
        local: bool = False,
    ) -> LeanPutEvents:
        """Resolve everything (botocore, in a thread) and read the credentials once
        (``local``: dummy credentials, the AWS configuration unread)."""
        setup = None
        if session is None and not local:
            setup = _resolve_from_env(region_name, endpoint_url)
        if setup is None:
            setup = await in_a_thread(
                lambda: _resolve(session, region_name, endpoint_url, local=local),
                name="tfso-events-aws-config",
            )
        source = setup.credentials
        if source is None and session is not None and _is_aio(session._session):
            source = await session._session.get_credentials()
        if source is None:
            raise ConfigurationError(f"no AWS credentials found; {CREDENTIALS_HINT}")
        credentials = _Credentials(source, plain_remote=_plain_remote(setup.endpoint))
        await credentials.current()  # missing or unusable credentials: say so now
        import aiohttp

        ssl: Any = None  # aiohttp's default: the system's trust store
        if setup.ca_bundle and setup.endpoint.startswith("https:"):
            import ssl as _ssl

            ssl = _ssl.create_default_context(cafile=setup.ca_bundle)
        http_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool, ssl=ssl if ssl is not None else True),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=_CONNECT_TIMEOUT, sock_read=_READ_TIMEOUT
            ),
            # (no cookies: AWS sets none that matter, and a jar costs CPU per call)
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        log.debug(
            "opened the lean PutEvents transport (region %s, endpoint %s, credentials %s)",
            setup.region,
            setup.endpoint,
            credentials.method,
        )
        return cls(
            endpoint=setup.endpoint,
            region=setup.region,
            credentials=credentials,
            http=http_session,
            proxy=setup.proxy,
            user_agent=user_agent,
        )

    async def put_events(self, entries: Sequence[Any]) -> Answer:
        """Send one ``PutEvents`` call of ``entries`` (PutEvents request entries).

        Raises :class:`RetryableCallError` (``connection_error``) when no answer came,
        :class:`~tfso_events.ConfigurationError` when the credentials cannot be read."""
        import aiohttp

        body = _encode({"Entries": entries})
        keys = await self._credentials.current()
        headers = self._signer.sign(
            "POST",
            self._headers,
            body,
            access_key=keys.access_key,
            secret_key=keys.secret_key,
            token=keys.token,
        )
        try:
            async with self._http.post(
                self._url, data=body, headers=headers, proxy=self._proxy
            ) as response:
                status = response.status
                raw = await response.read()
                query_error = response.headers.get("x-amzn-query-error")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # aiohttp's text names the host and port, never the request's headers.
            raise RetryableCallError(
                UNANSWERED, f"{type(exc).__name__} calling PutEvents at {self.endpoint}"
            ) from None
        if status < 301:  # botocore's line between answers and errors
            try:
                return Answer(_decode_result(raw).entries or [])
            except (msgspec.DecodeError, UnicodeDecodeError):
                return Answer([])  # no entries: the caller reports a malformed answer
        code, message = read_error(status, raw, query_error)
        return Answer(None, code, message, status)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.close()
