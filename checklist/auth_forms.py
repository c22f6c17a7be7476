"""The sign-in form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

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
