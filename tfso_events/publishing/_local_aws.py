"""How an EventBridge client in the ``local`` environment reaches the local hub without
the user's AWS configuration.

The hub accepts any AWS credentials and region. ``TfsoEventBridgeClient("local")`` gets
fixed dummy ones in a botocore session that reads no ``AWS_*`` variable and no
``~/.aws`` file, so it (and ``tfso-events demo`` and ``publish --env local``) behaves
the same in every shell (an ``AWS_PROFILE`` naming a missing profile would otherwise
stop botocore) and nothing of the user's real credentials is ever sent, even to loopback.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aioboto3
    import botocore.session

__all__ = ["LOCAL_REGION", "local_aws_session", "local_botocore_session"]

#: The region a ``local`` client uses unless given ``region_name``.
LOCAL_REGION = "eu-west-1"


def _blind(session_class: Any) -> Any:
    """A botocore session of ``session_class`` that reads no ``AWS_*`` variable and no
    shared config or credentials file."""
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

    # Each session variable keeps its config-file name and default, loses its variable.
    without_env = {
        name: (config_name, None, default, convert)
        for name, (config_name, _variable, default, convert) in (
            BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
        )
    }
    session = session_class(session_vars=without_env)
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return session


def local_botocore_session(region: str = LOCAL_REGION) -> botocore.session.Session:
    """A plain botocore session with dummy credentials and ``region``, blind to the AWS
    configuration: what the lean transport resolves from (no aioboto3 import)."""
    import botocore.session

    session: botocore.session.Session = _blind(botocore.session.Session)
    session.set_credentials("local", "local")
    session.set_config_variable("region", region)
    return session


def local_aws_session(region: str = LOCAL_REGION) -> aioboto3.Session:
    """An aioboto3 session with dummy credentials and ``region``, blind to ``AWS_*``
    variables and to the shared config and credentials files."""
    import aioboto3
    from aiobotocore.session import AioSession

    botocore_session = _blind(AioSession)
    return aioboto3.Session(
        botocore_session=botocore_session,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name=region,
    )
