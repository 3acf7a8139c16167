"""A target's state, derived from its history of flights and verdicts (never edited by hand).

Events are taken in time order (a flight at its date, a verdict at its visit
date; undated verdicts first):

* a verdict sets the state to its status (no verdict yet: ``pending``);
* a sighting flown *after* an ``eradicated`` verdict reopens the target as a
  ``replant`` and starts a new round of verdicts;
* within the current round, when the latest verdicts of two crews disagree
  (one says poppy: confirmed/eradicated, the other says none: false positive/
  not found) the target is ``disputed`` until a newer verdict settles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NEGATIVE", "OPEN_STATES", "POSITIVE", "STATES", "TargetState", "VerdictEvent",
           "derive_state"]

POSITIVE = frozenset({"confirmed", "eradicated"})
NEGATIVE = frozenset({"false_positive", "not_found"})
# Every state a target can be in: the verdict statuses, plus the two the history adds.
STATES: tuple[str, ...] = ("pending", "confirmed", "false_positive", "not_found", "inaccessible",
                           "eradicated", "replant", "disputed")
# States that still need a crew: no conclusive verdict, poppy standing, replanted, or disputed.
OPEN_STATES = frozenset({"pending", "inaccessible", "confirmed", "replant", "disputed"})


@dataclass(frozen=True)
class VerdictEvent:
    """An effective verdict: status, visit time (ISO UTC or None) and crew ('' when unknown)."""

    status: str
    visited_at: str | None
    crew: str = ""


@dataclass(frozen=True)
class TargetState:
    state: str
    n_replants: int
    round_start: str | None  # flight date that opened the current round (None: the first)


def derive_state(flown_at: Sequence[str], verdicts: Sequence[VerdictEvent]) -> TargetState:
    """State of one target from the flight dates of its sightings and its effective verdicts."""
    events = [(t, 1, None) for t in flown_at] + [(v.visited_at or "", 0, v) for v in verdicts]
    events.sort(key=lambda e: (e[0], e[1]))  # same instant: the verdict first (seen *after* it)
    state, replants, round_start = "pending", 0, None
    latest_by_crew: dict[str, str] = {}
    last_verdict: VerdictEvent | None = None
    for when, is_flight, verdict in events:
        if is_flight:
            if last_verdict is not None and last_verdict.status == "eradicated" and \
                    when > (last_verdict.visited_at or ""):
                state, replants, round_start = "replant", replants + 1, when
                latest_by_crew, last_verdict = {}, None
            continue
        last_verdict = verdict
        latest_by_crew[verdict.crew] = verdict.status
        state = verdict.status
    if _disagree(latest_by_crew):
        state = "disputed"
    return TargetState(state, replants, round_start)


def _disagree(latest_by_crew: dict[str, str]) -> bool:
    says = set(latest_by_crew.values())
    return len(latest_by_crew) > 1 and bool(says & POSITIVE) and bool(says & NEGATIVE)
