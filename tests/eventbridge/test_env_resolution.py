"""The lean transport's environment fast path against botocore's resolution.

For a matrix of environments (keys with and without a session token, every region
botocore's partitions name and made-up ones, a region argument or ``AWS_DEFAULT_REGION``
or only ``AWS_REGION``, config and credentials files, profiles, endpoint, FIPS,
dual-stack, CA bundle, data path and expiry settings, Lambda's own variables, an
explicit ``endpoint_url``), ``_resolve_from_env`` either declines or gives exactly what
``_resolve`` (botocore's session, provider chain and endpoint rules) gives: region,
endpoint, CA bundle, proxy and the frozen credentials, static, from ``env``. A fresh
process publishing with a Lambda's environment never imports botocore.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import create_loader

from tfso_events.local import LocalHub
from tfso_events.publishing._lean import _resolve, _resolve_from_env

ACCESS_KEY = "AKIAENVFAST000000000"
SECRET_KEY = "env-fast-secret-key"

_PARTITIONS = create_loader().load_data("partitions")["partitions"]
#: The regions botocore's partitions other than ``aws`` list (cn-, us-gov-, ISO, EUSC).
OTHER_PARTITIONS = {
    region
    for partition in _PARTITIONS
    if partition["id"] != "aws"
    for region in partition["regions"]
} | {"cn-future-1"}
#: Every region botocore's partitions list, and made-up ones around the patterns.
REGIONS = sorted(
    {region for partition in _PARTITIONS for region in partition["regions"]}
    | {
        "eu-future-9",
        "ap-southeast-10",
        "us-gov-1",
        "cn-future-1",
        "eu-isoe-1",
        "EU-west-1",
        "eu-West-1",
        "eu_west-1",
        "eu-west-1-",
        "eu-west",
        "local",
        "eusc-de-1",
    }
)

FEW_REGIONS = [
    "eu-west-1",
    "us-east-1",
    "mx-central-1",
    "eu-future-9",
    "us-gov-1",
    "cn-north-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "eusc-de-east-1",
    "EU-west-1",
    "aws-global",
]

TOKENS: dict[str, dict[str, str]] = {
    "no token": {},
    "session token": {"AWS_SESSION_TOKEN": "session-token-a"},
    "security token": {"AWS_SECURITY_TOKEN": "security-token-b"},
    "both tokens": {"AWS_SESSION_TOKEN": "session-token-a", "AWS_SECURITY_TOKEN": "sec-b"},
    "empty session token": {"AWS_SESSION_TOKEN": ""},
}

#: What Lambda sets besides the keys and AWS_REGION/AWS_DEFAULT_REGION.
LAMBDA = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_LAMBDA_FUNCTION_NAME": "handler",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793",
    "LAMBDA_TASK_ROOT": "/var/task",
}

CONFIG = "[default]\nregion = us-west-2\nuse_fips_endpoint = true\n"

#: name: (extra environment, files under HOME, region argument, endpoint argument)
SETTINGS: dict[str, tuple[dict[str, str], dict[str, str], str | None, str | None]] = {
    "plain": ({}, {}, None, None),
    "lambda": (LAMBDA, {}, None, None),
    "region argument": ({}, {}, "ap-south-1", None),
    "endpoint argument": ({}, {}, None, "http://127.0.0.1:4010"),
    "ca bundle": ({"AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}, {}, None, None),
    "empty ca bundle": ({"AWS_CA_BUNDLE": ""}, {}, None, None),
    "proxy": ({"HTTPS_PROXY": "http://proxy.example:3128"}, {}, None, None),
    "proxy bypassed": (
        {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "amazonaws.com"},
        {},
        None,
        None,
    ),
    "only AWS_REGION": ({"AWS_REGION": "eu-north-1"}, {}, None, None),
    "AWS_REGION differs": ({"AWS_REGION": "eu-north-1"}, {}, None, None),
    "~/.aws/config": ({}, {".aws/config": CONFIG}, None, None),
    "~/.aws/credentials": (
        {},
        {".aws/credentials": "[default]\nregion = us-west-2\naws_access_key_id = X\n"},
        None,
        None,
    ),
    "~/.aws/models": ({}, {".aws/models/README": ""}, None, None),
    "AWS_CONFIG_FILE": ({"AWS_CONFIG_FILE": "{home}/cfg"}, {"cfg": CONFIG}, None, None),
    "AWS_SHARED_CREDENTIALS_FILE": (
        {"AWS_SHARED_CREDENTIALS_FILE": "{home}/creds"},
        {"creds": "[default]\nregion = us-west-2\n"},
        None,
        None,
    ),
    "AWS_PROFILE": (
        {"AWS_PROFILE": "other", "AWS_CONFIG_FILE": "{home}/cfg"},
        {"cfg": "[profile other]\nregion = us-east-2\n"},
        None,
        None,
    ),
    "AWS_ENDPOINT_URL": ({"AWS_ENDPOINT_URL": "https://elsewhere.example"}, {}, None, None),
    "AWS_ENDPOINT_URL_EVENTBRIDGE": (
        {"AWS_ENDPOINT_URL_EVENTBRIDGE": "https://events.example"},
        {},
        None,
        None,
    ),
    "FIPS": ({"AWS_USE_FIPS_ENDPOINT": "true"}, {}, None, None),
    "dual-stack": ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, {}, None, None),
    "expiry": ({"AWS_CREDENTIAL_EXPIRATION": "2099-01-01T00:00:00Z"}, {}, None, None),
    "data path": ({"AWS_DATA_PATH": "{home}/models"}, {}, None, None),
    "account id": ({"AWS_ACCOUNT_ID": "123456789012"}, {}, None, None),
    "no secret key": ({"AWS_SECRET_ACCESS_KEY": ""}, {}, None, None),
}

#: Settings under which the fast path must answer for a standard region.
TAKEN = {"plain", "lambda", "region argument", "endpoint argument", "ca bundle", "proxy"}
TAKEN |= {"empty ca bundle", "proxy bypassed", "AWS_REGION differs"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and no AWS_* variables, proxies or trace id from the shell."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower().endswith("_proxy") or name == "_X_AMZN_TRACE_ID":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _botocore(region_name: str | None, endpoint_url: str | None) -> tuple[Any, ...] | None:
    """botocore's answer in the current environment, ``None`` when it refuses."""
    try:
        setup = _resolve(None, region_name, endpoint_url, local=False)
    except Exception:
        return None
    source = setup.credentials
    frozen = source.get_frozen_credentials()
    static = not callable(getattr(source, "refresh_needed", None))
    keys = (frozen.access_key, frozen.secret_key, frozen.token)
    return setup.region, setup.endpoint, setup.ca_bundle, setup.proxy, keys, static, source.method


def _fast(region_name: str | None, endpoint_url: str | None) -> tuple[Any, ...] | None:
    """The fast path's answer in the same shape, ``None`` when it declines."""
    setup = _resolve_from_env(region_name, endpoint_url)
    if setup is None:
        return None
    source = setup.credentials
    frozen = source.get_frozen_credentials()
    keys = (frozen.access_key, frozen.secret_key, frozen.token)
    return setup.region, setup.endpoint, setup.ca_bundle, setup.proxy, keys, True, source.method


def _standard(region: str) -> bool:
    return region in {"eu-west-1", "us-east-1", "ap-southeast-7", "mx-central-1", "eu-future-9"}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_fast_path_gives_botocores_answer_or_declines(
    setting: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Across regions and token variants, the environment fast path's credentials,
    region, endpoint, CA bundle and proxy equal botocore's, or it declines; it answers
    for standard regions in the Lambda-like settings and declines for cn-/us-gov-/ISO."""
    extra, files, region_arg, endpoint_arg = SETTINGS[setting]
    for name, text in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text)
    # Every region and token variant in the plain setting, a sample elsewhere (each
    # botocore resolution costs ~20 ms).
    regions = REGIONS if setting == "plain" else FEW_REGIONS
    taken, mismatched = [], []
    for region in regions:
        for token_name, tokens in TOKENS.items():
            sampled = setting != "plain" or region not in FEW_REGIONS
            if sampled and token_name not in {"no token", "session token"}:
                continue
            with monkeypatch.context() as env:
                env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
                env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
                if setting != "only AWS_REGION":
                    env.setenv("AWS_DEFAULT_REGION", region)
                for name, value in {**tokens, **extra}.items():
                    env.setenv(name, value.format(home=home))
                if setting in {"only AWS_REGION", "lambda"}:
                    env.setenv("AWS_REGION", region)
                fast = _fast(region_arg, endpoint_arg)
                if fast is None:
                    continue
                taken.append(region)
                expected = _botocore(region_arg, endpoint_arg)
                if fast != expected:
                    mismatched.append((region, token_name, fast, expected))
    assert not mismatched
    if setting in TAKEN:
        expected_taken = {r for r in regions if _standard(r)}
        if region_arg is not None:
            expected_taken = set(regions)  # the argument is the region, whatever the env
        assert expected_taken <= set(taken)
        if region_arg is None:
            assert not OTHER_PARTITIONS & set(taken)
    else:
        assert not taken


def test_a_fresh_lambda_process_publishes_without_importing_botocore(home: Path) -> None:
    """With a Lambda's environment, a fresh interpreter's first publish opens the lean
    transport from the environment: the event is delivered and botocore is not imported."""
    child = (
        "import asyncio, json, sys\n"
        "from tfso_events import TfsoEventBridgeClient\n"
        "from tfso_events.examples import sample_events\n"
        "async def main():\n"
        "    async with TfsoEventBridgeClient('dev', endpoint_url=sys.argv[1]) as client:\n"
        "        result = await client.publish(sample_events()[1])\n"
        "    print(json.dumps([result.event_id, 'botocore' in sys.modules]))\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(LAMBDA, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    env.update(AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1")
    env["AWS_SESSION_TOKEN"] = "lambda-session-token"
    with LocalHub() as hub:
        out = subprocess.run(
            [sys.executable, "-c", child, hub.url],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=60,
        ).stdout
        event_id, botocore_loaded = json.loads(out)
        assert event_id
        assert not botocore_loaded
        assert hub.count() == 1
