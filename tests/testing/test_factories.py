"""build(): a valid event from its example, with overrides by attribute path."""

from __future__ import annotations

import pytest

from tfso_events import event_classes as catalog
from tfso_events.examples import sample_events
from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.models.bank_transaction_created_v1 import BankTransactionCreatedV1Event
from tfso_events.testing import build, example


@pytest.mark.parametrize("cls", catalog(), ids=lambda cls: cls.detail_type)
def test_build_without_overrides_is_the_valid_example(cls: type) -> None:
    """For every catalog class build(cls) is a valid event equal to its sample, and a
    fresh object each call."""
    event = build(cls)
    event.validate()
    sample = next(e for e in sample_events() if type(e) is cls)
    assert event == sample
    assert build(cls) is not build(cls)


def test_overrides_by_path_change_only_that_field() -> None:
    """content__status__code reaches into the detail; the rest stays the example's."""
    event = build(BankTransactionCreatedV1Event, content__status__code=200)
    base = example(BankTransactionCreatedV1Event)
    assert event.detail.content.status.code == 200
    assert event.detail.content.transaction_id == base.detail.content.transaction_id
    assert base.detail.content.status.code == 100  # the example itself is untouched
    event.validate()


def test_paths_rooted_at_the_event_and_into_dicts() -> None:
    """A path may start at the event (resources, detail__...), and set metadata keys."""
    event = build(
        BankTestCreatedV1Event,
        resources=["arn:x"],
        detail__content__first_name="Ada",
        metadata={"a": {"b": 1}},
        metadata__a__c=2,
    )
    assert event.resources == ["arn:x"]
    assert event.detail.content.first_name == "Ada"
    assert event.detail.metadata == {"a": {"b": 1, "c": 2}}


def test_unknown_path_names_the_fields_there_are() -> None:
    """A misspelt name raises TypeError listing the attributes of that object."""
    with pytest.raises(TypeError, match=r"'content__statsu'.*has no attribute 'statsu'.*status"):
        build(BankTransactionCreatedV1Event, content__statsu=1)


def test_build_does_not_validate_so_invalid_events_can_be_made() -> None:
    """An override of the wrong type gives an event that fails validate() at its path."""
    event = build(BankTransactionCreatedV1Event, content__status__code="x")
    with pytest.raises(ValueError, match=r"content\.status\.code"):
        event.validate()
