"""The sign-in form and the per-address sign-in throttle."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from checklist.models import User

USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length or 150


class LoginForm(AuthenticationForm):
    """Django's form sets the username's ``max_length`` after the field is built, so only the
    widget gets it and a longer name reaches ``authenticate`` (and django-axes, whose failure log
    then overflows its column: a 500). Validate the length before authenticating."""

    def __init__(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        username: forms.CharField = self.fields["username"]  # type: ignore[assignment]
        username.validators.append(MaxLengthValidator(USERNAME_MAX_LENGTH))


ADDRESS_THROTTLED = (
    "Too many failed sign-ins from this network address: wait {minutes} minutes and try again, "
    "or ask the IT service desk."
)


def sign_in_address_throttled(request: HttpRequest) -> bool:
    """Password spraying: many usernames tried from one address. django-axes locks a username
    only for the address that failed (so nobody elsewhere can lock a nurse out); this refuses an
    address once its failures, over every username, reach LOGIN_ADDRESS_FAILURE_LIMIT within the
    lockout period. The limit is far above a theatre suite's typos (its tablets share an address),
    so the suite is not locked out by one person's mistakes."""
    from axes.helpers import get_client_ip_address
    from axes.models import AccessAttempt

    address = get_client_ip_address(request)
    if not address:
        return False
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    failures = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
        total=Sum("failures_since_start")
    )["total"]
    return (failures or 0) >= settings.RIGHTLEVEL_LOGIN_ADDRESS_FAILURE_LIMIT


def address_throttled_message() -> str:
    return ADDRESS_THROTTLED.format(minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
