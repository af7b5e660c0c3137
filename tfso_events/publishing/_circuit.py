"""The circuit of one client: when its target stops answering, one probe at a time.

Every publish of a client (its coalesced ``publish()`` batches and its
``publish_many`` calls) shares one :class:`Circuit`. While the target answers, the
circuit costs one attribute read per send. When it stops answering, the pending
publishes stop retrying on their own: they wait, one send at a time probes the target
with a growing delay, and the first answer lets them all go again. The log gets one
line per change of state, never one per retry.

The circuit also keeps the client's *progress*, the moment it last had an entry
accepted: the retry deadline (``RetryPolicy.deadline``) counts from it, so a backlog
queued behind a slow but healthy target is not failed for the time it waits its turn.

Pure Python (asyncio, logging): importing it costs nothing at cold start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
import time
from collections.abc import Callable

from tfso_events._clip import clip

__all__ = ["Circuit", "Turn"]

log = logging.getLogger("tfso_events.publishing")


class Turn(enum.Enum):
    """What :meth:`Circuit.admit` grants: a plain send, or the probe of a down target."""

    SEND = "send"
    PROBE = "probe"


class Circuit:
    """Whether a client's target answers, shared by every publish of the client.

    **Down** means: ``DOWN_AFTER`` (5) sends in a row failed without an answer that
    shows the target is there, with no answer in between from any publish of the
    client. Such a failure is a refused or dropped connection, a timeout, or a 5xx /
    whole-call server error (a ``RetryableCallError`` that is not throttling). Any
    answer (an entry accepted or refused, a throttling answer: the target is there,
    only busy) resets the count.

    **While down**, no send goes out but the probe: one send at a time, first after
    ``PROBE_DELAY`` (0.25 s), the delay doubling after each failed probe up to
    ``MAX_PROBE_DELAY`` (5 s), each drawn in ``[delay/2, delay]`` so that many
    processes do not probe in step. The probe is the batch of whichever publish asks
    first once the delay has passed. An answer to it brings the circuit **up** and
    releases every waiting publish; a failure schedules the next probe. Publishes wait
    in :meth:`admit` under their own retry deadline, so one whose budget runs out
    during an outage is reported failed with the last failure as its reason.

    Logged on ``tfso_events.publishing``, each a WARNING, one per change of state: the
    target went down; it is still down, with how many events wait (at most every
    ``REPORT_EVERY``, 60 s); it is back up, after how long. WARNING for "back up" too,
    so that a log kept at WARNING shows where each outage ended.
    """

    DOWN_AFTER = 5
    PROBE_DELAY = 0.25
    MAX_PROBE_DELAY = 5.0
    REPORT_EVERY = 60.0

    __slots__ = (
        "_changed",
        "_clock",
        "_down_probes",
        "_down_since",
        "_failed_probes",
        "_last_code",
        "_last_failure",
        "_next_probe",
        "_probing",
        "_reported",
        "_streak",
        "_waiting",
        "last_progress",
        "queued",
        "target",
    )

    def __init__(self, target: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = target
        """What the client sends to, as the log names it (``EventBridge at ...``)."""
        self.last_progress = -math.inf
        """``clock()`` when the client last had an entry accepted (``-inf``: never)."""
        self._clock = clock
        self._streak = 0  # down-failures in a row, with no answer in between
        self._down_since: float | None = None
        self._probing = False  # a probe is out
        self._next_probe = 0.0  # when the next probe may go
        self._failed_probes = 0  # since the client was made (waiters count their own)
        self._down_probes = 0  # failed probes of this outage (the probe delay grows)
        self._reported = 0.0  # when "down" or "still down" was last logged
        self._last_failure = ""
        self._last_code = ""
        self._waiting = 0  # entries waiting in admit()
        self.queued = 0
        """Entries of the client's publishes not yet taken by one of their senders
        (kept by ``deliver()``): while the target is down they wait for it too."""
        self._changed: asyncio.Event | None = None  # set (and replaced) on each change

    @property
    def up(self) -> bool:
        """``True`` unless the target is down (the hot path reads only this)."""
        return self._down_since is None

    @property
    def waiting(self) -> int:
        """Entries waiting for the target to answer again (in :meth:`admit`, or
        :attr:`queued` for a sender)."""
        return self._waiting + self.queued

    @property
    def failed_probes(self) -> int:
        """How many probes failed so far (a waiting entry counts each as one try)."""
        return self._failed_probes

    @property
    def last_failure(self) -> str:
        """The last failure that counted towards (or kept) the circuit down, as
        ``"<code>: <message>"`` (``""``: none yet)."""
        return self._last_failure

    @property
    def last_code(self) -> str:
        """The code of :attr:`last_failure` (``connection_error``, ``http_503``, ...)."""
        return self._last_code

    def progress(self) -> None:
        """An entry was accepted."""
        self.last_progress = self._clock()

    async def admit(
        self, entries: int, give_up_at: Callable[[], float], tries_left: int | None = None
    ) -> Turn | None:
        """Wait until a send of ``entries`` may go. :attr:`Turn.SEND` when the target is
        up; :attr:`Turn.PROBE` when this send is the probe (then report its fate with
        :meth:`answered`, :meth:`failed` or :meth:`release`); ``None`` when
        ``give_up_at()`` (re-read while waiting) passes first, or when ``tries_left``
        probes failed while this send waited (each failed probe stands for one try of
        every waiting entry)."""
        seen = self._failed_probes
        while True:
            if self._down_since is None:
                return Turn.SEND
            now = self._clock()
            if tries_left is not None and self._failed_probes - seen >= tries_left:
                return None
            if not self._probing and now >= self._next_probe:
                self._probing = True
                return Turn.PROBE
            remaining = give_up_at() - now
            if remaining <= 0:
                return None
            wait = remaining if self._probing else min(remaining, self._next_probe - now)
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            self._waiting += entries
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                pass  # the probe's time has come, or the budget ran out: look again
            finally:
                self._waiting -= entries

    def answered(self, turn: Turn) -> None:
        """The target answered a send (accepted, refused or throttled: it is there)."""
        self._streak = 0
        if self._down_since is None:
            return
        self._probing = False
        down_for = self._clock() - self._down_since
        self._down_since = None
        log.warning(
            "%s is answering again after %.1f s down; sending the %d events waiting",
            self.target,
            down_for,
            self.waiting,
        )
        self._notify()

    def failed(self, turn: Turn, code: str, why: str) -> None:
        """A send got no answer, or a 5xx: ``code`` and ``why`` (code and message) say
        which."""
        self._last_failure = why
        self._last_code = code
        now = self._clock()
        if self._down_since is None:
            self._streak += 1
            if self._streak >= self.DOWN_AFTER:
                self._down_since = self._reported = now
                self._probing = False
                self._down_probes = 0
                self._schedule(now)
                log.warning(
                    "%s is not answering (%d sends in a row failed; the last: %s): "
                    "publishes wait and one send at a time probes it; the retry deadline "
                    "still applies",
                    self.target,
                    self._streak,
                    clip(why),
                )
            return
        if turn is not Turn.PROBE:
            return  # a send that was already out when the target went down
        self._failed_probes += 1
        self._down_probes += 1
        self._probing = False
        down_for = now - self._down_since
        self._schedule(now)
        if now - self._reported >= self.REPORT_EVERY:
            self._reported = now
            log.warning(
                "%s still not answering after %.0f s, %d events waiting (the last failure: %s)",
                self.target,
                down_for,
                self.waiting,
                clip(why),
            )
        self._notify()

    def release(self, turn: Turn) -> None:
        """A send granted by :meth:`admit` did not go (its budget ran out, it was
        cancelled, or it failed in a way that tells nothing about the target): another
        publish may probe."""
        if turn is Turn.PROBE and self._probing:
            self._probing = False
            self._notify()

    def _schedule(self, now: float) -> None:
        delay = min(self.MAX_PROBE_DELAY, self.PROBE_DELAY * 2 ** min(self._down_probes, 30))
        self._next_probe = now + random.uniform(delay / 2, delay)

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
