"""Django choices for the level check's vocabulary. The values (and their order) are the engine's
(``levelverify.check``): only the labels people read are declared here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models


def engine_choices(name: str, values: Sequence[str], labels: Mapping[str, str]) -> Any:
    """A ``TextChoices`` named ``name`` with one member per engine value (member ``FUSION`` for
    ``"fusion"``), labelled from ``labels``; a value without a label, or a label for a value the
    engine does not have, is refused at import."""
    if set(labels) != set(values):
        raise ImproperlyConfigured(f"{name} labels {sorted(labels)} do not match the engine's values {list(values)}")
    # Enum's functional API, which django-stubs does not describe (hence Any).
    text_choices: Any = models.TextChoices
    return text_choices(name, [(value.upper(), (value, labels[value])) for value in values])
