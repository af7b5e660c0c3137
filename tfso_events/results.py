"""The outcome of a publish: :class:`PublishResult`, :class:`PublishFailure`, :class:`BatchResult`.

Plain frozen dataclasses every layer speaks (the publishers, the sync facade, the CLI and
:class:`~tfso_events.PublishError`, which carries a :class:`BatchResult`), on the ground
floor of the package so none of them imports the delivery core to name a result.
Re-exported by :mod:`tfso_events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from tfso_events.errors import publish_error

if TYPE_CHECKING:
    from tfso_events.models._base import TfsoEvent

__all__ = ["BatchResult", "OnResult", "PublishFailure", "PublishResult"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    """An event the hub accepted: its ``event_id``, ``detail_type`` and how many
    ``attempts`` it took (1 when the first send succeeded)."""

    event_id: str
    detail_type: str
    attempts: int = 1
    index: int = 0

    @property
    def ok(self) -> bool:
        """Always ``True``: this event was delivered."""
        return True


@dataclass(frozen=True, slots=True)
class PublishFailure:
    """An event that failed for good.

    ``index`` is its position in the input, ``event`` the event itself (ready to resend),
    ``error`` the exception that explains why, ``code`` the transport's error code
    (``ThrottlingException``, ``MalformedDetail``, ``http_503``, ...) when there is one.
    """

    index: int
    event: TfsoEvent
    error: Exception
    code: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """Always ``False``: this event was not delivered."""
        return False

    @property
    def reason(self) -> str:
        """A one-line explanation: the code (if any) and the error message."""
        return f"{self.code}: {self.error}" if self.code else str(self.error)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of ``publish_many``: one entry per input event, in input order.

    ``results[i]`` is a :class:`PublishResult` or a :class:`PublishFailure`; ``failed``
    lists only the failures; ``ok`` is ``True`` when every event was delivered.
    """

    results: tuple[PublishResult | PublishFailure, ...]
    failed: tuple[PublishFailure, ...] = field(default=())

    @classmethod
    def of(cls, results: Iterable[PublishResult | PublishFailure]) -> BatchResult:
        """Build from per-event outcomes in input order."""
        items = tuple(results)
        return cls(items, tuple(r for r in items if isinstance(r, PublishFailure)))

    @property
    def ok(self) -> bool:
        """``True`` when no event failed."""
        return not self.failed

    @property
    def succeeded(self) -> tuple[PublishResult, ...]:
        """The delivered events' results, in input order."""
        return tuple(r for r in self.results if isinstance(r, PublishResult))

    @property
    def event_ids(self) -> list[str | None]:
        """Per input event, its id, or ``None`` where it failed."""
        return [r.event_id if isinstance(r, PublishResult) else None for r in self.results]

    def __len__(self) -> int:
        return len(self.results)

    def raise_on_failure(self) -> BatchResult:
        """Raise :class:`~tfso_events.PublishError` carrying this result if any failed."""
        if self.failed:
            first = self.failed[0]
            raise publish_error(
                f"{len(self.failed)} of {len(self.results)} events failed "
                f"(first: #{first.index} {first.event.detail_type}: {first.reason})",
                self,
                [failure.error for failure in self.failed],
            )
        return self


OnResult: TypeAlias = Callable[[PublishResult | PublishFailure], object]
"""The ``on_result=`` callback of ``publish_many``: called with each event's outcome the
moment it is final, once per event, in the order answers arrive (not input order)."""
