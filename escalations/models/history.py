"""The audit trail's historical tables (django-simple-history), without an index on
each copied foreign key.

History rows are read by the object's id, by date and by acting user (simple-history
indexes those), never by a copied foreign key (a historical case's customer, team,
commander...), and each such index is one more write on every audited change."""

from __future__ import annotations

from simple_history.models import HistoricalRecords


class AuditHistory(HistoricalRecords):
    def copy_fields(self, model):
        fields = super().copy_fields(model)
        for field in fields.values():
            if field.is_relation:
                field.db_index = False
        return fields
