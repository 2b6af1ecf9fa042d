"""What each weekly figure means: one table, read by the review page's footnote, the API
schema's field descriptions (v1 and v2) and the digest's labels. The code that computes a
figure lives under its name in ``reporting.series`` (kept weeks) or ``reporting.live``;
when one changes, the other does in the same commit."""

from __future__ import annotations

from dataclasses import dataclass

from escalations.choices import SeverityKey

REVIEW_WEEKS = 13
# The shape of ReviewWeek.figures: kept weeks of another version are computed again by
# the beat (and shown as being computed until then).
ROLLUP_VERSION = 2
ALL = "all"
SEVERITY_KEYS = (ALL, *SeverityKey.values)
SEVERITY_LABELS = {ALL: "All severities", **dict(SeverityKey.choices)}
# How often the beat keeps the complete weeks: config/beat.py's keep-review-weeks
# schedule (tests/integration/test_review.py holds the two equal).
KEEP_EVERY_SECONDS = 300


@dataclass(frozen=True)
class Definition:
    key: str  # the figure's name in the engine, the kept JSON and API v2
    term: str  # how people read it: the page, the digest
    text: str  # what it counts


DEFINITIONS: tuple[Definition, ...] = (
    Definition("opened", "Cases opened",
               "real cases reported in the week, under their severity, with their ARR at risk and customer "
               "sentiment as recorded when the week was computed (by the beat, minutes after its end)."),
    Definition("tta", "Time to acknowledge (TTA)",
               "the acknowledge clock's counted time (pauses and off-hours excluded, as the clock counts it) of "
               "the cases acknowledged in the week; median and 90th percentile."),
    Definition("ttr_cycle", "Time to resolve per cycle (TTR)",
               "the counted resolve time of each resolve cycle that ended in the week; a reopened case "
               "contributes one value per cycle."),
    Definition("ttr_total", "Time to resolve per case",
               "for each case resolved in the week (a resolve cycle of it ended in the week), the counted time of "
               "all its cycles up to its last resolve in the week, reopens included."),
    Definition("adherence_ack", "Acknowledge adherence",
               "acknowledgements within target ÷ (the week's acknowledgements + its acknowledge breaches of cases "
               "still unacknowledged at the week's end)."),
    Definition("adherence_resolve", "Resolve adherence",
               "resolve cycles that met their target ÷ (the cycles that ended in the week + its resolve breaches "
               "of cycles still open at the week's end)."),
    Definition("adherence_update", "Update adherence",
               "customer updates posted on time ÷ (the week's updates + its update breaches with no update posted "
               "by the week's end). A breach therefore always lowers adherence."),
    Definition("updates", "Customer updates", "posted in the week; late: posted after the update was due."),
    Definition("breaches", "Breaches",
               "detected in the week, by clock, under the severity recorded with the breach."),
    Definition("breaches_by_cause", "Breaches by cause",
               "the week's breaches by the cause confirmed in review (largest first, with the cumulative share); "
               "'Not yet reviewed' until a cause is confirmed. Read at every view: causes are confirmed after "
               "the week."),
    Definition("reopens", "Reopens", "cases reopened in the week."),
    Definition("reopen_rate", "Reopen rate", "reopens in the week ÷ resolve cycles that ended in the week."),
    Definition("handoffs", "Handoffs",
               "offered in the week; accepted and rejected: answered so in the week, whenever offered."),
    Definition("ping_pong", "Ping-pong",
               "handoffs offered in the week that send the case back to a person or team it left by an accepted "
               "handoff within the 24 hours before the offer (the person named, the team named, or whoever "
               "accepted it); the rate is ÷ the handoffs offered. The handoff audit applies the same rule."),
    Definition("handoffs_per_case", "Handoffs per case",
               "handoffs offered on the cases resolved in the week, up to their last resolve in the week, ÷ "
               "those cases."),
    Definition("time_to_accept", "Time to accept a handoff",
               "offer to acceptance, for the handoffs offered in the week that were accepted."),
    Definition("stage_ownership", "Stage ownership",
               "from a case entering a stage (opened, moved by its owner, an accepted handoff into another stage, "
               "or reopened) to leaving it (moved on or resolved), for the stays that ended in the week; all "
               "severities."),
    Definition("open_at_end", "Open at the week's end",
               "real cases reported before the week's end and not resolved by then (never resolved, or last "
               "resolved after it), under their severity, with their ARR at risk and customer sentiment as "
               "recorded when the week was computed (by the beat, minutes after its end)."),
    Definition("executive_escalations", "Executive interrupts",
               "escalations that reached an executive rung in the week."),
    Definition("severity_set_by_hand", "Severity changed by hand",
               "severity changes made by a person instead of the trigger rules in the week (after intake; the "
               "list below also shows severities chosen by hand at intake)."),
    Definition("credits", "Service credits",
               "requested in the week (amount asked) and approved in the week (by when the Manager approved), "
               "all severities."),
    Definition("escape_valves", "Escape valves",
               "executive escalations reached and asked for (with the Manager's answer), service credits asked "
               "for (with the answer), and severities set by a person instead of the trigger rules (at intake or "
               "later), listed with who, when and why. Read at every view."),
    Definition("severity", "Severity",
               "a breach counts under the severity it was recorded with; every other figure under the case's "
               "severity when the week was computed. Drill cases never count."),
    Definition("kept", "When the figures are computed",
               "a week's figures are computed once, by the beat task within 5 minutes of the week's end (Monday "
               "00:00 UTC), and kept; until then the week shows as being computed, and the week in progress has "
               "none yet. Only the breaches by cause and the escape-valve lists are read at every view."),
)  # fmt: skip

_BY_KEY = {d.key: d for d in DEFINITIONS}


def definition(key: str) -> Definition:
    return _BY_KEY[key]


def term(key: str) -> str:
    return _BY_KEY[key].term


def described(key: str, prefix: str = "") -> str:
    """A figure's definition as a field description: "Term: text"."""
    d = _BY_KEY[key]
    return f"{prefix}{d.term}: {d.text}"
