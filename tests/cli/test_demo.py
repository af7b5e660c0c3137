"""`tfso-events demo`: every publisher into an embedded hub, checked end to end."""

from __future__ import annotations

from tests.cli.conftest import clean_env, run
from tfso_events.examples import sample_events

# Whatever a developer's shell says, the demo must use its own hub and nothing else.
_HOSTILE = {
    "AWS_ENDPOINT_URL_EVENTBRIDGE": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
    "AWS_SESSION_TOKEN": "expired",
    "AWS_DEFAULT_REGION": "us-gov-west-1",
    "AWS_REGION": "us-gov-west-1",
    "AWS_PROFILE": "no-such-profile",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "TFSO_EVENTS_ENVIRONMENT": "prod",
    "TFSO_EVENTS_API_URL": "http://127.0.0.1:9",
    "TFSO_EVENTS_AUTH0_DOMAIN": "http://127.0.0.1:9",
    "TFSO_EVENTS_CLIENT_ID": "someone-else",
    "TFSO_EVENTS_CLIENT_SECRET": "their-secret",
}


async def test_demo_delivers_every_sample_event_every_way() -> None:
    """`demo` exits 0, shows each sample event arriving by both doors from all four
    publishers and from the outbox's relay (EventBridge), parsed back into its class,
    and ends with an OK summary."""
    done = await run("demo", within=90)
    assert done.code == 0, done.out + done.err
    events = sample_events()
    table = done.out.split("What the hub received", 1)[1]
    for event in events:
        for via, ways in (("api", 2), ("eventbridge", 3)):
            rows = [line for line in table.splitlines() if f" {event.detail_type} " in line]
            assert sum(f" {via} " in row for row in rows) == ways, (event.detail_type, via)
        assert type(event).__name__ in table
    assert f"(outbox: {len(events)} orders committed, 0 events left in the outbox)" in done.out
    summary = done.out.strip().splitlines()[-1]
    n = 5 * len(events)
    api, bridge = 2 * len(events), 3 * len(events)
    assert summary.startswith(
        f"demo: OK: {n} of {n} events arrived (api {api}, eventbridge {bridge})"
    )
    assert "Traceback" not in done.err


async def test_demo_ignores_the_shells_aws_and_tfso_variables() -> None:
    """AWS_* and TFSO_EVENTS_* pointing elsewhere (or at a missing profile) change
    nothing: the demo still talks only to its own hub and succeeds."""
    done = await run("demo", env=clean_env(**_HOSTILE), within=90)
    assert done.code == 0, done.out + done.err
    assert "demo: OK: " in done.out
