"""Event models, one module per event. Import an event's classes from its module::

from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
"""
