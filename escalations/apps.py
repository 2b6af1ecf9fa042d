from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from escalations.accounts import signals
        from escalations.security import checks  # noqa: F401  (registers the deployment checks)

        signals.connect()
