"""Where each environment lives, and the one place that reads environment variables.

    environment  Auth0 domain (token issuer)      events API
    -----------  -------------------------------  -------------------------------------
    dev          https://login.dev.tfso.io        https://events.api.dev.tfso.io (*)
    pre-prod     https://login.24sevenoffice.com  https://events.api.pre-prod.tfso.io (*)
    prod         https://login.24sevenoffice.com  https://events.api.tfso.io
    local        http://127.0.0.1:8642            http://127.0.0.1:8642

The audience is ``https://events.24sevenoffice.com`` everywhere. The dev and pre-prod
API URLs marked (*) follow the prod pattern and are assumptions: set
``TFSO_EVENTS_API_URL`` (or pass ``api_url=``) if yours differs. ``local`` is the
default address of ``tfso-events hub``.

Precedence, highest first: an explicit argument, then the environment variable, then
the table above.

    TFSO_EVENTS_ENVIRONMENT     dev | pre-prod | prod | local (both publishers)
    TFSO_EVENTS_AUTH0_DOMAIN    the Auth0 domain, a URL (http://127.0.0.1:8642)
    TFSO_EVENTS_API_URL         the events API base URL
    TFSO_EVENTS_CLIENT_ID       Auth0 M2M application (client) id
    TFSO_EVENTS_CLIENT_SECRET   Auth0 M2M application secret
    TFSO_EVENTS_OUTBOX_DB       the outbox's database URL (tfso-events relay and outbox)
    TFSO_EVENTS_ALLOW_INSECURE_HTTP
                                ``1``/``true``/``yes``: accept plain ``http`` URLs for
                                dev, pre-prod and prod (the secret and tokens then
                                cross in clear; for a network you trust, never prod)
    _X_AMZN_TRACE_ID            set by Lambda; forwarded as the PutEvents TraceHeader
    AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_ENDPOINT_URL
                                where a ``local`` EventBridge client sends (botocore
                                reads them itself in the other environments)

The EventBridge client's environments (:func:`resolve_bus_environment`): in ``dev``,
``pre-prod`` and ``prod`` each event goes to the bus ``tfso-{module}-events`` of that
environment's AWS account, the one the workload's AWS credentials belong to (the
seed's ``busEnvironment: 'dev'`` with ``eventBusName: `tfso-${TfsoModules.Bank}-events```:
the environment is not part of the bus name); in ``local`` to the same bus names on
``tfso-events hub`` at ``http://127.0.0.1:8642``, signed with dummy credentials.

Plain ``http`` would carry the client secret and the bearer tokens in clear, so the
Auth0 domain and the API URL of ``dev``, ``pre-prod`` and ``prod`` must be ``https``;
``http`` is accepted for a loopback host (``127.0.0.1``, ``::1``, ``localhost``: the
local hub, a sidecar), for the ``local`` environment (the local hub wherever it runs),
or with the opt-in ``allow_insecure_http=True`` / ``TFSO_EVENTS_ALLOW_INSECURE_HTTP``.

Every function takes ``environ=`` (default :data:`os.environ`), so tests pass a dict
instead of touching the process environment::

    >>> env = resolve_environment("prod", environ={})
    >>> env.api_url
    'https://events.api.tfso.io'
    >>> resolve_environment("local", environ={"TFSO_EVENTS_API_URL": "http://127.0.0.1:9"}).api_url
    'http://127.0.0.1:9'
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from tfso_events._secret import Secret
from tfso_events.errors import ConfigurationError

__all__ = [
    "API_URL_VAR",
    "AUDIENCE",
    "AUTH0_DOMAIN_VAR",
    "BUS_ENDPOINT_VARS",
    "BUS_ENVIRONMENTS",
    "CLIENT_ID_VAR",
    "CLIENT_SECRET_VAR",
    "ENVIRONMENTS",
    "ENVIRONMENT_VAR",
    "INSECURE_HTTP_VAR",
    "LOCAL_URL",
    "OUTBOX_DB_VAR",
    "TRACE_ID_VAR",
    "BusEnvironment",
    "Environment",
    "amzn_trace_id",
    "require_https",
    "resolve_bus_environment",
    "resolve_credentials",
    "resolve_environment",
    "resolve_outbox_db",
    "validate_bus_environment",
]

#: The Auth0 audience (API identifier) of the events API in every environment.
AUDIENCE = "https://events.24sevenoffice.com"
#: Where ``tfso-events hub`` listens by default: Auth0, events API and EventBridge in one.
LOCAL_URL = "http://127.0.0.1:8642"

ENVIRONMENT_VAR = "TFSO_EVENTS_ENVIRONMENT"
AUTH0_DOMAIN_VAR = "TFSO_EVENTS_AUTH0_DOMAIN"
API_URL_VAR = "TFSO_EVENTS_API_URL"
CLIENT_ID_VAR = "TFSO_EVENTS_CLIENT_ID"
CLIENT_SECRET_VAR = "TFSO_EVENTS_CLIENT_SECRET"
#: The outbox's database URL for ``tfso-events relay`` and ``tfso-events outbox``.
OUTBOX_DB_VAR = "TFSO_EVENTS_OUTBOX_DB"
#: The opt-in to plain ``http`` for a non-loopback host outside ``local``.
INSECURE_HTTP_VAR = "TFSO_EVENTS_ALLOW_INSECURE_HTTP"
#: Lambda's X-Ray trace header; PutEvents accepts it as ``TraceHeader``.
TRACE_ID_VAR = "_X_AMZN_TRACE_ID"


@dataclass(frozen=True, slots=True)
class Environment:
    """One resolved environment: ``name``, ``auth0_domain`` and ``api_url`` (URLs
    without a trailing slash), the Auth0 ``audience``, and ``allow_insecure_http``
    (``True`` for ``local`` and after the opt-in: plain ``http`` is acceptable)."""

    name: str
    auth0_domain: str
    api_url: str
    audience: str = AUDIENCE
    allow_insecure_http: bool = False

    @property
    def token_url(self) -> str:
        """The Auth0 client-credentials endpoint, ``{auth0_domain}/oauth/token``."""
        return f"{self.auth0_domain}/oauth/token"

    @property
    def events_url(self) -> str:
        """Where events are posted, ``{api_url}/events``."""
        return f"{self.api_url}/events"


_DEV_LOGIN = "https://login.dev.tfso.io"
_LOGIN = "https://login.24sevenoffice.com"

_TABLE: dict[str, Environment] = {
    "dev": Environment("dev", _DEV_LOGIN, "https://events.api.dev.tfso.io"),
    "pre-prod": Environment("pre-prod", _LOGIN, "https://events.api.pre-prod.tfso.io"),
    "prod": Environment("prod", _LOGIN, "https://events.api.tfso.io"),
    "local": Environment("local", LOCAL_URL, LOCAL_URL),
}

#: Every environment the API client accepts.
ENVIRONMENTS: tuple[str, ...] = tuple(_TABLE)
#: Every environment the EventBridge client accepts: the Event Hub's three, and
#: ``local`` (``tfso-events hub``).
BUS_ENVIRONMENTS: tuple[str, ...] = ("dev", "pre-prod", "prod", "local")
#: Where a ``local`` EventBridge client sends, first found first (botocore's own
#: variables, which it reads itself in the other environments); else :data:`LOCAL_URL`.
BUS_ENDPOINT_VARS: tuple[str, ...] = ("AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_ENDPOINT_URL")


@dataclass(frozen=True, slots=True)
class BusEnvironment:
    """One resolved EventBridge environment: its ``name``, and ``endpoint_url`` (``None``:
    AWS's endpoint for the region, or botocore's ``AWS_ENDPOINT_URL_EVENTBRIDGE``).

    ``local`` is ``tfso-events hub``: the client signs with dummy credentials there, so
    none of the shell's AWS configuration is needed, or ever sent to it.
    """

    name: str
    endpoint_url: str | None = None

    @property
    def local(self) -> bool:
        """Whether this is the local hub rather than one of the Event Hub's accounts."""
        return self.name == "local"

    def bus_name(self, module: str) -> str:
        """The default bus of ``module``'s events: ``tfso-{module}-events`` in every
        environment (each environment is its own AWS account)."""
        return f"tfso-{module}-events"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _nonempty(value: str | None) -> str | None:
    return value if value and value.strip() else None


def resolve_outbox_db(db: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """The outbox's database URL: ``db``, else ``TFSO_EVENTS_OUTBOX_DB``. A URL with a
    password belongs in the variable (or a secret store that sets it) rather than on a
    command line, which other users of the machine can read.

    >>> resolve_outbox_db(environ={"TFSO_EVENTS_OUTBOX_DB": "sqlite:///app.db"})
    'sqlite:///app.db'
    """
    found = _nonempty(db) or _nonempty(_env(environ).get(OUTBOX_DB_VAR))
    if found is None:
        raise ConfigurationError(
            f"no outbox database: pass --db URL (or db=) or set {OUTBOX_DB_VAR} "
            "(postgresql://user@host/db or sqlite:///path/app.db)"
        )
    return found.strip()


def _no_userinfo(url: str, what: str) -> None:
    """Refuse a URL carrying ``user:password@``: the client logs, reprs and raises with
    its URLs, so a password there would reach all three (the URL is not repeated)."""
    if "@" in urlsplit(url).netloc:
        raise ConfigurationError(
            f"{what} carries a user:password@ part; remove it (the events API and Auth0 "
            "take the client credentials, EventBridge the AWS ones, never the URL's)"
        )


def _url(value: str, what: str, example: str = "https://login.dev.tfso.io") -> str:
    _no_userinfo(value.strip(), what)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{what} must be an http(s) URL such as {example}, got {value!r}")
    return value.strip().rstrip("/")


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_TRUE = frozenset({"1", "true", "yes", "on"})


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, setting: str, *, allow_insecure_http: bool = False) -> str:
    """Return ``url`` if a secret or a token may be sent to it: ``https``, or ``http`` to
    a loopback host (``127.0.0.0/8``, ``::1``, ``localhost``), or any ``http`` when
    ``allow_insecure_http``. Otherwise raise :class:`~tfso_events.ConfigurationError`
    naming ``setting`` (where the URL came from) and why; a URL carrying
    ``user:password@`` is refused too, without repeating it.

    >>> require_https("http://127.0.0.1:8642", "api_url")
    'http://127.0.0.1:8642'
    """
    _no_userinfo(url, setting)
    parts = urlsplit(url)
    if parts.scheme == "https" or allow_insecure_http or _is_loopback(parts.hostname):
        return url
    raise ConfigurationError(
        f"{setting} is {url!r}: plain http would send the Auth0 client secret and the "
        "bearer tokens in clear over the network; use an https URL (http is accepted only "
        "for a loopback host such as the local hub at http://127.0.0.1:8642, for the "
        f"'local' environment, or with allow_insecure_http=True / {INSECURE_HTTP_VAR}=1 "
        "on a network you trust)"
    )


def resolve_environment(
    name: str | None = None,
    *,
    auth0_domain: str | None = None,
    api_url: str | None = None,
    audience: str | None = None,
    allow_insecure_http: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Resolve ``name`` (or ``TFSO_EVENTS_ENVIRONMENT``) into an :class:`Environment`,
    applying overrides: arguments first, then ``TFSO_EVENTS_AUTH0_DOMAIN`` /
    ``TFSO_EVENTS_API_URL``, then the built-in table.

    Outside ``local``, both URLs must be ``https`` unless their host is loopback or
    ``allow_insecure_http`` (default: ``TFSO_EVENTS_ALLOW_INSECURE_HTTP`` is ``1``,
    ``true`` or ``yes``) says plain http is acceptable (:func:`require_https`).

    Raises :class:`~tfso_events.ConfigurationError` for an unknown or missing
    environment (the message lists the valid ones), an override that is not a URL, or
    a plain http URL that is not allowed (the message names the setting).
    """
    env = _env(environ)
    chosen = _nonempty(name) or _nonempty(env.get(ENVIRONMENT_VAR))
    valid = ", ".join(ENVIRONMENTS)
    if chosen is None:
        raise ConfigurationError(
            f"no environment given: pass one of {valid} or set {ENVIRONMENT_VAR}"
        )
    base = _TABLE.get(chosen.strip().lower())
    if base is None:
        raise ConfigurationError(f"unknown environment {chosen!r}; valid environments: {valid}")
    if allow_insecure_http is None:
        allow_insecure_http = (env.get(INSECURE_HTTP_VAR) or "").strip().lower() in _TRUE
    insecure = allow_insecure_http or base.name == "local"
    urls: list[str] = []
    for argument, value, variable, default in (
        ("auth0_domain", auth0_domain, AUTH0_DOMAIN_VAR, base.auth0_domain),
        ("api_url", api_url, API_URL_VAR, base.api_url),
    ):
        if _nonempty(value):
            setting, url = f"{argument}=", _url(str(value), argument)
        elif _nonempty(env.get(variable)):
            setting, url = variable, _url(env[variable], variable)
        else:
            setting, url = f"the {base.name} default", default
        urls.append(require_https(url, setting, allow_insecure_http=insecure))
    return Environment(base.name, urls[0], urls[1], _nonempty(audience) or base.audience, insecure)


def resolve_credentials(
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, Secret]:
    """The Auth0 M2M credentials: the arguments, else ``TFSO_EVENTS_CLIENT_ID`` and
    ``TFSO_EVENTS_CLIENT_SECRET``. The secret comes back wrapped in
    :class:`~tfso_events.auth.Secret`.

    Raises :class:`~tfso_events.ConfigurationError` saying how to fix it when either is
    missing.
    """
    env = _env(environ)
    cid = _nonempty(client_id) or _nonempty(env.get(CLIENT_ID_VAR))
    secret: str | Secret | None = client_secret
    if secret is None or (isinstance(secret, str) and not secret.strip()):
        secret = _nonempty(env.get(CLIENT_SECRET_VAR))
    missing = [
        what
        for what, value in (
            (f"the Auth0 application id (auth0_application_id= or {CLIENT_ID_VAR})", cid),
            (f"the Auth0 application secret (auth0_secret_id= or {CLIENT_SECRET_VAR})", secret),
        )
        if value is None
    ]
    if missing or cid is None or secret is None:
        raise ConfigurationError(
            f"missing {' and '.join(missing)}: create a machine-to-machine application in "
            "Auth0 with the events audience and pass its credentials or set the variables"
        )
    return cid.strip(), Secret.wrap(secret)


def _bus_environment_name(name: str | None, env: Mapping[str, str]) -> str:
    chosen = _nonempty(name) or _nonempty(env.get(ENVIRONMENT_VAR))
    valid = ", ".join(BUS_ENVIRONMENTS)
    if chosen is None:
        raise ConfigurationError(
            f"no bus environment given: pass bus_environment= (one of {valid}) or set "
            f"{ENVIRONMENT_VAR}"
        )
    normal = chosen.strip().lower()
    if normal not in BUS_ENVIRONMENTS:
        raise ConfigurationError(
            f"unknown bus environment {chosen!r}; valid bus environments: {valid}"
        )
    return normal


def resolve_bus_environment(
    name: str | None = None,
    *,
    endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> BusEnvironment:
    """Resolve ``name`` (or ``TFSO_EVENTS_ENVIRONMENT``, as the API client does) into the
    :class:`BusEnvironment` the EventBridge client sends to.

    ``endpoint_url``, when given, wins. In ``local`` it defaults to
    ``AWS_ENDPOINT_URL_EVENTBRIDGE``, then ``AWS_ENDPOINT_URL``, then the local hub's
    :data:`LOCAL_URL`; elsewhere to ``None`` (botocore picks AWS's endpoint, or its own
    variables).

    Raises :class:`~tfso_events.ConfigurationError` for a missing or unknown environment
    (the message lists the valid ones) or an endpoint that is not a URL.

        >>> resolve_bus_environment("local", environ={}).endpoint_url
        'http://127.0.0.1:8642'
        >>> resolve_bus_environment(environ={"TFSO_EVENTS_ENVIRONMENT": "prod"}).name
        'prod'
    """
    env = _env(environ)
    chosen = _bus_environment_name(name, env)
    endpoint = _nonempty(endpoint_url)
    if endpoint is None and chosen == "local":
        found = (_nonempty(env.get(var)) for var in BUS_ENDPOINT_VARS)
        endpoint = next((value for value in found if value), LOCAL_URL)
    return BusEnvironment(chosen, _url(endpoint, "endpoint_url", LOCAL_URL) if endpoint else None)


def validate_bus_environment(name: str) -> str:
    """Return ``name``, normalised, if it is one of :data:`BUS_ENVIRONMENTS`, else raise
    :class:`~tfso_events.ConfigurationError` listing them (see
    :func:`resolve_bus_environment`, which also reads ``TFSO_EVENTS_ENVIRONMENT``)."""
    return _bus_environment_name(name, {})


def amzn_trace_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The X-Ray trace header Lambda sets in ``_X_AMZN_TRACE_ID``, or ``None``."""
    return _nonempty(_env(environ).get(TRACE_ID_VAR))
