from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "care"
    verbose_name = "Care: users, teams, patients"

    def ready(self) -> None:
        from care import checks  # noqa: F401  (registers the system checks)
