from __future__ import annotations

from django.apps import AppConfig


class LevelVerifyConfig(AppConfig):
    name = "levelverify"
    verbose_name = "RightLevel level verification"
