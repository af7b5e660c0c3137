"""The committed event pages under docs/events/ are exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

from tfso_events import event_classes
from tfso_events.cli._docgen import render_event_page, render_index

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_event_pages_are_current() -> None:
    """Each event page matches its regenerated text (run `tfso-events docs` to refresh)."""
    for cls in event_classes():
        page = DOCS / f"{cls.__module__.rsplit('.', 1)[-1]}.md"
        assert page.read_text(encoding="utf-8") == render_event_page(cls), page.name


def test_event_index_is_current() -> None:
    """docs/events/README.md lists every event (run `tfso-events docs` to refresh)."""
    assert (DOCS / "README.md").read_text(encoding="utf-8") == render_index()


def test_pages_follow_the_seed_table_form() -> None:
    """Pages carry the seed's property table columns and nested rows marked with »."""
    page = (DOCS / "bank_transaction_status_changed_v1.md").read_text(encoding="utf-8")
    assert "| Name | Type | Required | Restrictions | Description |" in page
    assert "| » new | string | true | none |" in page
    assert "| text | approved |" in page
    assert "| text | created |" not in page
