"""The signed-in user's own account: choosing their own password."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpResponse
from django.urls import reverse_lazy
from django.views.generic import TemplateView

from checklist.models import User
from checklist.services.accounts import user_password_change_own


class OwnPasswordChangeView(LoginRequiredMixin, PasswordChangeView):
    template_name = "checklist/password_change.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        user = form.save(commit=False)
        saved = user_password_change_own(actor=cast(User, user))
        update_session_auth_hash(self.request, saved)
        return super(PasswordChangeView, self).form_valid(form)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["set_by_admin"] = cast(User, self.request.user).password_set_by_admin_at is not None
        return context


class OwnPasswordChangeDoneView(LoginRequiredMixin, TemplateView):
    template_name = "checklist/password_change_done.html"
