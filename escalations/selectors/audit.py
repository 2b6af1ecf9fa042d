"""The handoff audit for managers: every handoff with its outcome, how long it took to
accept and whether it was ping-pong, filterable; one case's handoffs as a chain of who
held each stage. Read-only; the pages and the CSV export share these querysets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Case, CharField, Count, DurationField, F, Q, QuerySet, Value, When
from django.db.models.functions import Lower, Trim
from django.http import Http404

from escalations.choices import HandoffStatus, Stage
from escalations.display import field_label, person_name, value_text
from escalations.models import (
    PACKET_FIELDS,
    Breach,
    ClockPause,
    CustomerUpdate,
    Escalation,
    HandoffPacket,
    Incident,
    Team,
)
from escalations.security.access import case_rows_q, incident_access_q
from escalations.selectors.handoffs import PING_PONG_WINDOW, ping_pong_exists

DEFAULT_PING_PONG_WINDOW = PING_PONG_WINDOW
# A row shows the packet's summary; its other long texts belong to the packet page.
ROW_DEFERRED = (*(f for f in PACKET_FIELDS if f != "summary"), "checklist_state")
_ROW_PEOPLE = ("from_user", "to_user", "responded_by")
_ROW_TEAMS = ("from_team", "to_team")


def _row_fields() -> list[str]:
    """What a row (and a CSV line) reads: the packet without its long texts, and only the
    names of its people and teams. A 100,000-row export converts a handful of values per
    row instead of every timestamp of the case and of three user rows."""
    fields = [f.name for f in HandoffPacket._meta.concrete_fields if f.name not in ROW_DEFERRED]
    fields += [f"{rel}__{name}" for rel in _ROW_PEOPLE for name in ("username", "first_name", "last_name")]
    fields += [f"{rel}__name" for rel in _ROW_TEAMS]
    return fields


OUTCOME_EXPIRED = "expired"
OUTCOME_WAITING = "waiting"
# The answer a handoff got: accepted, rejected, cancelled by status; an offer still
# unanswered once its acceptance time box breached (the sweep stamps accept_breached_at)
# is expired; one still inside its time box is waiting.
OUTCOMES = (
    (HandoffStatus.ACCEPTED.value, "Accepted"),
    (HandoffStatus.REJECTED.value, "Rejected"),
    (OUTCOME_EXPIRED, "Expired (no answer in time)"),
    (HandoffStatus.CANCELLED.value, "Cancelled"),
    (OUTCOME_WAITING, "Waiting for an answer"),
)
OUTCOME_LABELS = dict(OUTCOMES)


@dataclass(frozen=True)
class HandoffFilters:
    team_id: int | None = None
    person_id: int | None = None
    stage: str = ""
    outcome: str = ""
    accept_over_minutes: int | None = None
    ping_pong_only: bool = False
    window: timedelta = DEFAULT_PING_PONG_WINDOW


def _visible(user, qs: QuerySet[HandoffPacket]) -> QuerySet[HandoffPacket]:
    return qs.filter(case_rows_q(user))


def _annotated(qs: QuerySet[HandoffPacket], window: timedelta) -> QuerySet[HandoffPacket]:
    return qs.annotate(
        outcome=Case(
            When(status=HandoffStatus.OFFERED, accept_breached_at__isnull=False, then=Value(OUTCOME_EXPIRED)),
            When(status=HandoffStatus.OFFERED, then=Value(OUTCOME_WAITING)),
            default=F("status"),
            output_field=CharField(),
        ),
        time_to_accept=Case(
            When(status=HandoffStatus.ACCEPTED, then=F("responded_at") - F("offered_at")),
            default=None,
            output_field=DurationField(),
        ),
        ping_pong=ping_pong_exists(window),
    )


def handoff_audit_list(*, user, filters: HandoffFilters) -> QuerySet[HandoffPacket]:
    """Every handoff the user may see, newest offer first, filtered and annotated with
    ``outcome``, ``time_to_accept`` (accepted ones only) and ``ping_pong``."""
    qs = _visible(user, HandoffPacket.objects.select_related(*_ROW_PEOPLE, *_ROW_TEAMS).only(*_row_fields()))
    qs = _annotated(qs, filters.window)
    if filters.team_id is not None:
        qs = qs.filter(Q(from_team_id=filters.team_id) | Q(to_team_id=filters.team_id))
    if filters.person_id is not None:
        qs = qs.filter(Q(from_user_id=filters.person_id) | Q(to_user_id=filters.person_id))
    if filters.stage:
        qs = qs.filter(Q(from_stage=filters.stage) | Q(to_stage=filters.stage))
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.accept_over_minutes is not None:
        qs = qs.filter(time_to_accept__gt=timedelta(minutes=filters.accept_over_minutes))
    if filters.ping_pong_only:
        qs = qs.filter(ping_pong=True)
    return qs.order_by("-offered_at", "-id")


def handoff_audit_get(*, user, pk: int, window: timedelta = DEFAULT_PING_PONG_WINDOW) -> HandoffPacket:
    """One handoff, the whole packet as offered, with the list's annotations."""
    qs = _visible(
        user,
        HandoffPacket.objects.select_related(
            "incident", "from_user", "from_team", "to_user", "to_team", "responded_by"
        ),
    )
    try:
        return _annotated(qs, window).get(pk=pk)
    except HandoffPacket.DoesNotExist:
        raise Http404("No such handoff.") from None


@dataclass
class Hold:
    """One stretch of a case with one holder: who, which stage, from when to when, and
    the handoffs offered while they held it (the last one, if accepted, ended the hold)."""

    holder: object
    stage: str
    started_at: datetime
    ended_at: datetime | None
    offers: list[HandoffPacket] = field(default_factory=list)

    @property
    def stage_label(self) -> str:
        return str(Stage(self.stage).label)

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at


def audited_case(*, user, incident_pk: int) -> Incident:
    """A case the manager may see, else not found."""
    try:
        return Incident.objects.filter(incident_access_q(user)).select_related("stage_dri").get(pk=incident_pk)
    except Incident.DoesNotExist:
        raise Http404("No such case.") from None


def handoff_chain(*, user, incident_pk: int) -> tuple[Incident, list[Hold]]:
    """The case's handoffs in offer order, grouped into holds. A hold starts when the case
    opens or an offer is accepted, and ends with the next accepted offer (or runs on)."""
    incident = audited_case(user=user, incident_pk=incident_pk)
    packets = list(
        _annotated(
            HandoffPacket.objects.filter(incident=incident).select_related(
                "from_user", "from_team", "to_user", "to_team", "responded_by"
            ),
            DEFAULT_PING_PONG_WINDOW,
        ).order_by("offered_at", "id")
    )
    holds: list[Hold] = []
    current: Hold | None = None
    for packet in packets:
        if current is None:
            current = Hold(
                holder=packet.from_user, stage=packet.from_stage, started_at=incident.created_at, ended_at=None
            )
            holds.append(current)
        current.offers.append(packet)
        if packet.status == HandoffStatus.ACCEPTED:
            current.ended_at = packet.responded_at
            current = Hold(
                holder=packet.responded_by or packet.to_user,
                stage=packet.to_stage,
                started_at=packet.responded_at,
                ended_at=None,
            )
            holds.append(current)
    if not holds:
        holds.append(
            Hold(holder=incident.stage_dri, stage=incident.stage, started_at=incident.created_at, ended_at=None)
        )
    if incident.closed_at and holds[-1].ended_at is None:
        holds[-1].ended_at = incident.closed_at
    return incident, holds


# Bookkeeping the services rewrite on every change; they say nothing a reviewer asks about.
_AUDIT_HIDDEN = frozenset(
    {
        "version",
        "next_check_at",
        "next_deadline_at",
        "queue_rank",
        "calendar_snapshot",
        "last_progress_at",
        "update_seq",
        "ack_warn_at",
        "resolve_warn_at",
        "update_warn_at",
    }
)


@dataclass
class AuditEntry:
    """One line of a case's full audit: when, who, what, and the fields it changed."""

    at: datetime
    actor: object
    what: str
    detail: str = ""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    source: str = "change"


def _names_by_model(incident_model, rows) -> dict[str, dict]:
    """Related rows named by the history's foreign key ids: one query per related model
    that the rows mention, whatever the number of rows."""
    wanted: dict = {}
    for f in incident_model._meta.concrete_fields:
        if f.is_relation:
            ids = {getattr(r, f.attname) for r in rows} - {None}
            if ids:
                wanted.setdefault(f.related_model, set()).update(ids)
    found = {}
    for model, ids in wanted.items():
        found[model] = model._base_manager.in_bulk(ids)
    return {
        f.name: found.get(f.related_model, {})
        for f in incident_model._meta.concrete_fields
        if f.is_relation and f.related_model in found
    }


def case_audit_trail(incident: Incident) -> list[AuditEntry]:
    """The case's whole record, oldest first: every field change from the case's history
    (who, why, old → new, labelled) merged with its pauses, customer updates, breaches,
    escalations and handoffs. Constant queries whatever the case's length."""
    rows = list(incident.history.select_related("history_user").order_by("history_date", "history_id"))
    names = _names_by_model(Incident, rows)

    def shown(name: str, value) -> str:
        if name in names and value is not None:
            target = names[name].get(value)
            if target is None:
                return f"#{value}"
            return person_name(target) if hasattr(target, "get_username") else str(target)
        return value_text(name, value)

    entries: list[AuditEntry] = []
    previous = None
    for row in rows:
        if previous is None:
            entries.append(
                AuditEntry(at=row.history_date, actor=row.history_user, what="Case opened", detail=row.title)
            )
        else:
            delta = row.diff_against(previous)
            changed = [
                (field_label(c.field), shown(c.field, c.old), shown(c.field, c.new))
                for c in delta.changes
                if c.field not in _AUDIT_HIDDEN
            ]
            if changed:
                entries.append(
                    AuditEntry(
                        at=row.history_date,
                        actor=row.history_user,
                        what="Changed",
                        detail=row.history_change_reason or "",
                        changes=changed,
                    )
                )
        previous = row

    for p in ClockPause.objects.filter(incident=incident).select_related("started_by", "ended_by"):
        label = p.get_reason_display()
        entries.append(AuditEntry(p.started_at, p.started_by, f"Clocks paused: {label}", p.note, source="pause"))
        if p.ended_at:
            entries.append(AuditEntry(p.ended_at, p.ended_by, "Clocks resumed", source="pause"))
    for u in CustomerUpdate.objects.filter(incident=incident).select_related("posted_by", "channel"):
        late = " (late)" if u.was_late else ""
        entries.append(
            AuditEntry(u.posted_at, u.posted_by, f"Customer update on {u.channel}{late}", u.body, source="update")
        )
    for b in Breach.objects.filter(incident=incident):
        entries.append(
            AuditEntry(
                b.detected_at,
                None,
                f"{b.get_kind_display()} breach",
                f"Due {value_text('due_at', b.due_at)}; cause: {value_text('cause', b.cause_code)}",
                source="breach",
            )
        )
    for e in Escalation.objects.filter(incident=incident).select_related("actor", "acknowledged_by"):
        who = e.notified_names or "nobody"
        entries.append(
            AuditEntry(
                e.created_at, e.actor, f"Escalated to level {e.level}", f"{e.reason} Paged: {who}.", source="escalation"
            )
        )
        if e.acknowledged_at:
            entries.append(
                AuditEntry(e.acknowledged_at, e.acknowledged_by, f"Level {e.level} acknowledged", source="escalation")
            )
    for h in (
        HandoffPacket.objects.filter(incident=incident)
        .select_related("from_user", "to_user", "to_team", "responded_by")
        .defer(*ROW_DEFERRED)
    ):
        to = " and ".join(x for x in (person_name(h.to_user, nobody=""), h.to_team.name if h.to_team else "") if x)
        entries.append(
            AuditEntry(
                h.offered_at,
                h.from_user,
                f"Handoff offered to {to} for {h.get_to_stage_display()}",
                h.summary,
                source="handoff",
            )
        )
        if h.responded_at:
            reason = h.rejection_reason if h.status == HandoffStatus.REJECTED else ""
            entries.append(
                AuditEntry(
                    h.responded_at,
                    h.responded_by,
                    f"Handoff {h.get_status_display().lower()}",
                    reason,
                    source="handoff",
                )
            )
    entries.sort(key=lambda e: e.at)
    return entries


@dataclass(frozen=True)
class QualityRow:
    """Packet quality of one sender (a team or a person) over a period."""

    key: object
    name: str
    offered: int
    complete: int
    rejected: int
    breached: int

    @property
    def complete_pct(self) -> float | None:
        return round(100 * self.complete / self.offered, 1) if self.offered else None


@dataclass
class PacketQuality:
    overall: QualityRow
    teams: list[QualityRow]
    people: list[QualityRow]
    reasons: list[tuple[str, int]]


def _complete_q() -> Q:
    """Every field of the playbook's standard packet filled in."""
    q = Q()
    for name in PACKET_FIELDS:
        q &= ~Q(**{name: ""})
    return q


def packet_quality(*, user, since: datetime | None = None) -> PacketQuality:
    """Packets offered since ``since``, by sending team and by sending person: how many
    had every playbook field filled, were rejected, or breached their acceptance time
    box; and the rejections by reason. Four aggregate queries whatever the volume."""
    qs = _visible(user, HandoffPacket.objects.all())
    if since is not None:
        qs = qs.filter(offered_at__gte=since)
    figures = {
        "offered": Count("id"),
        "complete": Count("id", filter=_complete_q()),
        "rejected": Count("id", filter=Q(status=HandoffStatus.REJECTED)),
        "breached": Count("id", filter=Q(accept_breached_at__isnull=False)),
    }

    def rows(key: str, names: dict) -> list[QualityRow]:
        out = [
            QualityRow(
                key=r[key],
                name=names.get(r[key], "No team") if r[key] is not None else "No team",
                **{k: r[k] for k in figures},
            )
            for r in qs.values(key).annotate(**figures).order_by()
        ]
        return sorted(out, key=lambda r: (r.complete_pct if r.complete_pct is not None else 101, r.name))

    team_names = dict(Team.objects.filter(pk__in=qs.values("from_team_id")).values_list("pk", "name"))
    users = get_user_model().objects.filter(pk__in=qs.values("from_user_id"))
    people_names = {u.pk: person_name(u) for u in users}
    total = qs.aggregate(**figures)
    reasons = [
        (r["reason"], r["n"])
        for r in qs.filter(status=HandoffStatus.REJECTED)
        .annotate(reason=Lower(Trim("rejection_reason")))
        .values("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")[:20]
    ]
    return PacketQuality(
        overall=QualityRow(key=None, name="All", **total),
        teams=rows("from_team_id", team_names),
        people=rows("from_user_id", people_names),
        reasons=reasons,
    )
