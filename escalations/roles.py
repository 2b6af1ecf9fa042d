"""The roles table's old home, kept for migration 0002 (migrations are never edited)."""

from escalations.security.roles import sync_roles  # noqa: F401
