"""Environments, URL overrides and credentials: the one place environment variables are read."""

from __future__ import annotations

from typing import Any

import pytest

from tfso_events import ConfigurationError, TfsoEventBridgeClient
from tfso_events.auth import Secret
from tfso_events.environments import (
    AUDIENCE,
    BUS_ENVIRONMENTS,
    ENVIRONMENTS,
    amzn_trace_id,
    require_https,
    resolve_bus_environment,
    resolve_credentials,
    resolve_environment,
    validate_bus_environment,
)


@pytest.mark.parametrize(
    ("name", "domain", "api"),
    [
        ("dev", "https://login.dev.tfso.io", "https://events.api.dev.tfso.io"),
        ("pre-prod", "https://login.24sevenoffice.com", "https://events.api.pre-prod.tfso.io"),
        ("prod", "https://login.24sevenoffice.com", "https://events.api.tfso.io"),
        ("local", "http://127.0.0.1:8642", "http://127.0.0.1:8642"),
    ],
)
def test_builtin_environments(name: str, domain: str, api: str) -> None:
    """Each environment maps to its Auth0 tenant, events API and the events audience."""
    env = resolve_environment(name, environ={})
    assert (env.name, env.auth0_domain, env.api_url, env.audience) == (name, domain, api, AUDIENCE)
    assert env.token_url == f"{domain}/oauth/token"
    assert env.events_url == f"{api}/events"


def test_unknown_environment_lists_the_valid_ones() -> None:
    """An unknown environment is a ConfigurationError naming every valid one."""
    with pytest.raises(ConfigurationError) as info:
        resolve_environment("staging", environ={})
    message = str(info.value)
    assert "'staging'" in message
    assert all(name in message for name in ENVIRONMENTS)


def test_missing_environment_names_the_variable() -> None:
    """No argument and no TFSO_EVENTS_ENVIRONMENT is an error that says how to fix it."""
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_ENVIRONMENT"):
        resolve_environment(None, environ={})


def test_environment_variables_fill_in_and_arguments_win() -> None:
    """Arguments beat environment variables, which beat the built-in table."""
    environ = {
        "TFSO_EVENTS_ENVIRONMENT": "dev",
        "TFSO_EVENTS_AUTH0_DOMAIN": "http://127.0.0.1:9001/",
        "TFSO_EVENTS_API_URL": "http://127.0.0.1:9002",
    }
    from_vars = resolve_environment(environ=environ)
    assert (from_vars.name, from_vars.auth0_domain, from_vars.api_url) == (
        "dev",
        "http://127.0.0.1:9001",
        "http://127.0.0.1:9002",
    )
    from_args = resolve_environment(
        "prod", auth0_domain="https://a.example", api_url="https://b.example/", environ=environ
    )
    assert (from_args.name, from_args.auth0_domain, from_args.api_url) == (
        "prod",
        "https://a.example",
        "https://b.example",
    )


def test_override_must_be_a_url() -> None:
    """An override that is not an http(s) URL is refused, naming the setting."""
    with pytest.raises(ConfigurationError, match="auth0_domain"):
        resolve_environment("dev", auth0_domain="login.dev.tfso.io", environ={})


def test_credentials_from_arguments_or_variables() -> None:
    """Credentials come from the arguments, else the variables; the secret is wrapped."""
    cid, secret = resolve_credentials("id-1", "sec-1", environ={})
    assert (cid, secret.reveal(), repr(secret)) == ("id-1", "sec-1", "***")
    environ = {"TFSO_EVENTS_CLIENT_ID": "id-2", "TFSO_EVENTS_CLIENT_SECRET": "sec-2"}
    cid, secret = resolve_credentials(environ=environ)
    assert (cid, secret.reveal()) == ("id-2", "sec-2")
    cid, secret = resolve_credentials(None, Secret("sec-3"), environ=environ)
    assert (cid, secret.reveal()) == ("id-2", "sec-3")


def test_missing_credentials_say_how_to_fix() -> None:
    """Missing credentials name both the argument and the variable to set."""
    with pytest.raises(ConfigurationError) as info:
        resolve_credentials("id-only", None, environ={})
    message = str(info.value)
    assert "auth0_secret_id=" in message
    assert "TFSO_EVENTS_CLIENT_SECRET" in message
    assert "TFSO_EVENTS_CLIENT_ID" not in message


def test_bus_environments() -> None:
    """dev, pre-prod, prod and local are bus environments; anything else lists them,
    without mentioning a 'local' nobody passed."""
    assert [validate_bus_environment(name) for name in BUS_ENVIRONMENTS] == list(BUS_ENVIRONMENTS)
    with pytest.raises(ConfigurationError, match="dev, pre-prod, prod, local") as info:
        validate_bus_environment("production")
    assert "instead of using" not in str(info.value)


def test_bus_environment_comes_from_tfso_events_environment() -> None:
    """Without an argument the bus environment is TFSO_EVENTS_ENVIRONMENT, as for the API
    client; the argument wins; neither is a ConfigurationError saying how to give one."""
    assert resolve_bus_environment(environ={"TFSO_EVENTS_ENVIRONMENT": "pre-prod"}).name == (
        "pre-prod"
    )
    assert resolve_bus_environment("Prod ", environ={"TFSO_EVENTS_ENVIRONMENT": "dev"}).name == (
        "prod"
    )
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_ENVIRONMENT"):
        resolve_bus_environment(environ={})


def test_local_bus_environment_finds_the_hub() -> None:
    """local sends to AWS_ENDPOINT_URL_EVENTBRIDGE, else AWS_ENDPOINT_URL, else the
    default hub; an explicit endpoint_url wins; the AWS environments leave it to botocore."""
    assert resolve_bus_environment("local", environ={}).endpoint_url == "http://127.0.0.1:8642"
    both = {"AWS_ENDPOINT_URL_EVENTBRIDGE": "http://127.0.0.1:9/", "AWS_ENDPOINT_URL": "http://x"}
    assert resolve_bus_environment("local", environ=both).endpoint_url == "http://127.0.0.1:9"
    assert (
        resolve_bus_environment("local", environ={"AWS_ENDPOINT_URL": "http://127.0.0.1:7"})
    ).endpoint_url == "http://127.0.0.1:7"
    assert (
        resolve_bus_environment("local", endpoint_url="http://127.0.0.1:5", environ=both)
    ).endpoint_url == "http://127.0.0.1:5"
    assert resolve_bus_environment("prod", environ=both).endpoint_url is None
    with pytest.raises(ConfigurationError, match="endpoint_url must be an http"):
        resolve_bus_environment("dev", endpoint_url="127.0.0.1:8642", environ={})


def test_amzn_trace_id() -> None:
    """The X-Ray trace id is read from _X_AMZN_TRACE_ID, None when unset or empty."""
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert amzn_trace_id({"_X_AMZN_TRACE_ID": trace}) == trace
    assert amzn_trace_id({"_X_AMZN_TRACE_ID": ""}) is None
    assert amzn_trace_id({}) is None


def test_client_class_is_cheap_to_import() -> None:
    """Importing tfso_events and resolving TfsoEventApiClient loads neither aiohttp nor
    authlib; they load on the first request."""
    import subprocess
    import sys

    code = (
        "import sys, tfso_events\n"
        "tfso_events.TfsoEventApiClient\n"
        "import tfso_events.auth, tfso_events.environments\n"
        "print(sorted(m for m in ('aiohttp', 'authlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- plain http (issue 24, item 2) -----------------------------------------------------


@pytest.mark.parametrize("name", ["dev", "pre-prod", "prod"])
@pytest.mark.parametrize(
    ("argument", "variable"),
    [("auth0_domain", "TFSO_EVENTS_AUTH0_DOMAIN"), ("api_url", "TFSO_EVENTS_API_URL")],
)
def test_plain_http_outside_loopback_is_refused(name: str, argument: str, variable: str) -> None:
    """dev/pre-prod/prod with an http Auth0 domain or API URL on a network host is a
    ConfigurationError naming the setting it came from (argument or variable) and why."""
    url = "http://events.example.com"
    with pytest.raises(ConfigurationError) as by_argument:
        resolve_environment(name, **{argument: url}, environ={})
    assert f"{argument}=" in str(by_argument.value)
    assert "in clear" in str(by_argument.value)
    with pytest.raises(ConfigurationError) as by_variable:
        resolve_environment(name, environ={variable: url})
    assert variable in str(by_variable.value)
    assert "TFSO_EVENTS_ALLOW_INSECURE_HTTP" in str(by_variable.value)


def test_the_api_client_refuses_plain_http_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    """TfsoEventApiClient("prod") with TFSO_EVENTS_AUTH0_DOMAIN / TFSO_EVENTS_API_URL on
    plain http is refused before any network call, naming the variable."""
    from tfso_events import TfsoEventApiClient

    monkeypatch.delenv("TFSO_EVENTS_ALLOW_INSECURE_HTTP", raising=False)
    monkeypatch.setenv("TFSO_EVENTS_AUTH0_DOMAIN", "http://login.example.com")
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_AUTH0_DOMAIN"):
        TfsoEventApiClient("prod", "id", "secret")
    monkeypatch.delenv("TFSO_EVENTS_AUTH0_DOMAIN")
    monkeypatch.setenv("TFSO_EVENTS_API_URL", "http://events.example.com")
    with pytest.raises(ConfigurationError, match="TFSO_EVENTS_API_URL"):
        TfsoEventApiClient("prod", "id", "secret")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8642",
        "http://127.9.9.9",
        "http://[::1]:8642",
        "http://localhost:8642",
        "https://events.example.com",
    ],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    """https anywhere, and http to a loopback host (the local hub), are accepted in prod."""
    env = resolve_environment("prod", auth0_domain=url, api_url=url, environ={})
    assert (env.auth0_domain, env.api_url, env.allow_insecure_http) == (url, url, False)


def test_local_environment_takes_http_anywhere() -> None:
    """The local environment is the local hub, wherever it runs (http://hub:8642 in a
    compose network): plain http is accepted there."""
    env = resolve_environment("local", environ={"TFSO_EVENTS_API_URL": "http://hub:8642"})
    assert env.api_url == "http://hub:8642"
    assert env.allow_insecure_http


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_the_insecure_opt_in(value: str) -> None:
    """allow_insecure_http=True or TFSO_EVENTS_ALLOW_INSECURE_HTTP accepts plain http
    (and "0" or an explicit False does not)."""
    url = "http://events.example.com"
    by_variable = resolve_environment(
        "dev", api_url=url, environ={"TFSO_EVENTS_ALLOW_INSECURE_HTTP": value}
    )
    assert by_variable.api_url == url
    assert resolve_environment("dev", api_url=url, allow_insecure_http=True, environ={})
    with pytest.raises(ConfigurationError):
        resolve_environment("dev", api_url=url, environ={"TFSO_EVENTS_ALLOW_INSECURE_HTTP": "0"})
    with pytest.raises(ConfigurationError):
        resolve_environment(
            "dev",
            api_url=url,
            allow_insecure_http=False,
            environ={"TFSO_EVENTS_ALLOW_INSECURE_HTTP": value},
        )


def test_token_provider_refuses_plain_http() -> None:
    """A TokenProvider built directly refuses a plain http Auth0 domain on a network host
    (the secret would be posted in clear), unless allowed; loopback is fine."""
    from tfso_events.auth import TokenProvider

    with pytest.raises(ConfigurationError, match="auth0_domain"):
        TokenProvider("http://login.example.com", "id", "secret")
    assert TokenProvider("http://127.0.0.1:9", "id", "secret").auth0_domain
    allowed = TokenProvider("http://login.example.com", "id", "secret", allow_insecure_http=True)
    assert allowed.auth0_domain == "http://login.example.com"


@pytest.mark.parametrize(
    ("make", "url"),
    [
        (lambda u: resolve_environment("dev", api_url=u), "https://svc:hunter2pw@events.example/"),
        (lambda u: resolve_environment("dev", auth0_domain=u), "http://svc:hunter2pw@10.0.0.9"),
        (lambda u: resolve_bus_environment("dev", endpoint_url=u), "http://u:hunter2pw@10.1.2.3"),
        (lambda u: require_https(u, "auth0_domain"), "http://u:hunter2pw@10.1.2.3"),
        (lambda u: TfsoEventBridgeClient("dev", endpoint_url=u), "https://u:hunter2pw@eb.example"),
    ],
)
def test_a_url_carrying_a_password_is_refused_without_echoing_it(make: Any, url: str) -> None:
    """An endpoint, API or Auth0 URL with user:password@ in it is a ConfigurationError
    that never repeats the password (it would reach logs, reprs and errors otherwise)."""
    with pytest.raises(ConfigurationError) as info:
        make(url)
    assert "hunter2pw" not in str(info.value)
    assert "user:password@" in str(info.value)
