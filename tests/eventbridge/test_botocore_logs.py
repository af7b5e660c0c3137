"""botocore's DEBUG logs never show the session token a TfsoEventBridgeClient signs with
(``transport="botocore"``, the transport that makes botocore log its requests)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.local.conftest import sample_event
from tests.reliability.leaks import watch_secret
from tfso_events import TfsoEventBridgeClient
from tfso_events.local import LocalHub
from tfso_events.publishing.eventbridge import redact_botocore_logs

TOKEN = watch_secret("i13-session-token-IQoJb3JpZ2luX2VjEJr0123456789")
SECRET_KEY = watch_secret("i13-secret-access-key-9f8e7d6c5b4a")


class _Everything(logging.Handler):
    """Every record of every logger, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"[{record.name}] {record.getMessage()}")


@pytest.fixture
def debug_everything() -> Iterator[_Everything]:
    """``logging.basicConfig(level=logging.DEBUG)``, as a user debugging does: the root
    logger at DEBUG with a handler; undone afterwards."""
    root = logging.getLogger()
    handler, level = _Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        redact_botocore_logs(True)


async def _publish(hub: LocalHub) -> None:
    import aioboto3

    session = aioboto3.Session(
        aws_access_key_id="AKIAI13000000000000",
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=TOKEN,
        region_name="eu-west-1",
    )
    async with TfsoEventBridgeClient(
        "dev", endpoint_url=hub.url, session=session, transport="botocore"
    ) as client:
        await client.publish(sample_event())
        await client.publish_many([sample_event("a"), sample_event("b")])


async def test_no_log_record_shows_the_session_token(
    hub: LocalHub, debug_everything: _Everything
) -> None:
    """With every logger at DEBUG, publishing writes botocore's request and signing
    records, and none of them shows the session token or the secret key."""
    await _publish(hub)
    assert any(
        t.startswith("[botocore.endpoint] Sending http request") for t in debug_everything.texts
    )
    assert any(t.startswith("[botocore.auth] CanonicalRequest") for t in debug_everything.texts)
    leaking = [t[:80] for t in debug_everything.texts if TOKEN in t or SECRET_KEY in t]
    assert leaking == []
    assert hub.count() == 3


async def test_the_filter_can_be_turned_off(
    hub: LocalHub, debug_everything: _Everything, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``redact_botocore_logs(False)`` leaves botocore's records as botocore wrote them
    (the token is in them: this is what the filter removes)."""
    import tests.reliability.leaks as leaks

    redact_botocore_logs(False)
    # This test shows the token on purpose: keep the suite-wide watch from flagging it.
    monkeypatch.setattr(leaks, "SECRETS", leaks.SECRETS - {TOKEN, SECRET_KEY})
    await _publish(hub)
    assert any(TOKEN in t for t in debug_everything.texts)
