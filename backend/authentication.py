"""The API's JWT authentication: simplejwt's, with a patient's own record read in the same
query as the user (a LEFT JOIN), since nearly every patient request needs it next (the
diary's rights, the app's views). Everything else, the token's checks included, is
simplejwt's."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication


class _UsersWithTheirPatient:
    """What simplejwt's get_user() uses of the user model: its manager and DoesNotExist."""

    def __init__(self):
        self.model = get_user_model()
        self.DoesNotExist = self.model.DoesNotExist

    @property
    def objects(self):
        return self.model.objects.select_related("patient")


class JWTAuthentication(authentication.JWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithTheirPatient()


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI document describes it as simplejwt's bearer token, which it is."""

    target_class = "backend.authentication.JWTAuthentication"
