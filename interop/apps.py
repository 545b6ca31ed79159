from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "interop"
    verbose_name = "Hospital interoperability (FHIR)"

    def ready(self) -> None:
        import interop.tasks  # noqa: F401  registers the tasks published by name
        from alerts.channels import CHANNELS
        from alerts.referral_outbox import register_referral_listener
        from interop import checks  # noqa: F401  (registers the deploy check)
        from interop.referral_hook import FhirHookChannel, write_referral_notification

        # alerts never imports interop: the referral write paths and the outbox find
        # the FHIR rest-hook through these two registries.
        CHANNELS["fhir"] = FhirHookChannel
        register_referral_listener(write_referral_notification)
