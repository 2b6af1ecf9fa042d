from django.core.management.base import BaseCommand

from escalations.services.playbook import playbook_load


class Command(BaseCommand):
    help = "Load the playbook defaults (policies, triggers, channels, SOPs, roles). Idempotent."

    def handle(self, *args, **options):
        created = playbook_load()
        summary = ", ".join(f"{n} {k}" for k, n in created.items())
        self.stdout.write(self.style.SUCCESS(f"Playbook loaded ({summary} created)."))
