from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        from alerts.receivers import on_patients_changed, on_patients_changing
        from alerts.referrals import box2_criteria_met
        from diary.signals import patients_changed, patients_changing
        from diary.summary import register_box2_source

        patients_changing.connect(on_patients_changing, dispatch_uid="alerts.note_changed_patients")
        patients_changed.connect(on_patients_changed, dispatch_uid="alerts.evaluate_changed_patients")
        register_box2_source(box2_criteria_met)
