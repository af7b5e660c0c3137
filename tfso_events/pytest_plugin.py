"""The tfso-events pytest plugin, registered through the ``pytest11`` entry point.

Inert unless a test asks for one of its fixtures: loading it imports pytest alone.

* ``tfso_hub`` — a fresh :class:`~tfso_events.LocalHub` on a free loopback port for
  each test (faults off, fault draws seeded), stopped afterwards;
* ``tfso_session_hub`` — one hub for the whole session (faster; events, counters and
  fault settings carry over between tests unless you reset them);
* ``tfso_env`` — points everything at ``tfso_hub`` through the environment for one
  test: both async clients, the :mod:`tfso_events.sync` facades and the CLI. Dummy AWS
  credentials, no AWS profile or config file. Restored afterwards. Its value is the
  dict of variables it set (pass it to a subprocess);
* ``tfso_route`` — a :class:`~tfso_events.testing.LocalRoute`: its own hub, rules to
  targets in the test process (an ``EventRouter``, a callable) and a blocking
  EventBridge publisher, so one test covers publisher -> hub -> rule -> router;
* ``memory_publisher`` / ``sync_memory_publisher`` — a fresh
  :class:`~tfso_events.testing.MemoryPublisher` / ``SyncMemoryPublisher``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tfso_events.local import LocalHub
    from tfso_events.testing import LocalRoute, MemoryPublisher, SyncMemoryPublisher

__all__ = [
    "hub_environment",
    "memory_publisher",
    "sync_memory_publisher",
    "tfso_env",
    "tfso_hub",
    "tfso_route",
    "tfso_session_hub",
]

#: Variables ``tfso_env`` removes so nothing of the shell's AWS set-up leaks in.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "_X_AMZN_TRACE_ID",
)


def hub_environment(url: str) -> dict[str, str]:
    """The environment variables that point every publisher at the hub at ``url``."""
    from tfso_events.environments import (
        API_URL_VAR,
        AUTH0_DOMAIN_VAR,
        CLIENT_ID_VAR,
        CLIENT_SECRET_VAR,
        ENVIRONMENT_VAR,
    )
    from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    return {
        ENVIRONMENT_VAR: "local",
        AUTH0_DOMAIN_VAR: url,
        API_URL_VAR: url,
        CLIENT_ID_VAR: DEFAULT_CLIENT_ID,
        CLIENT_SECRET_VAR: DEFAULT_CLIENT_SECRET,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _hub() -> LocalHub:
    from tfso_events.local import LocalHub

    return LocalHub(seed=0)


@pytest.fixture
def tfso_hub() -> Iterator[LocalHub]:
    """A fresh local hub for this test, on a free 127.0.0.1 port (faults off, seeded);
    ``tfso_hub.url`` is its Auth0 domain, events API and EventBridge endpoint at once."""
    with _hub() as hub:
        yield hub


@pytest.fixture(scope="session")
def tfso_session_hub() -> Iterator[LocalHub]:
    """One local hub for the whole test session (call ``clear()`` and
    ``faults.reset()`` yourself where a test needs a clean one)."""
    with _hub() as hub:
        yield hub


@pytest.fixture
def tfso_env(tfso_hub: LocalHub) -> Iterator[dict[str, str]]:
    """Point both publishers, the sync facades and the CLI at ``tfso_hub`` through the
    environment (``TfsoEventApiClient()`` needs no arguments then; use
    ``TfsoEventBridgeClient("dev")``, whose endpoint botocore reads from
    ``AWS_ENDPOINT_URL_EVENTBRIDGE``). Everything is restored after the test."""
    variables = hub_environment(tfso_hub.url)
    with pytest.MonkeyPatch.context() as patch:
        for name in _CLEARED:
            patch.delenv(name, raising=False)
        for name, value in variables.items():
            patch.setenv(name, value)
        yield variables


@pytest.fixture
def tfso_route() -> Iterator[LocalRoute]:
    """A hub of its own with rules to targets in this process, and a blocking publisher
    at it: ``tfso_route.rule(pattern, router)``, then ``tfso_route.publish(event)``
    returns once the router has handled what matched (see
    :class:`~tfso_events.testing.LocalRoute`)."""
    from tfso_events.testing import LocalRoute

    with LocalRoute() as route:
        yield route


@pytest.fixture
def memory_publisher() -> MemoryPublisher:
    """A fresh :class:`~tfso_events.testing.MemoryPublisher` for this test."""
    from tfso_events.testing import MemoryPublisher

    return MemoryPublisher()


@pytest.fixture
def sync_memory_publisher() -> Iterator[SyncMemoryPublisher]:
    """A fresh :class:`~tfso_events.testing.SyncMemoryPublisher`, closed after the test."""
    from tfso_events.testing import SyncMemoryPublisher

    with SyncMemoryPublisher() as publisher:
        yield publisher
