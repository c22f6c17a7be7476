from __future__ import annotations

from django.urls import path

from levelverify.apis import LevelCheckApi

urlpatterns = [path("level-checks/", LevelCheckApi.as_view(), name="level-check")]
