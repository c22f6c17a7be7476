"""REST API for the checklist app: one class per operation, input and output serializers."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checklist.views import LOCKED_OUT
from config.api_errors import ApplicationError

BAD_CREDENTIALS = "Unable to sign in with the username and password given."


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (login lockout applies)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        operation_id="auth_token_create",
        request=InputSerializer,
        responses={200: OutputSerializer},
        examples=[OpenApiExample("Nurse", value={"username": "nurse", "password": "rightlevel-demo"})],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Axes needs the Django request (it tracks failures and raises lockouts on it).
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if getattr(request._request, "axes_locked_out", False):
            # Normally AxesMiddleware answers first (checklist.views.lockout_response); this is
            # the same answer should the middleware ever be absent.
            raise ApplicationError(LOCKED_OUT, status_code=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None or not user.is_active:
            raise ApplicationError(BAD_CREDENTIALS, errors={"non_field_errors": [BAD_CREDENTIALS]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key}).data)
