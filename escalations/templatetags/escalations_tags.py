"""Template helpers for clocks and times.

Clock states are always shown as an icon plus a word ("⚠ warning", "✖ breached",
"‖ paused"), never by colour alone. Cells carry the deadline as ISO in data attributes so
the small ticker in app.js can count down without another request."""

from __future__ import annotations

import functools
import html
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from escalations.choices import EventKind
from escalations.display import labelled_changes, person_name
from escalations.lib.text import duration_text
from escalations.models import Incident
from escalations.sla import ClockState, stopped_in_time, stored_status

register = template.Library()

# Plain dict lookups: Model.get_FOO_display() costs tens of microseconds per call.
EVENT_LABELS: dict[str, str] = {value: str(label) for value, label in EventKind.choices}

ICONS = {
    "running": "◷",
    "warning": "⚠",
    "breached": "✖",
    "paused": "‖",
    "met": "✔",
    "missed": "✖",
    "not_started": "–",
    "stopped": "■",
}
LABELS = {
    "running": "on track",
    "warning": "warning",
    "breached": "breached",
    "paused": "paused",
    "met": "met",
    "missed": "missed",
    "not_started": "not started",
    "stopped": "stopped",
}


register.filter("duration", duration_text)


@functools.lru_cache(maxsize=8)
def _case_url_format(script_prefix: str) -> str:
    return reverse("escalations:case-detail", args=[987654321]).replace("987654321", "{}")


@register.filter
def case_url(pk: int) -> str:
    """``{% url 'escalations:case-detail' pk %}`` for long lists: the URLconf is walked
    once per script prefix, not once per row."""
    return _case_url_format(get_script_prefix()).format(int(pk))


@register.filter
def duration_seconds(seconds: float | None) -> str:
    """A number of seconds as a duration ('1h 05m'); '—' when there is none."""
    return "—" if seconds is None else duration_text(timedelta(seconds=seconds))


@register.filter
def minutes(seconds: float | None) -> str:
    """Seconds as minutes with one decimal, as the review page's charts plot them."""
    return "" if seconds is None else str(round(seconds / 60, 1))


@dataclass(frozen=True)
class ClockView:
    """What one clock cell shows."""

    state: str
    due_at: datetime | None
    warn_at: datetime | None
    remaining: timedelta | None
    elapsed: timedelta | None = None

    @property
    def icon(self) -> str:
        return ICONS[self.state]

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def live(self) -> bool:
        """Whether the ticker should count this clock down."""
        return self.state in ("running", "warning", "breached") and self.due_at is not None

    @property
    def remaining_text(self) -> str:
        if self.remaining is None:
            return ""
        if self.remaining.total_seconds() < 0:
            return f"overdue {duration_text(self.remaining)}"
        return f"{duration_text(self.remaining)} left"


def row_clock(incident: Incident, kind: str, now: datetime) -> ClockView:
    """A queue row's clock from the denormalised deadline fields alone (no query). A
    clock breached now (``Incident.breached_clocks``) says so, paused or not."""
    if kind == "ack":
        if incident.acknowledged_at is not None:
            met = stopped_in_time(incident.acknowledged_at, incident.ack_due_at)
            return ClockView("met" if met else "missed", incident.ack_due_at, None, None)
        due, warn = incident.ack_due_at, incident.ack_warn_at
    elif kind == "resolve":
        if not incident.is_open:
            return ClockView("stopped", incident.resolve_due_at, None, None)
        due, warn = incident.resolve_due_at, incident.resolve_warn_at
    elif kind == "update":
        if not incident.is_open:
            return ClockView("stopped", None, None, None)
        due, warn = incident.next_update_due_at, incident.update_warn_at
    else:
        raise ValueError(f"unknown clock {kind!r}")
    if kind in incident.breached_clocks:
        return ClockView("breached", due, warn, (due - now) if due else None)
    if incident.paused_since is not None and incident.clock_started_at is not None:
        # A running pause freezes the clock: its deadline is unknown until it resumes.
        return ClockView("paused", None, None, None)
    state = str(stored_status(due_at=due, warn_at=warn, breached_at=None, now=now))
    return ClockView(state, due, warn, (due - now) if due else None)


def state_clock(state: ClockState, *, breached: bool = False) -> ClockView:
    """A case page clock from the full clock maths (elapsed and remaining); ``breached``:
    the clock is breached now (``Incident.breached_clocks``), as the sweep recorded."""
    status = str(state.status)
    if breached and status in ("running", "warning", "paused"):
        status = "breached"
    # A stopped clock has no "time left"; a paused one keeps its frozen remainder.
    remaining = state.remaining if status in ("running", "warning", "breached", "paused") else None
    return ClockView(status, state.due_at, state.warn_at, remaining, state.elapsed)


@register.simple_tag
def form_token() -> SafeString:
    """A workspace form's one-time token (escalations.accounts.middleware.OnceFormMiddleware)."""
    return format_html('<input type="hidden" name="form_token" value="{}">', uuid.uuid4())


@register.simple_tag
def elapsed_text(clock: ClockView, ticks: bool = False, until: datetime | None = None) -> SafeString:
    """A clock's elapsed time; app.js advances it each second while the clock runs and
    counts time (``ticks``), up to ``until`` (a business-hours calendar's closing time)."""
    attrs = ""
    if ticks and clock.live and clock.state != "paused" and clock.elapsed is not None:
        attrs = format_html(' data-elapsed="{}"', int(clock.elapsed.total_seconds()))
        if until is not None:
            attrs += format_html(' data-elapsed-until="{}"', until.isoformat())
    return format_html('<span class="elapsed"{}>{}</span>', attrs, duration_text(clock.elapsed))


@register.simple_tag
def queue_clock(incident: Incident, kind: str, now: datetime) -> ClockView:
    return row_clock(incident, kind, now)


@register.simple_tag
def clock_cell(clock: ClockView, name: str = "") -> SafeString:
    """One clock as HTML. Built in Python rather than an included template: a queue page
    has 150 of these and an include per cell dominated its render time."""
    attrs = ""
    if clock.live:
        attrs = format_html(' data-due="{}"', clock.due_at.isoformat())
        if clock.warn_at:
            attrs += format_html(' data-warn="{}"', clock.warn_at.isoformat())
    remaining = (
        format_html(' <span class="clock-remaining">{}</span>', clock.remaining_text)
        if (clock.remaining is not None)
        else ""
    )
    return format_html(
        '<span class="clock clock--{}"{} data-state="{}" aria-label="{}"><span class="clock-icon" aria-hidden="true">{}'
        '</span> <span class="clock-label">{}</span>{}</span>',
        clock.state,
        attrs,
        clock.state,
        name,
        clock.icon,
        clock.label,
        remaining,
    )


def _local(value: datetime, fmt: str) -> str:
    return timezone.localtime(value).strftime(fmt)


@register.simple_tag
def timeline_rows(events) -> SafeString:
    """The timeline as HTML, newest first as given.

    Built in Python because 500 entries through template tags (and Django's
    get_FOO_display, format_html) took most of the case page's render time. Every value
    goes through ``_e`` (the standard library's html.escape, quotes included) before it
    is joined, so user text (details, old/new values, names) is always escaped."""
    rows = []
    for e in events:
        diffs = changes(e)
        diff_html = (
            '<ul class="diffs">' + "".join(f"<li>{_e(f)}: {_e(o)} → {_e(n)}</li>" for f, o, n in diffs) + "</ul>"
            if diffs
            else ""
        )
        detail = f" — {_e(e.detail)}" if e.detail else ""
        at = timezone.localtime(e.at)
        rows.append(
            f'<li class="ev ev--{_e(e.kind)}"><time datetime="{_e(e.at.isoformat())}">'
            f"{at.day} {at.strftime('%b %H:%M:%S')}</time> <strong>{_e(EVENT_LABELS.get(e.kind, e.kind))}</strong>"
            f" · {_e(person(e.actor))}{detail}{diff_html}</li>"
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every value above was escaped by _e


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@register.filter
def zone_name(value=None) -> str:
    return timezone.get_current_timezone_name()


@register.filter
def http_url(value: str) -> str:
    """Only http(s) links are rendered as links (never javascript: and friends)."""
    value = (value or "").strip()
    return value if value.lower().startswith(("http://", "https://")) else ""


@register.filter
def person(user) -> str:
    return person_name(user)


@register.filter
def changes(event) -> list[tuple[str, str, str]]:
    """(label, old, new) for the values an event changed, for timeline rows."""
    old, new = event.old or {}, event.new or {}
    if not old:
        return []
    return labelled_changes({key: (old.get(key), new.get(key)) for key in new if old.get(key) != new.get(key)})


register.filter("labelled_changes", labelled_changes)
