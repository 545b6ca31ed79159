"""Login, token refresh with replay detection, logout and enrollment (API "Auth and enrollment")."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from backend.errors import ERROR_RESPONSES, THROTTLED_RESPONSES, detail_response
from care import lockout, services, twofactor
from care.lockout import AddressRateThrottle
from care.lockout import address_limited as address_limited  # re-exported for clinic/urls.py
from care.models import Role

User = get_user_model()

WRONG_CREDENTIALS = _("No active account found with the given credentials.")


class LoginSerializer(TokenObtainPairSerializer):
    default_error_messages = {"no_active_account": WRONG_CREDENTIALS}
    otp = serializers.CharField(required=False, allow_blank=True, max_length=64, write_only=True)

    def validate(self, attrs):
        user = User.objects.filter(username=attrs.get(self.username_field)).first()
        # The attempt is counted before the password is checked (care/lockout.py). A
        # locked account answers exactly as a wrong password, even to the right one, and
        # takes as long.
        if user is not None and not lockout.claim_password_attempt(user=user):
            lockout.waste_a_hash(attrs.get("password", ""))
            raise AuthenticationFailed(WRONG_CREDENTIALS, "no_active_account")
        try:
            data = super().validate(attrs)
        except AuthenticationFailed:
            raise AuthenticationFailed(WRONG_CREDENTIALS, "no_active_account") from None
        twofactor.require_api_code(user=self.user, code=attrs.get("otp"))
        lockout.record_password_success(user=self.user)
        return data


TokenPair = inline_serializer(
    "TokenPair", fields={"access": serializers.CharField(), "refresh": serializers.CharField()}
)


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenPair,
            401: detail_response("Wrong credentials, or an account locked after repeated failures."),
            **ERROR_RESPONSES,
            **THROTTLED_RESPONSES,
        }
    )
)
class LoginView(TokenObtainPairView):
    serializer_class = LoginSerializer
    throttle_classes = [AddressRateThrottle]


class RotatingRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            # The token's row is locked while it is checked and rotated: of two refreshes
            # at the same moment, the second waits, finds it blacklisted and is a replay.
            with transaction.atomic():
                lock_outstanding_token(attrs["refresh"])
                return super().validate(attrs)
        except TokenError:
            revoke_family_on_replay(attrs["refresh"])
            raise
        except User.DoesNotExist:
            # The account was deleted (erasure) after the token was issued.
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from None


def lock_outstanding_token(raw_token: str) -> None:
    try:
        payload = token_backend.decode(raw_token, verify=True)
    except TokenBackendError:  # forged or expired: the serializer refuses it
        return
    OutstandingToken.objects.select_for_update().filter(jti=payload.get(jwt_settings.JTI_CLAIM)).first()


def revoke_family_on_replay(raw_token: str) -> None:
    """A rotated (blacklisted) refresh token presented again means it was stolen or cloned:
    revoke every refresh token of its user (RFC 9700 §4.14, refresh token replay)."""
    try:
        payload = token_backend.decode(raw_token, verify=True)
    except TokenBackendError:  # forged or expired: nothing to revoke
        return
    jti = payload.get(jwt_settings.JTI_CLAIM)
    if BlacklistedToken.objects.filter(token__jti=jti).exists():
        user = User.objects.filter(pk=payload.get(jwt_settings.USER_ID_CLAIM)).first()
        if user is not None:
            services.revoke_refresh_tokens(user=user)


@extend_schema_view(
    post=extend_schema(
        responses={
            200: TokenPair,
            401: detail_response("The refresh token is invalid, expired or revoked."),
            **ERROR_RESPONSES,
        }
    )
)
class RefreshView(TokenRefreshView):
    serializer_class = RotatingRefreshSerializer


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=LogoutSerializer, responses={205: None, **ERROR_RESPONSES})
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = RefreshToken(serializer.validated_data["refresh"])
        except TokenError as exc:
            raise serializers.ValidationError({"refresh": [_("Token is invalid or expired.")]}) from exc
        if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(request.user.pk):
            raise serializers.ValidationError({"refresh": [_("Token is invalid or expired.")]})
        token.blacklist()
        return Response(status=status.HTTP_205_RESET_CONTENT)


class EnrollSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


EnrollResponse = inline_serializer(
    "EnrollResponse",
    fields={
        "access": serializers.CharField(),
        "refresh": serializers.CharField(),
        "role": serializers.ChoiceField(choices=[Role.PATIENT, Role.CAREGIVER]),
        "patient": serializers.UUIDField(),
    },
)


class EnrollView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AddressRateThrottle]

    @extend_schema(
        request=EnrollSerializer, responses={201: EnrollResponse, **ERROR_RESPONSES, **THROTTLED_RESPONSES}
    )
    def post(self, request):
        serializer = EnrollSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, patient = services.enroll(**serializer.validated_data)
        refresh = RefreshToken.for_user(user)
        body = {
            "access": str(refresh.access_token),
            "refresh": str(refresh),
            "role": user.role,
            "patient": patient.pk,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate_old_password(self, value: str) -> str:
        if not lockout.verify_password(user=self.context["request"].user, password=value):
            raise serializers.ValidationError(_("The current password is wrong."))
        return value

    def validate_new_password(self, value: str) -> str:
        from django.contrib.auth.password_validation import validate_password
        from django.core.exceptions import ValidationError as DjangoValidationError

        try:
            validate_password(value, self.context["request"].user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class PasswordChangeView(APIView):
    """Change the password; every refresh and access token issued before stops working."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [AddressRateThrottle]

    @extend_schema(
        request=PasswordChangeSerializer, responses={204: None, **ERROR_RESPONSES, **THROTTLED_RESPONSES}
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        services.change_password(user=request.user, new_password=serializer.validated_data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)
