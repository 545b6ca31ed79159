from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        # Imported here, not at the top: models may be imported only once the app
        # registry is ready (Django's AppConfig.ready contract), not to dodge a cycle.
        import alerts.tasks  # noqa: F401  registers the tasks alerts.dispatch publishes by name
        from alerts.models import ReferralRecommendation
        from alerts.receivers import on_patients_changing
        from diary.signals import patients_changing
        from diary.summary import register_box2_source

        patients_changing.connect(on_patients_changing, dispatch_uid="alerts.note_changed_patients")
        register_box2_source(ReferralRecommendation.criteria_met_by)
