from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """A patient's own data: export everything, or withdraw consent and be erased.

    A leaf app like `clinic`: it reads care, diary and alerts; nothing imports it.
    """

    name = "privacy"
