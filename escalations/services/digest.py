"""The weekly digest: the last complete week's figures (the review page's and the API's,
as the beat kept them), the overdue RCAs and action items, and a link to the review
page, emailed to each Manager (and Duty Managers when the schedule says so) at the
schedule's slot in their own time zone, once per week. While the week is not kept yet
(the minutes after Monday 00:00 UTC) nothing is sent: the next check, a quarter of an
hour later, sends it.

Exactly once: the delivery row (unique per person and week) is inserted in the
transaction that sends the email. A second worker racing for the same person blocks on
that row's unique index until the first commits, then fails to insert and sends
nothing; if the send fails, the row rolls back with it and the next check sends again.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from escalations.choices import ClockKind
from escalations.lib.text import duration_text
from escalations.models import DigestDelivery, DigestSchedule
from escalations.reporting.definitions import ALL, term
from escalations.reporting.figures import ReviewFigures, WeekState, review_figures
from escalations.security.roles import DUTY_MANAGERS, MANAGERS
from escalations.selectors.rca import overdue_action_items, overdue_postmortems
from escalations.services.common import audited_create
from escalations.services.review_weeks import review_weeks_hurry
from escalations.sla.deadlines import last_complete_iso_week, weekly_slot_week

logger = logging.getLogger(__name__)

REVIEW_PATH = "/manage/review/"


def digest_schedule_get(*, actor=None) -> DigestSchedule:
    """The schedule row; with ``actor``, created with the defaults (Monday 08:00) when
    there is none yet, so the admin has a row to edit."""
    schedule = DigestSchedule.objects.filter(pk=1).first()
    if schedule is not None:
        return schedule
    if actor is None:
        return DigestSchedule(pk=1)
    try:
        with transaction.atomic():
            return audited_create(DigestSchedule, history_user=actor, pk=1)
    except IntegrityError:  # created meanwhile by another process
        return DigestSchedule.objects.get(pk=1)


def review_url(week: str) -> str:
    """The review page of ``week``. A plain path: the page is its own module's, and the
    email must link to it whatever the URLconf of the process sending it."""
    return f"{settings.SITE_URL}{REVIEW_PATH}?week={week}"


def digest_figures(week: str, *, now: datetime | None = None) -> ReviewFigures:
    """The week's figures, as the review page and the API read them (one week)."""
    return review_figures(week, weeks=1, now=now, lists=False)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _money(value) -> str:
    return f"${value:,.0f}"


def _spread(dist: dict) -> str:
    if not dist["count"]:
        return "—"
    median = duration_text(timedelta(seconds=dist["median"]))
    p90 = duration_text(timedelta(seconds=dist["p90"]))
    return f"median {median}, 90th percentile {p90} ({dist['count']})"


def figure_rows(figures: ReviewFigures) -> list[tuple[str, str]]:
    """The week's figures over all severities as (label, value) lines, the same in the
    HTML and the text part, labelled as the review page's definitions name them; the
    page has the trends and the per-severity view."""
    c = figures.chosen
    kinds = dict(ClockKind.choices)
    breaches, handoffs, credits = c["breaches"][ALL], c["handoffs"][ALL], c["credits"]
    by_kind = ", ".join(f"{kinds[k]} {breaches[k]}" for k in ClockKind.values if breaches[k])
    causes = ", ".join(f"{row['label']} {row['count']}" for row in figures.causes.pareto) or "—"
    adherence = c["adherence"][ALL]
    ping_pong = f"{handoffs['ping_pong']}" + (
        f" ({handoffs['ping_pong_rate']:.1f} %)" if handoffs["ping_pong_rate"] is not None else ""
    )
    return [
        (term("opened"), f"{c['opened']['cases'][ALL]} (ARR at risk {_money(c['opened']['arr_at_risk'][ALL])})"),
        (term("tta"), _spread(c["tta"][ALL])),
        (term("ttr_cycle"), _spread(c["ttr_cycle"][ALL])),
        (term("ttr_total"), _spread(c["ttr_total"][ALL])),
        (term("adherence_ack"), _pct(adherence["ack"])),
        (term("adherence_resolve"), _pct(adherence["resolve"])),
        (term("adherence_update"), _pct(adherence["update"])),
        (term("breaches"), f"{breaches['total']}" + (f" ({by_kind})" if by_kind else "")),
        (term("breaches_by_cause"), causes),
        (term("reopens"), str(c["reopens"][ALL])),
        (
            term("handoffs"),
            f"{handoffs['offered']} offered, {handoffs['accepted']} accepted, {handoffs['rejected']} rejected",
        ),
        (term("ping_pong"), ping_pong),
        (term("executive_escalations"), str(c["executive_escalations"][ALL])),
        (
            term("open_at_end"),
            f"{c['open_at_end']['cases'][ALL]} (ARR at risk {_money(c['open_at_end']['arr_at_risk'][ALL])})",
        ),
        (
            term("credits"),
            f"requested {_money(credits['requested_amount'])} ({credits['requested_count']}), "
            f"approved {_money(credits['approved_amount'])} ({credits['approved_count']})",
        ),
    ]


def digest_recipients(schedule: DigestSchedule) -> list:
    """Active Managers (and Duty Managers if the schedule says so) with an email address,
    their profiles joined."""
    groups = [MANAGERS, DUTY_MANAGERS] if schedule.include_duty_managers else [MANAGERS]
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=groups)
        .exclude(email="")
        .select_related("profile")
        .distinct()
        .order_by("pk")
    )


def _zone_of(user) -> str:
    try:
        name = user.profile.timezone
    except user.__class__.profile.RelatedObjectDoesNotExist:
        name = settings.DEFAULT_VIEWER_TIMEZONE
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


@dataclass(frozen=True)
class DigestContent:
    week: str
    figures: list[tuple[str, str]]
    overdue_rcas: list
    overdue_items: list
    review_url: str


def digest_content(*, now: datetime) -> DigestContent | None:
    """What every digest sent at ``now`` carries (the same for every recipient); None
    while the last complete week is not kept yet (the keeping task is asked to run)."""
    week = last_complete_iso_week(now)
    figures = digest_figures(week, now=now)
    if figures.state != WeekState.KEPT:
        review_weeks_hurry([figures.week])
        return None
    return DigestContent(
        week=week,
        figures=figure_rows(figures),
        overdue_rcas=list(overdue_postmortems(now=now)),
        overdue_items=overdue_action_items(now=now),
        review_url=review_url(week),
    )


def digest_message(*, user, content: DigestContent, now: datetime) -> EmailMultiAlternatives:
    """The email: an HTML part and a plain-text part from the same context, times in the
    recipient's zone."""
    zone = _zone_of(user)
    context = {
        "user": user,
        "name": user.get_full_name() or user.get_username(),
        "content": content,
        "zone": zone,
        "site_url": settings.SITE_URL,
        "now": now,
    }
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        text = render_to_string("escalations/email/digest.txt", context)
        html = render_to_string("escalations/email/digest.html", context)
    message = EmailMultiAlternatives(
        subject=f"Weekly escalation review {content.week}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.attach_alternative(html, "text/html")
    return message


def digest_deliver(*, user, week: str, content: DigestContent, now: datetime, actor) -> bool:
    """Send ``user`` the digest due in their local ``week``, once: False when it was
    already sent (by this run or a racing one)."""
    try:
        with transaction.atomic():
            audited_create(
                DigestDelivery, history_user=actor, user=user, week=week, reported_week=content.week, sent_at=now
            )
            digest_message(user=user, content=content, now=now).send(fail_silently=False)
    except IntegrityError:
        return False
    return True


def digest_send_due(*, now: datetime, actor) -> int:
    """Send the digest to every recipient whose slot this week has come in their own
    zone and who has not had this week's. Returns how many were sent. A failed send is
    logged and retried on the next check (its delivery row rolled back)."""
    schedule = digest_schedule_get(actor=actor)
    if not schedule.enabled:
        return 0
    due: list[tuple[Any, str]] = []
    for user in digest_recipients(schedule):
        week = weekly_slot_week(
            now, tz=_zone_of(user), weekday=schedule.weekday, hour=schedule.hour, minute=schedule.minute
        )
        if week is not None:
            due.append((user, week))
    if not due:
        return 0
    sent_before = set(
        DigestDelivery.objects.filter(user_id__in=[u.pk for u, _ in due], week__in={w for _, w in due}).values_list(
            "user_id", "week"
        )
    )
    due = [(user, week) for user, week in due if (user.pk, week) not in sent_before]
    if not due:
        return 0
    content = digest_content(now=now)
    if content is None:
        logger.info("Weekly digest waits for the week's figures to be kept; the next check sends it")
        return 0
    sent = 0
    for user, week in due:
        try:
            sent += digest_deliver(user=user, week=week, content=content, now=now, actor=actor)
        except Exception:  # noqa: BLE001 — one bad address must not stop the others
            logger.exception("Weekly digest to user %s failed; the next check tries again", user.pk)
    return sent


__all__ = [
    "digest_deliver",
    "digest_figures",
    "digest_schedule_get",
    "digest_send_due",
    "figure_rows",
    "review_url",
]
