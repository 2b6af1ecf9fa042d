"""escalations.services.checklists: SOP checklists made from matching templates, ticked
through the service, gating stage exits."""

from __future__ import annotations

import pytest

from escalations.choices import EventKind, Stage
from escalations.models import Checklist, ChecklistItem, SOPTemplate, SOPTemplateItem
from escalations.services import RuleViolation, checklist_item_set_done, incident_resolve
from escalations.services.checklists import checklists_instantiate, open_required_items, require_stage_exit
from escalations.services.common import audited_create
from tests.checklists_support import complete_checklist

pytestmark = pytest.mark.django_db


def test_instantiate_is_idempotent(make_incident, agent):
    incident = make_incident(data_risk=True)
    assert checklists_instantiate(incident=incident, actor=agent) == []
    assert Checklist.objects.filter(incident=incident).count() == 4


def test_templates_match_on_category_and_skip_inactive(make_incident, policy_admin, agent):
    billing = audited_create(
        SOPTemplate, history_user=policy_admin, name="Billing triage", stage=Stage.TRIAGE, category="billing", play="p"
    )
    audited_create(SOPTemplateItem, history_user=policy_admin, template=billing, order=1, text="Refund checked")
    audited_create(SOPTemplate, history_user=policy_admin, name="Retired", stage=Stage.TRIAGE, play="p", active=False)
    s3_billing = make_incident(arr_at_risk=0, category="billing")
    titles = set(s3_billing.checklists.values_list("title", flat=True))
    assert "Billing triage" in titles and "Retired" not in titles
    assert "S3 triage" in titles  # the severity's own plays apply whatever the category
    outage = set(make_incident(arr_at_risk=0, category="outage").checklists.values_list("title", flat=True))
    assert "Billing triage" not in outage and "S3 triage" in outage


def test_tick_and_untick_record_events_and_bump_the_version(make_incident, agent, now):
    incident = make_incident()
    item = ChecklistItem.objects.filter(checklist__incident=incident, fact="").order_by("checklist_id", "order").first()
    done = checklist_item_set_done(item=item, done=True, actor=agent, now=now)
    assert (done.done_at, done.done_by) == (now, agent)
    incident.refresh_from_db()
    assert incident.version == 2
    # Ticking what is already ticked changes nothing.
    checklist_item_set_done(item=item.pk, done=True, actor=agent, now=now)
    incident.refresh_from_db()
    assert incident.version == 2
    undone = checklist_item_set_done(item=item, done=False, actor=agent, now=now)
    assert (undone.done_at, undone.done_by) == (None, None)
    kinds = list(incident.events.filter(kind__startswith="checklist").values_list("kind", flat=True))
    assert kinds == [EventKind.CHECKLIST_ITEM_DONE, EventKind.CHECKLIST_ITEM_REOPENED]


def test_optional_items_do_not_gate_the_stage(make_incident, agent, now):
    incident = make_incident()
    required = open_required_items(incident, Stage.TRIAGE)
    assert [i.text for i in required] == [
        "Acknowledge the page",
        "Impact and ARR at risk confirmed",
        "First customer update sent",
    ]
    complete_checklist(incident, agent, now, stage=Stage.TRIAGE)
    assert not open_required_items(incident, Stage.TRIAGE)
    require_stage_exit(incident, action="test")  # "Decide whether to name an IC" is optional
    assert open_required_items(incident, Stage.VERIFY)  # other stages are not gated yet


S3_PLAYS = ("S3 triage", "S3 command", "S3 fix", "S3 verify and close")


def test_closed_case_checklist_is_frozen_and_unknown_items_refused(make_incident, agent, now):
    incident = make_incident(arr_at_risk=0, category="billing")
    with pytest.raises(RuleViolation) as exc:
        checklist_item_set_done(item=10**9, done=True, actor=agent, now=now)
    assert exc.value.code == "not_found"
    s2 = make_incident()
    complete_checklist(s2, agent, now, stage=Stage.TRIAGE)
    incident_resolve(incident=s2, resolution="Fixed", actor=agent, now=now)
    item = ChecklistItem.objects.filter(checklist__incident=s2, done_at__isnull=True, fact="").first()
    with pytest.raises(RuleViolation) as exc:
        checklist_item_set_done(item=item, done=True, actor=agent, now=now)
    assert exc.value.field == "status"
    assert set(incident.checklists.values_list("title", flat=True)) == set(S3_PLAYS)
