"""The playbook's default SOP templates: one per severity and stage the default policies
use, a checklist for every case, and a reload that keeps what Policy Admins edited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.choices import STAGE_ORDER, ChecklistFact, Stage
from escalations.models import SeverityPolicy, SOPTemplate, SOPTemplateItem
from escalations.services import incident_resolve, incident_set_stage
from escalations.services.common import audited_save
from escalations.services.playbook import POLICIES, SOPS, playbook_load
from tests.checklists_support import complete_checklist

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)

# Every case moves through all four stages (stage_move_allowed has no per-severity rule).
USED_PAIRS = [(policy["key"], str(stage)) for policy in POLICIES for stage in STAGE_ORDER]

# make_incident overrides that open a case of each severity from its facts (S4 is a
# person's justified choice below the S3 default).
OPEN_AS = {
    "S1": {"data_risk": True},
    "S2": {},
    "S3": {"arr_at_risk": 0},
    "S4": {"arr_at_risk": 0, "severity": "S4", "severity_reason": "Cosmetic; the amounts are right."},
}


def snapshot() -> tuple[list, list]:
    templates = list(SOPTemplate.objects.order_by("pk").values_list("pk", "name", "play", "active"))
    items = list(SOPTemplateItem.objects.order_by("pk").values_list("pk", "template_id", "order", "text", "required"))
    return templates, items


@pytest.mark.parametrize(("severity", "stage"), USED_PAIRS)
def test_every_used_severity_and_stage_has_a_template_with_items(playbook, severity, stage):
    assert SeverityPolicy.objects.filter(key=severity).exists()
    templates = SOPTemplate.objects.filter(severity=severity, stage=stage, active=True)
    assert templates.exists(), (severity, stage)
    for template in templates:
        assert template.play.strip()
        assert template.items.exists(), template.name
        assert template.items.filter(required=True).exists(), template.name  # each stage has an exit criterion


def test_default_templates_follow_the_data_shape(playbook):
    assert {p["key"] for p in POLICIES} == set(SeverityPolicy.objects.values_list("key", flat=True))
    assert len({spec["name"] for spec in SOPS}) == len(SOPS)
    for spec in SOPS:
        template = SOPTemplate.objects.get(name=spec["name"])
        assert (template.severity, template.stage, template.play) == (spec["severity"], spec["stage"], spec["play"])
        assert list(template.items.values_list("order", "text", "required")) == [
            (order, text, required) for order, (text, required) in enumerate(spec["items"], start=1)
        ]
    # The S3/S4 acknowledge items stand for the fact and tick themselves.
    for severity in ("S3", "S4"):
        item = SOPTemplateItem.objects.get(template__severity=severity, text="Acknowledge the case")
        assert item.fact == ChecklistFact.ACKNOWLEDGED


@pytest.mark.parametrize("severity", list(OPEN_AS))
def test_a_case_of_each_severity_gets_a_checklist_for_its_current_stage(make_incident, severity):
    incident = make_incident(title=f"An {severity} case", **OPEN_AS[severity])
    assert incident.severity == severity
    current = incident.checklists.filter(stage=incident.stage, applies=True)
    assert current.exists(), (severity, incident.stage)
    assert all(checklist.items.exists() for checklist in current)
    # And one for each later stage, made at intake with the rest.
    assert set(incident.checklists.values_list("stage", flat=True)) == {str(s) for s in STAGE_ORDER}


# The severities with new templates (S1's verify also needs an RCA on file).
@pytest.mark.parametrize("severity", ["S2", "S3", "S4"])
def test_a_case_can_meet_every_stage_exit_and_resolve(make_incident, agent, now, severity):
    incident = make_incident(title=f"An {severity} case", **OPEN_AS[severity])
    at = now
    for stage in STAGE_ORDER[1:]:
        complete_checklist(incident, agent, at, stage=incident.stage)
        at += M
        incident = incident_set_stage(incident=incident, stage=stage, actor=agent, now=at)
    assert incident.stage == Stage.VERIFY
    complete_checklist(incident, agent, at, stage=Stage.VERIFY)
    assert incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=at + M).resolved_at


def test_a_second_load_keeps_admin_edits_and_creates_no_duplicates(playbook, policy_admin):
    s3_triage = SOPTemplate.objects.get(name="S3 triage")
    s3_triage.play = "Our own S3 play."
    audited_save(s3_triage, actor=policy_admin, update_fields=["play"])
    s1_triage = SOPTemplate.objects.get(name="S1 first hour (triage)")
    s1_triage.play = "Our own S1 play."
    audited_save(s1_triage, actor=policy_admin, update_fields=["play"])
    item = s3_triage.items.get(order=3)
    item.text, item.required = "Impact checked with the account manager", True
    audited_save(item, actor=policy_admin, update_fields=["text", "required"])
    before = snapshot()

    created = playbook_load()

    assert created["sop_templates"] == 0
    assert snapshot() == before
    assert SOPTemplate.objects.get(pk=s3_triage.pk).play == "Our own S3 play."
    assert SOPTemplate.objects.get(pk=s1_triage.pk).play == "Our own S1 play."
    assert SOPTemplateItem.objects.get(pk=item.pk).text == "Impact checked with the account manager"
    assert SOPTemplate.objects.filter(name__in=[s["name"] for s in SOPS]).count() == len(SOPS)


def test_a_renamed_or_deleted_default_is_not_brought_back(playbook, policy_admin):
    renamed = SOPTemplate.objects.get(name="S2 command")
    renamed.name = "S2 command (our way)"
    audited_save(renamed, actor=policy_admin, update_fields=["name"])
    SOPTemplate.objects.get(name="S4 fix").delete()
    count = SOPTemplate.objects.count()

    assert playbook_load()["sop_templates"] == 0

    assert SOPTemplate.objects.count() == count
    assert not SOPTemplate.objects.filter(name__in=["S2 command", "S4 fix"]).exists()


def test_an_upgrade_from_the_old_defaults_adds_only_the_missing_templates(playbook, policy_admin):
    # A database loaded before S2 command/fix and S3/S4 shipped: those never existed.
    new = ["S2 command", "S2 fix"] + [s["name"] for s in SOPS if s["severity"] in ("S3", "S4")]
    ids = list(SOPTemplate.objects.filter(name__in=new).values_list("pk", flat=True))
    SOPTemplate.objects.filter(pk__in=ids).delete()
    SOPTemplate.history.filter(id__in=ids).delete()
    SOPTemplateItem.history.filter(template_id__in=ids).delete()
    old = SOPTemplate.objects.get(name="S2 verify and close")
    old.play = "Verify on a call, then close."
    audited_save(old, actor=policy_admin, update_fields=["play"])
    item = old.items.get()
    item.required = False
    audited_save(item, actor=policy_admin, update_fields=["required"])

    assert playbook_load()["sop_templates"] == len(new)

    assert set(SOPTemplate.objects.values_list("name", flat=True)) == {s["name"] for s in SOPS}
    old = SOPTemplate.objects.get(pk=old.pk)
    assert old.play == "Verify on a call, then close."
    assert list(old.items.values_list("text", "required")) == [("Customer confirmed restoration", False)]
    assert SOPTemplate.objects.get(name="S3 fix").items.count() == 2
