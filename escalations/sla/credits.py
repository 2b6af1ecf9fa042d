"""Service-credit maths: how long a breach stayed breached and what that is worth under
a tier's rule. Pure: plain values in (``now`` passed), no ORM.

A breach is breached from its due time until its promise was kept late (the case
acknowledged, the cycle resolved, the update posted, the handoff answered) or until
``now`` while it is still unkept, counted as the case's clocks count time: off-hours of a
business-hours calendar and pauses (waiting on the customer or a third party) do not
count. The credit is ``percent_per_hour`` of the monthly fee per breached hour, all the
request's breaches added up, capped at ``cap_percent`` of the fee per case and billing
month: what the case's live requests of the month already claim is taken off the cap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar
from escalations.sla.clock import Pause, elapsed

CENT = Decimal("0.01")
SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class BreachSpan:
    """One breach: due at ``due_at``, kept late at ``kept_at`` (None: still unkept)."""

    due_at: datetime
    kept_at: datetime | None = None


@dataclass(frozen=True)
class CreditRuleTerms:
    percent_per_hour: Decimal
    cap_percent: Decimal


@dataclass(frozen=True)
class CreditFigure:
    """A request's eligibility: breached time, the share of the fee (capped) and the
    amount in the fee's currency, rounded to the cent."""

    breached: timedelta
    percent: Decimal
    amount: Decimal
    capped: bool


def breached_time(
    span: BreachSpan, *, now: datetime, pauses: Sequence[Pause] = (), calendar: Calendar = TWENTY_FOUR_SEVEN
) -> timedelta:
    """Counted time from the breach's due time until it was kept (or ``now``)."""
    end = span.kept_at if span.kept_at is not None else now
    return elapsed(span.due_at, min(end, now), pauses, calendar)


def credit_figure(
    spans: Iterable[BreachSpan],
    *,
    terms: CreditRuleTerms | None,
    monthly_fee: Decimal,
    now: datetime,
    pauses: Sequence[Pause] = (),
    calendar: Calendar = TWENTY_FOUR_SEVEN,
) -> CreditFigure:
    """What ``spans`` are worth: each breach's breached time added up, times the rule's
    rate, capped. No rule for the tier: nothing is due."""
    breached = sum((breached_time(s, now=now, pauses=pauses, calendar=calendar) for s in spans), timedelta(0))
    if terms is None:
        return CreditFigure(breached, Decimal(0), Decimal("0.00"), capped=False)
    hours = Decimal(int(breached.total_seconds())) / SECONDS_PER_HOUR
    percent = hours * terms.percent_per_hour
    capped = percent > terms.cap_percent
    percent = min(percent, terms.cap_percent)
    amount = (Decimal(monthly_fee) * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return CreditFigure(breached, percent, amount, capped)


def billing_month(at: datetime) -> tuple[datetime, datetime]:
    """The billing month holding ``at``: [first day 00:00 UTC, next month's first day)."""
    start = at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def month_cap_applied(
    figure: CreditFigure, *, terms: CreditRuleTerms | None, monthly_fee: Decimal, already: Decimal
) -> CreditFigure:
    """``figure`` limited to what the tier's cap leaves this billing month once
    ``already`` (the case's live requests of the month) is counted: one case never earns
    more than the cap in a month, however its breaches are split into requests."""
    if terms is None:
        return figure
    cap = (Decimal(monthly_fee) * terms.cap_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    left = max(cap - already, Decimal("0.00"))
    if figure.amount <= left:
        return figure
    percent = left * 100 / Decimal(monthly_fee) if monthly_fee else Decimal(0)
    return CreditFigure(figure.breached, percent, left, capped=True)
