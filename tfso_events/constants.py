"""Constants shared with the TS and .NET packages: modules, sources and detail-types.

They are ``StrEnum``s, so each member *is* its wire string and works anywhere a ``str``
does (CDK event patterns, comparisons with envelope fields)::

    >>> from tfso_events import DetailTypes, TfsoModules, TfsoSources
    >>> TfsoModules.Bank == "bank"
    True
    >>> f"tfso-{TfsoModules.Bank}-events"
    'tfso-bank-events'
    >>> str(DetailTypes.BankTransactionCreatedV1)
    'bank.transaction:created@v1'
    >>> TfsoSources.BankTransfer.value
    'com.24sevenoffice.banktransfer'
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DetailTypes", "TfsoModules", "TfsoSources"]


class TfsoModules(StrEnum):
    """Event Hub modules. A module is also the Auth0 scope that allows publishing its
    events and the middle of its default bus name (``tfso-{module}-events``)."""

    Bank = "bank"
    Crm = "crm"


class TfsoSources(StrEnum):
    """The ``source`` of events, one per producing system."""

    BankTransfer = "com.24sevenoffice.banktransfer"


class DetailTypes(StrEnum):
    """Every detail-type in the catalog, named ``<module>.<entity>:<verb>@v<n>``."""

    BankTestCreatedV1 = "bank.test:created@v1"
    BankTransactionCreatedV1 = "bank.transaction:created@v1"
    BankTransactionDeletedV1 = "bank.transaction:deleted@v1"
    BankTransactionStatusChangedV1 = "bank.transaction:statuschanged@v1"
