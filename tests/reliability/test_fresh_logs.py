"""No secret in any log record, each entry point checked in a fresh interpreter.

The suite-wide check (``tests/conftest.py``) runs in one process, where a log filter
installed by an earlier test (botocore's redaction, say) stays installed and can hide a
leak of an entry point that forgot to install it. Here each entry point runs alone in a
new ``python`` process with every logger at DEBUG and temporary AWS credentials
(``AWS_SESSION_TOKEN``) in its environment, against real servers on 127.0.0.1 (the
local hub, moto's server); the child hands back every record it saw, and none may show
the session token, the secret access key, the Auth0 secret or an access token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.reliability.leaks import find_leaks, watch_secret
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub

SESSION_TOKEN = watch_secret("fresh-session-token-IQoJb3JpZ2luX2VjEPr9876543210")
SECRET_KEY = watch_secret("fresh-secret-access-key-0a9b8c7d6e5f")
TABLE = "fresh-dedupe"

#: Collects every record of every logger (the root at DEBUG, and every logger that
#: exists once the package is imported set to DEBUG too), runs ``main()``, prints them.
_PRELUDE = """
import asyncio, json, logging, sys

texts = []

class _All(logging.Handler):
    def emit(self, record):
        text = f"[{record.name}] {record.getMessage()}"
        if record.exc_info:
            text += "\\n" + logging.Formatter().formatException(record.exc_info)
        texts.append(text)

logging.getLogger().addHandler(_All(logging.DEBUG))
logging.getLogger().setLevel(logging.DEBUG)

def everything_at_debug():
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)
"""

_EPILOGUE = """
everything_at_debug()
main()
print(json.dumps(texts))
"""

ENTRY_POINTS: dict[str, str] = {
    "eventbridge": """
        from tfso_events import TfsoEventBridgeClient
        from tfso_events.examples import sample_events

        def main():
            async def run():
                async with TfsoEventBridgeClient("dev", endpoint_url=HUB) as client:
                    await client.publish(sample_events()[0])
                    await client.publish_many(sample_events())
            asyncio.run(run())
    """,
    "eventbridge-botocore": """
        from tfso_events import TfsoEventBridgeClient
        from tfso_events.examples import sample_events

        def main():
            async def run():
                async with TfsoEventBridgeClient(
                    "dev", endpoint_url=HUB, transport="botocore"
                ) as client:
                    await client.publish(sample_events()[0])
                    await client.publish_many(sample_events())
            asyncio.run(run())
    """,
    "sync-eventbridge": """
        from tfso_events.sync import TfsoEventBridgeClient
        from tfso_events.examples import sample_events

        def main():
            with TfsoEventBridgeClient("dev", endpoint_url=HUB) as client:
                client.publish(sample_events()[0])
    """,
    "dynamodb-dedupe": """
        import uuid
        from tfso_events.consume import DynamoDBDedupeStore

        def main():
            async def run():
                store = DynamoDBDedupeStore(TABLE, endpoint_url=MOTO)
                one, two = f"k1-{uuid.uuid4()}", f"k2-{uuid.uuid4()}"  # fresh on each run
                claim = await store.claim(one, lease=30)
                assert claim.state == "claimed", claim
                assert await store.complete(one, claim.token, ttl=60)
                assert (await store.claim(one, lease=30)).state == "done"
                other = await store.claim(two, lease=30)
                assert await store.release(two, other.token)
                await store.aclose()
            asyncio.run(run())
    """,
    "router-with-dynamodb": """
        from tfso_events.consume import DynamoDBDedupeStore, EventRouter
        from tfso_events.examples import sample_events

        def main():
            router = EventRouter()
            seen = []
            event = sample_events()[0]
            router.on(type(event))(seen.append)
            store = DynamoDBDedupeStore(TABLE, endpoint_url=MOTO, namespace="router#")
            handler = router.handler(dedupe=store)
            envelope = {
                "version": "0", "id": "e-1", "detail-type": event.detail_type,
                "source": event.source, "account": "1", "time": "2024-01-01T00:00:00Z",
                "region": "eu-west-1", "resources": [],
                "detail": json.loads(event.detail_json()),
            }
            handler(envelope, None)
            handler(envelope, None)
            assert len(seen) == 1, seen
    """,
    "cli-publish-eventbridge": """
        import os, tempfile
        from tfso_events.cli import main as cli
        from tfso_events.examples import sample_events

        def main():
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "events.ndjson")
                with open(path, "w") as out:
                    for event in sample_events():
                        body = {"source": event.source, "detailType": event.detail_type,
                                "detail": json.loads(event.detail_json())}
                        out.write(json.dumps(body) + "\\n")
                code = cli(["publish", path, "--via", "eventbridge", "--env", "dev"])
                assert code == 0, code
    """,
    "api": """
        from tfso_events import TfsoEventApiClient
        from tfso_events.examples import sample_events

        def main():
            async def run():
                async with TfsoEventApiClient(
                    "local", CLIENT_ID, CLIENT_SECRET, api_url=HUB, auth0_domain=HUB
                ) as client:
                    await client.publish(sample_events()[0])
                    await client.publish_many(sample_events())
            asyncio.run(run())
    """,
}


#: The entry points that publish through the lean transport (the default): botocore
#: resolves their credentials, and does not sign or send their calls.
_LEAN = frozenset({"eventbridge", "sync-eventbridge", "cli-publish-eventbridge"})


@pytest.fixture(scope="module")
def hub() -> Iterator[LocalHub]:
    """A local hub in a thread, shared by the module's entry points."""
    with LocalHub() as running:
        yield running


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1 with the dedupe table; reset before and after."""
    import boto3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    def reset() -> None:
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    try:
        reset()
        boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield url
    finally:
        try:
            reset()
        finally:
            server.stop()


def _run_fresh(name: str, hub: LocalHub, moto_url: str) -> list[str]:
    """Run the entry point ``name`` in a new interpreter; return its log records."""
    values = {
        "HUB": hub.url,
        "MOTO": moto_url,
        "TABLE": TABLE,
        "CLIENT_ID": DEFAULT_CLIENT_ID,
        "CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    }
    script = (
        _PRELUDE
        + "".join(f"{key} = {value!r}\n" for key, value in values.items())
        + textwrap.dedent(ENTRY_POINTS[name])
        + _EPILOGUE
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TFSO_EVENTS_"))}
    env |= {
        "AWS_ACCESS_KEY_ID": "ASIAFRESH00000000000",
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EVENTBRIDGE": hub.url,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tempfile.gettempdir(),  # `-c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    texts: Any = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(texts, list)
    return [str(t) for t in texts]


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_no_secret_in_any_record_of_a_fresh_interpreter(
    name: str, hub: LocalHub, moto_url: str
) -> None:
    """Each entry point alone in a fresh interpreter, every logger at DEBUG, temporary
    AWS credentials set: its requests were logged (botocore's signing and sending
    records for the botocore clients; for the EventBridge publisher's default lean
    transport, botocore finding the credentials and the transport opening), and no
    record shows the session token, the secret key, the Auth0 secret or a token."""
    texts = _run_fresh(name, hub, moto_url)
    if name == "api":
        assert any(t.startswith("[tfso_events.auth]") for t in texts)
    elif name in _LEAN:
        assert any(t.startswith("[botocore.credentials] Found credentials") for t in texts)
        opened = "[tfso_events.publishing.eventbridge] opened the lean PutEvents transport"
        assert any(t.startswith(opened) for t in texts), texts[:20]
    else:
        assert any(t.startswith("[botocore.auth] CanonicalRequest") for t in texts), texts[:20]
        assert any(t.startswith("[botocore.endpoint] Sending http request") for t in texts)
    leaks = [
        (text[:60], find_leaks(text, extra=[SESSION_TOKEN, SECRET_KEY, DEFAULT_CLIENT_SECRET]))
        for text in texts
    ]
    assert [leak for leak in leaks if leak[1]] == []


def test_the_fresh_check_can_fail(hub: LocalHub, moto_url: str) -> None:
    """The check sees a leak when there is one: with the redaction turned off in the
    child, botocore's records show the session token."""
    ENTRY_POINTS["unredacted"] = ENTRY_POINTS["dynamodb-dedupe"].replace(
        "def main():",
        "from tfso_events.publishing.eventbridge import redact_botocore_logs\n"
        "        redact_botocore_logs(False)\n\n"
        "        def main():",
    )
    try:
        texts = _run_fresh("unredacted", hub, moto_url)
    finally:
        del ENTRY_POINTS["unredacted"]
    assert any(SESSION_TOKEN in t for t in texts)


def test_every_botocore_client_is_created_by_open_client() -> None:
    """No module of the package creates a botocore client but through
    ``tfso_events._botocore.open_client`` (which installs the redaction first): a later
    client cannot forget it."""
    import ast
    from pathlib import Path

    import tfso_events

    package = Path(tfso_events.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_botocore.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("client", "create_client", "resource")
            ):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []
    callers = [
        p.relative_to(package).as_posix()
        for p in sorted(package.rglob("*.py"))
        if "open_client(" in p.read_text(encoding="utf-8") and p.name != "_botocore.py"
    ]
    assert callers == ["consume/dedupe.py", "local/_bus.py", "publishing/eventbridge.py"]
