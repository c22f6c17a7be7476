"""Tablet pages and the health endpoint. Thin: reads come from selectors, writes from services."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import TemplateView

from checklist import forms, selectors, services, uploads
from checklist.access import roles
from checklist.access.policies import can, require
from checklist.access.sign_in import LoginForm, address_throttled_message, sign_in_address_throttled
from checklist.level_check import TABLET_VERDICTS, anatomy_of, current_evidence
from checklist.models import Case, Consent, PlanVersion, ScanInput, User
from checklist.selectors import downtime as downtime_selectors
from checklist.selectors import tablet as page_selectors
from checklist.services.adverse_events import adverse_event_record
from checklist.services.checklist import PHASE_WORDS, phase_attest_mine
from checklist.services.record_access import (
    REFUSED_BAD_INPUT,
    REFUSED_THROTTLED,
    access_case_open,
    access_export,
    access_sign_in_fail,
)
from checklist.services.signatures import SIGNING_FAILURE_LIMIT
from core.errors import ApplicationError, ConflictError, LockedError, field_error
from levelverify.check import STRUCTURE_BY_PROCEDURE, UNILATERAL_SIDES
from levelverify.spine import (
    NotationError,
    Unit,
    display_target,
    format_units,
    parse_levels,
    parse_unit,
)

logger = logging.getLogger(__name__)
LOCKED_OUT = "Too many failed sign-in attempts for this username: it is locked for a while."


def lockout_response(request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """django-axes lockout: JSON for the API, a page for people. 429 either way."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": LOCKED_OUT, "errors": {}}, status=429)
    return render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        status=429,
    )


class HealthView(View):
    """GET /healthz: 200 when the database and the broker answer and no reminder has waited past
    REMINDER_STALL_MINUTES, 503 otherwise. No login."""

    def get(self, request: HttpRequest) -> JsonResponse:
        database = selectors.database_status()
        broker = selectors.broker_status()
        last_beat = selectors.worker_last_heartbeat() if database.ok else None
        stall_minutes = settings.RIGHTLEVEL_REMINDER_STALL_MINUTES
        backlog = selectors.reminder_backlog(stall_minutes=stall_minutes) if database.ok else None
        reminders_ok = backlog is not None and not backlog.stalled
        healthy = database.ok and broker.ok and reminders_ok
        # Booleans only: /healthz needs no login, and a host, a port or an error text would tell
        # anyone how the system is built. The details go to the log.
        for name, component in (("database", database), ("broker", broker)):
            if not component.ok:
                logger.warning("Health check: %s unavailable: %s", name, component.detail)
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unavailable",
            "database": {"ok": database.ok},
            "broker": {"ok": broker.ok},
            # A due reminder waiting past the threshold means the sweep or the outbox is stalled.
            "reminders": {
                "ok": reminders_ok,
                "oldest_due_seconds": backlog.oldest_due_seconds if backlog else None,
                "oldest_delivery_due_seconds": backlog.oldest_delivery_due_seconds if backlog else None,
            },
            # Informational: a stale heartbeat means beat or the worker is down; reminders wait.
            "worker_last_heartbeat": last_beat.isoformat() if last_beat else None,
            "time": timezone.now().isoformat(),
        }
        response = JsonResponse(body, status=200 if healthy else 503)
        response["Cache-Control"] = "no-store"
        return response


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    form_class = LoginForm

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if sign_in_address_throttled(request):
            access_sign_in_fail(username=_typed_username(request), channel="page", reason=REFUSED_THROTTLED)
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, address_throttled_message())
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        # A wrong password is logged by the user_login_failed signal; a username refused before
        # authenticate ran (too long) is a failed sign-in too.
        if "username" in form.errors and _typed_username(self.request):
            access_sign_in_fail(username=_typed_username(self.request), channel="page", reason=REFUSED_BAD_INPUT)
        return super().form_invalid(form)

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["timed_out"] = self.request.GET.get("timeout") == "1"
        return context


def _typed_username(request: HttpRequest) -> str:
    value = request.POST.get("username", "")
    return value if isinstance(value, str) else ""


class SwitchUserView(View):
    """Shared tablets: end this person's session and hand the login screen to the next one."""

    def post(self, request: HttpRequest) -> HttpResponse:
        target = request.POST.get("next", "")
        request._rightlevel_logout_reason = "switch user"  # type: ignore[attr-defined]  # signals.LOGOUT_REASON_ATTR
        logout(request)
        # The next person signs in to the page that was open (a case, usually), if it is ours.
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            return redirect(f"{reverse('login')}?{urlencode({'next': target})}")
        return redirect("login")


class ActivityView(LoginRequiredMixin, View):
    """POST /activity: the page tells the server someone is typing (typing makes no request of
    its own); the inactivity middleware counts this request as activity."""

    def post(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(status=204)


# ------------------------------------------------------------------------------------------------
# Tablet pages
# ------------------------------------------------------------------------------------------------

LANDING_BY_ROLE = {
    roles.QUALITY_OFFICER: "quality-dashboard",
    roles.ADMIN: "case-list",
}


class RoleLandingView(LoginRequiredMixin, View):
    """The role decides the landing page: the OR team gets today's cases."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return redirect(LANDING_BY_ROLE.get(request.user.role or "", "case-list"))  # type: ignore[union-attr]


class CaseListView(LoginRequiredMixin, TemplateView):
    template_name = "checklist/case_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        mine = self.request.GET.get("mine") == "1" or (user.role == roles.SURGEON and "mine" not in self.request.GET)  # type: ignore[union-attr]
        room = self.request.GET.get("room", "")
        room_id = int(room) if room.isdigit() and len(room) < 10 else None
        cases = list(page_selectors.cases_today(user, mine_only=mine, room_id=room_id))  # type: ignore[arg-type]
        rooms = page_selectors.rooms_now(user)  # type: ignore[arg-type]
        context.update(
            rooms=rooms,
            room_id=room_id,
            cases=[(case, page_selectors.target_of(case)) for case in cases],
            mine=mine,
            today=timezone.localdate(),
            is_surgeon=user.role == roles.SURGEON,  # type: ignore[union-attr]
            can_schedule=can(user, "case.schedule"),  # type: ignore[arg-type]
            can_print_downtime=can(user, "step.attest"),  # type: ignore[arg-type]
        )
        return context


def _visible_case_or_404(request: HttpRequest, case_id: int) -> Case:
    # By primary key, then the scope rules (see selectors.case_visible_get for why not visible_cases).
    case = (
        Case.objects.select_related("patient", "room", "surgeon", "anesthesia", "latest_verdict", "checklist_run")
        .filter(pk=case_id)
        .first()
    )
    if case is None or not can(_actor(request), "case.view", case):
        raise Http404("No such case, or it is not in your rooms.")
    return case


FORMS: dict[str, type[forms.VersionedForm]] = {
    "plan": forms.PlanForm,
    "sign": forms.SignForm,
    "confirm": forms.SignForm,
    "consent": forms.ConsentForm,
    "marking": forms.MarkingForm,
    "imaging": forms.ImagingForm,
    "anatomy": forms.AnatomyForm,
    "localization": forms.LocalizationForm,
    "treated": forms.TreatedLevelsForm,
    "adverse": forms.AdverseEventForm,
}


def _initial_forms(case: Case, page: page_selectors.CasePage) -> dict[str, Any]:
    version: dict[str, Any] = {"expected_version": case.evidence_version}
    plan = page.evidence.plan
    built: dict[str, Any] = {}
    # Consent, marking and anatomy start empty: each is entered from its own source (the signed
    # paper, the skin, the images), never from the plan, so that agreement is evidence.
    for name, form_class in FORMS.items():
        initial: dict[str, Any] = dict(version)
        if name == "plan" and plan is not None:
            initial.update(levels=plan.levels, side=plan.side, approach=plan.approach, notes=plan.notes)
        if name == "marking":
            initial.update(marked_by=case.surgeon_id)
        if name == "imaging":
            initial.update(reviewed_by=case.surgeon_id)
        if name == "localization":
            initial.update(read_by=case.surgeon_id, phase="pre_incision", reference="sacrum")
        built[name] = form_class(initial=initial, prefix=name)
    return built


class CaseDetailView(LoginRequiredMixin, View):
    """The case page: target header, verdict strip, phases as cards, evidence forms."""

    template_name = "checklist/case_detail.html"

    def get(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _visible_case_or_404(request, case_id)
        if request.headers.get("X-RightLevel-Passive") != "1" and request.GET.get("partial") != "live":
            access_case_open(actor=_actor(request), case=case, channel="page")  # opening, not polling
        return self.render(request, case)

    def render(
        self,
        request: HttpRequest,
        case: Case,
        *,
        bound: tuple[str, Any] | None = None,
        error: str | None = None,
        conflict: bool = False,
        status: int = 200,
        error_anchor: str = "top",
    ) -> HttpResponse:
        page = page_selectors.case_page(case, request.user)  # type: ignore[arg-type]
        built = _initial_forms(case, page)
        open_form = None
        if bound is not None:
            built[bound[0]] = bound[1]
            open_form = bound[0]
        level_choices, label_choices = _level_choices(case, page)
        # A background refresh (another device changed the case) leaves this device's read-back and
        # messages for its own next page.
        passive = request.headers.get("X-RightLevel-Passive") == "1"
        readback = None if passive else request.session.pop(SESSION_READBACK, None)
        flash_anchor = None
        if bound is None and error is None and not passive:
            flash_anchor = request.session.pop(SESSION_FLASH_ANCHOR, "top")
        actor = _actor(request)
        context = {
            "flash_anchor": flash_anchor,
            "error_anchor": error_anchor,
            "signing_locked": actor.signing_locked_at is not None,
            "signing_limit": SIGNING_FAILURE_LIMIT,
            "signing_unlockers": selectors.signing_unlockers() if actor.signing_locked_at is not None else [],
            "readback": readback if readback and readback.get("case") == case.pk else None,
            "shown_tokens": {
                phase.code: phase_shown_token(case=case, phase=phase.code, user=_actor(request))
                for phase in page.phases
                if phase.open and phase.waiting_for_me
            },
            "level_choices": level_choices,
            "label_choices": label_choices,
            "page": page,
            "case": case,
            "forms": built,
            "open_form": open_form,
            "action_error": error,
            "conflict": conflict,
            "first_signature": not request.session.get(SESSION_SIGNED),
            "partial": request.headers.get("HX-Request") == "true" and request.GET.get("partial") == "live",
        }
        template = "checklist/_case_live.html" if context["partial"] else self.template_name
        return render(request, template, context, status=status)


SESSION_SIGNED = "rightlevel_signed"
SESSION_FLASH_ANCHOR = "rightlevel_flash_anchor"
SIGNING_ACTIONS = frozenset({"sign", "confirm", "adverse"})
ONE_ATTEMPT_LEFT = "One attempt left: a third wrong password locks signing for you until an administrator unlocks it."
WHO_UNLOCKS = (
    'Who can unlock: {admins} (administrators), in the administration pages (Users, then "Unlock signing"). '
    "The unlock is audited with its reason."
)


def signing_feedback(exc: ApplicationError, actor: User) -> ApplicationError:
    """A failed signature says how many tries are left, and a lock says who can lift it."""
    if isinstance(exc, LockedError):
        admins = ", ".join(selectors.signing_unlockers()) or "an administrator"
        message = f"{exc.message} {WHO_UNLOCKS.format(admins=admins)}"
        return LockedError(message, errors={"non_field_errors": [message]})
    left = SIGNING_FAILURE_LIMIT - selectors.signing_failures_in_a_row(actor)
    if exc.status_code == 403 and left == 1 and exc.errors:
        errors = {field: [f"{e} {ONE_ATTEMPT_LEFT}" for e in messages_] for field, messages_ in exc.errors.items()}
        return ApplicationError(f"{exc.message} {ONE_ATTEMPT_LEFT}", errors=errors, status_code=exc.status_code)
    return exc


SESSION_READBACK = "rightlevel_readback"
SHOWN_SALT = "rightlevel.phase-shown"
SHOWN_MAX_AGE_SECONDS = 12 * 60 * 60
NOT_SHOWN_HERE = (
    "This attest button was not shown for the {phase} on this device: nothing was attested. Reload and "
    "use the button on the {phase} card."
)


def phase_shown_token(*, case: Case, phase: str, user: User) -> str:
    """What a phase's attest button carries: the server's word that it rendered this control, for
    this case, phase and person, at this time."""
    return signing.dumps({"c": case.pk, "p": phase, "u": user.pk, "t": time.time()}, salt=SHOWN_SALT)


def phase_shown_at(token: str, *, case: Case, phase: str, user: User) -> dt.datetime | None:
    """When the control was rendered, if ``token`` is a genuine one for this case, phase and person."""
    try:
        data = signing.loads(token, salt=SHOWN_SALT, max_age=SHOWN_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or (data.get("c"), data.get("p"), data.get("u")) != (case.pk, phase, user.pk):
        return None
    return dt.datetime.fromtimestamp(float(data["t"]), tz=dt.UTC)


def readback_store(request: HttpRequest, *, case: Case, what: str, rows: list[tuple[str, str, str, bool]]) -> None:
    """After a save, show what was entered beside what the plan says (never inside the form).
    Each row: label, entered, what the plan says, and whether the two are compared word for word
    (the level check is the judge; the read-back only helps the eye)."""
    request.session[SESSION_READBACK] = {
        "case": case.pk,
        "what": what,
        "rows": [
            {"label": label, "entered": entered, "plan": plan,
             "agrees": (entered.lower() == plan.lower()) if compare else None}
            for label, entered, plan, compare in rows
        ],
    }  # fmt: skip


PICKER_REGION = ("T11", "T12", "T13", "L1", "L2", "L3", "L4", "L5", "L6", "S1")


def _level_choices(case: Case, page: page_selectors.CasePage) -> tuple[list[str], list[str]]:
    """Tap-to-pick levels around the lumbar spine, for this procedure and this patient's anatomy:
    (plan / consent / imaging levels, the localization label)."""
    anatomy = anatomy_of(page.evidence.anatomy)
    vertebrae = [v.name for v in anatomy.sequence if v.name in PICKER_REGION]
    segments = [f"{a}-{b}" for a, b in pairwise(vertebrae)]
    structure = STRUCTURE_BY_PROCEDURE.get(case.procedure, "vertebra")
    levels = segments if structure == "segment" else vertebrae
    return levels, (segments if structure == "segment" else vertebrae)


class CaseActionView(LoginRequiredMixin, View):
    """POST /cases/<id>/do/<action>: one form, one service call, then back to the case page.
    Errors come back inline on the same page (400), stale writes as a conflict notice (409)."""

    # The signing passwords never reach an error report or a logged request.
    @method_decorator(sensitive_post_parameters("sign-password", "confirm-password", "password"))
    def post(self, request: HttpRequest, case_id: int, action: str) -> HttpResponse:
        case = _visible_case_or_404(request, case_id)
        handler = ACTIONS.get(action)
        if handler is None:
            raise Http404("Unknown action.")
        form_class, call = handler
        claimed = request.headers.get(TABLET_VERDICT_HEADER)
        if claimed is not None and claimed not in TABLET_VERDICTS:
            return HttpResponse(f"{TABLET_VERDICT_HEADER} must be pass, stop or incomplete.", status=400,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
        form = form_class(request.POST, request.FILES, prefix=action if action in FORMS else None)
        page = CaseDetailView()
        if not form.is_valid():
            return page.render(request, case, bound=(action, form) if action in FORMS else None,
                               error=_form_error_text(form) if action not in FORMS else None, status=400)  # fmt: skip
        data = form.cleaned_data
        try:
            message = call(request, case, data)
        except ConflictError as exc:
            if action in FORMS:
                form = form_class(
                    {**request.POST.dict(), f"{action}-expected_version": exc.extra["current"]["evidence_version"]},
                    prefix=action,
                )
                form.is_valid()
            fresh = _visible_case_or_404(request, case_id)
            return page.render(request, fresh, bound=(action, form) if action in FORMS else None,
                               error=exc.message, conflict=True, status=409)  # fmt: skip
        except ApplicationError as exc:
            fresh = _visible_case_or_404(request, case_id)
            if action in SIGNING_ACTIONS:
                exc = signing_feedback(exc, _actor(request))
            if action in FORMS:
                for field, errors in exc.errors.items():
                    target = field if field in form.fields else None
                    for error in errors:
                        form.add_error(target, error)
                if not exc.errors:
                    form.add_error(None, exc.message)
                return page.render(request, fresh, bound=(action, form), status=exc.status_code)
            # A field error's own words (e.g. why a barcode is not a wristband), not "Invalid input".
            text = " ".join(m for ms in exc.errors.values() for m in ms) or exc.message
            return page.render(request, fresh, error=text, status=exc.status_code,
                               error_anchor=ANCHORS.get(action, "top"))  # fmt: skip
        if request.headers.get(QUEUE_HEADER) == "1":
            if claimed and action in EVIDENCE_ACTIONS:
                services.offline_verdict_reconcile(actor=_actor(request), case=case_id, tablet_verdict=claimed)
            return _queued_write_answer(case_id)
        if message:
            messages.success(request, message)
        # The page comes back scrolled to the control; the message is shown there, not at the top.
        request.session[SESSION_FLASH_ANCHOR] = ANCHORS.get(action, "top")
        return redirect(reverse("case-detail", args=[case_id]) + f"#{ANCHORS.get(action, 'top')}")


# Sent by the tablet's offline queue (static/js/offline.js) when it replays a write; with evidence,
# the verdict the tablet showed once it had kept that write (see services.offline_verdict_reconcile).
QUEUE_HEADER = "X-RightLevel-Queue"
TABLET_VERDICT_HEADER = "X-Tablet-Verdict"
EVIDENCE_ACTIONS = frozenset({"consent", "marking", "imaging", "anatomy", "localization"})


def _queued_write_answer(case_id: int) -> HttpResponse:
    """A replayed write's answer: no page, and the case's evidence version after it, read under
    the case's row lock that the write took (the idempotency middleware's transaction holds it), so
    that the queue's next write from the same view of the case expects exactly this one and still
    gets the 409 if anyone else changed the case meanwhile."""
    response = HttpResponse(status=204)
    response["X-Evidence-Version"] = str(Case.objects.values_list("evidence_version", flat=True).get(pk=case_id))
    return response


def _actor(request: HttpRequest) -> User:
    """The signed-in user (LoginRequiredMixin has already refused anonymous requests)."""
    return cast(User, request.user)


def _form_error_text(form: Any) -> str:
    return " ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


def _do_plan(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    plan = services.plan_revise(actor=_actor(request), case=case.pk, procedure=case.procedure, levels=d["levels"],
                                side=d["side"], approach=d["approach"], notes=d["notes"],
                                expected_version=d["expected_version"])  # fmt: skip
    return f"Plan version {plan.number} saved: {plan.levels} {plan.side}. It must be signed."


PLAN_NUMBER_INVALID = "Choose the plan version to sign (a whole number)."


def _plan_number(raw: str) -> int:
    """The sign form's plan version; anything but a few ASCII digits is a form error, not a 500."""
    if not re.fullmatch(r"[0-9]{1,6}", raw):
        raise ApplicationError(PLAN_NUMBER_INVALID, errors={"non_field_errors": [PLAN_NUMBER_INVALID]})
    return int(raw)


def _do_sign(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    plan_number = _plan_number(request.POST.get("plan_number", ""))
    signature = services.plan_sign(actor=_actor(request), case=case.pk, plan_number=plan_number, password=d["password"],
                                   username=d["username"] or None,
                                   first_in_session=not request.session.get(SESSION_SIGNED),
                                   expected_version=d["expected_version"])  # fmt: skip
    request.session[SESSION_SIGNED] = True
    return (
        f"Signed by {signature.printed_name} at {timezone.localtime(signature.signed_at):%H:%M}: {signature.meaning}."
    )


def _do_confirm(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    signature = services.localization_confirm(actor=_actor(request), case=case.pk, password=d["password"],
                                              username=d["username"] or None,
                                              first_in_session=not request.session.get(SESSION_SIGNED),
                                              expected_version=d["expected_version"])  # fmt: skip
    request.session[SESSION_SIGNED] = True
    return f"Level confirmed by {signature.printed_name}."


def _do_consent(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    consent = services.consent_record(actor=_actor(request), case=case.pk, procedure=d["procedure"], levels=d["levels"],
                                      side=d["side"], date_signed=d["date_signed"], witness=d["witness"],
                                      scan=d.get("scan"), expected_version=d["expected_version"])  # fmt: skip
    plan = current_evidence(case).plan
    readback_store(request, case=case, what="Consent", rows=[
        ("Procedure", consent.get_procedure_display(), case.get_procedure_display(), True),
        ("Levels", consent.levels, plan.levels if plan else "no plan yet", plan is not None),
        ("Side", consent.side, plan.side if plan else "no plan yet", plan is not None),
    ])  # fmt: skip
    return f"Consent recorded: {consent.levels} {consent.side}."


def _do_marking(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.marking_record(actor=_actor(request), case=case.pk, region=d["region"], side=d["side"],
                            marked_by=d["marked_by"], expected_version=d["expected_version"])  # fmt: skip
    plan = current_evidence(case).plan
    readback_store(request, case=case, what="Site marking", rows=[
        ("Side", d["side"], plan.side if plan else "no plan yet", plan is not None),
        ("Region", d["region"], f"levels {plan.levels}" if plan else "no plan yet", False),
    ])  # fmt: skip
    return f"Site marking recorded: {d['region']}, {d['side']}."


def _do_imaging(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    imaging = services.imaging_record(actor=_actor(request), case=case.pk, modality=d["modality"],
                                      study_date=d["study_date"], levels=d["levels"], reviewed_by=d["reviewed_by"],
                                      expected_version=d["expected_version"])  # fmt: skip
    return f"Pre-op imaging recorded: {imaging.levels}."


def _do_anatomy(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    record = services.anatomy_record(actor=_actor(request), case=case.pk, thoracic=d["thoracic"], lumbar=d["lumbar"],
                                     lowest_rib=d["lowest_rib"].strip().upper(),
                                     lowest_mobile=d["lowest_mobile"].strip().upper(), source=d["source"],
                                     expected_version=d["expected_version"])  # fmt: skip
    readback_store(request, case=case, what="Anatomy", rows=[
        ("Thoracic vertebrae", str(record.thoracic), "— (the usual anatomy has 12)", False),
        ("Lumbar vertebrae", str(record.lumbar), "— (the usual anatomy has 5)", False),
    ])  # fmt: skip
    return f"Anatomy recorded: {record.thoracic} thoracic, {record.lumbar} lumbar."


def _do_localization(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    plan = PlanVersion.objects.filter(case=case).order_by("-number").first()  # the service reads the rest
    actor = _actor(request)
    # Permission first (the service checks it again): a refusal never reads as a form error.
    if (
        plan is not None
        and plan.side in UNILATERAL_SIDES
        and not d.get("side")
        and can(actor, "localization.record", case)
    ):
        raise field_error("side", f"The plan is {plan.side}: say which side the marker is on, or that this view "
                                  "does not show it.")  # fmt: skip
    side = "" if d.get("side") in ("", None, forms.SIDE_NOT_SHOWN) else d["side"]
    x = services.localization_record(actor=actor, case=case.pk, phase=d["phase"], reference=d["reference"],
                                     count=d["count"], label=d["label"], marker_in_place=d["marker_in_place"] == "yes",
                                     durable_mark_placed=d["durable_mark_placed"], read_by=d["read_by"], side=side,
                                     expected_version=d["expected_version"])  # fmt: skip
    return f"Level image recorded: count {x.count} from the {x.get_reference_display().lower()} = {x.label}."


def _do_treated(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.treated_levels_record(actor=_actor(request), case=case.pk, levels=d["levels"],
                                   expected_version=d["expected_version"])  # fmt: skip
    return "Levels treated recorded."


def _do_adverse(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    event = adverse_event_record(actor=_actor(request), case=case.pk, statement=d["statement"], password=d["password"],
                                 username=d["username"] or None,
                                 first_in_session=not request.session.get(SESSION_SIGNED),
                                 expected_version=d["expected_version"])  # fmt: skip
    request.session[SESSION_SIGNED] = True
    alerted = len(event.alerted)
    return (
        f"Wrong-level event recorded and signed by {event.signature.printed_name}: planned {event.planned_levels}, "
        f"treated {event.treated_levels}. {alerted} quality officer{'s' if alerted != 1 else ''} and "
        "administrators alerted. Sign-out can now be completed."
    )


def _do_attest(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    require(_actor(request), "step.attest", case)  # who may attest at all, before whether this tap counts
    try:
        phase = selectors.checklist_template(case).step(d["step_code"]).phase
    except KeyError:
        raise ApplicationError("No such step in this case's checklist.") from None
    shown_at = phase_shown_at(d["shown"], case=case, phase=phase, user=_actor(request))
    if shown_at is None:
        raise ApplicationError(NOT_SHOWN_HERE.format(phase=PHASE_WORDS.get(phase, phase)))
    services.step_attest(actor=_actor(request), case=case.pk, step_code=d["step_code"], role=d["role"],
                         expected_version=d["expected_version"], shown_at=shown_at)  # fmt: skip
    return "Attested."


def _do_scan(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    outcome = services.identity_scan_record(actor=_actor(request), case=case.pk, barcode=d["barcode"],
                                            source=d["source"] or ScanInput.SCANNER,
                                            expected_version=d["expected_version"])  # fmt: skip
    scan = outcome.scan
    if not scan.matched:
        # Committed (the wrong scan is part of the record); the stop overlay reads both identities.
        # No flash message: one left unread under the overlay would still say STOP after the right
        # wristband is scanned.
        return ""
    if outcome.attestation is None:
        return f"Wristband matches ({scan.label()}). {outcome.note}"
    return f"Wristband matches ({scan.label()}): patient identity attested."


def _do_attest_phase(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    require(_actor(request), "step.attest", case)
    words = PHASE_WORDS.get(d["phase"], d["phase"])
    shown_at = phase_shown_at(d["shown"], case=case, phase=d["phase"], user=_actor(request))
    if shown_at is None:
        raise ApplicationError(NOT_SHOWN_HERE.format(phase=words))
    done = phase_attest_mine(actor=_actor(request), case=case.pk, phase=d["phase"], role=d["role"],
                             expected_version=d["expected_version"], shown_at=shown_at)  # fmt: skip
    if not done:
        return f"Already attested: your {words} steps as {d['role']} were recorded before."
    return f"Attested {len(done)} {words} step{'s' if len(done) != 1 else ''} as {d['role']}."


def _do_in_room(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.case_patient_in_room(actor=_actor(request), case=case.pk, expected_version=d["expected_version"])
    return "Patient is in the room: sign-in has started."


def _do_time_out(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.time_out_complete(actor=_actor(request), case=case.pk, expected_version=d["expected_version"])
    return "Time-out complete. Next: localization with the marker in place."


def _do_durable(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.localization_mark_durable(actor=_actor(request), case=case.pk, localization_id=d["localization_id"],
                                       expected_version=d["expected_version"])  # fmt: skip
    return "Durable mark recorded."


def _do_sign_out(request: HttpRequest, case: Case, d: dict[str, Any]) -> str:
    services.sign_out_complete(actor=_actor(request), case=case.pk, expected_version=d["expected_version"])
    return "Sign-out complete. The case is closed."


ACTIONS: dict[str, tuple[type[forms.VersionedForm], Callable[[HttpRequest, Case, dict[str, Any]], str]]] = {
    "plan": (forms.PlanForm, _do_plan),
    "sign": (forms.SignForm, _do_sign),
    "confirm": (forms.SignForm, _do_confirm),
    "consent": (forms.ConsentForm, _do_consent),
    "marking": (forms.MarkingForm, _do_marking),
    "imaging": (forms.ImagingForm, _do_imaging),
    "anatomy": (forms.AnatomyForm, _do_anatomy),
    "localization": (forms.LocalizationForm, _do_localization),
    "treated": (forms.TreatedLevelsForm, _do_treated),
    "adverse": (forms.AdverseEventForm, _do_adverse),
    "attest": (forms.AttestForm, _do_attest),
    "attest-phase": (forms.PhaseAttestForm, _do_attest_phase),
    "scan": (forms.WristbandScanForm, _do_scan),
    "in-room": (forms.VersionedForm, _do_in_room),
    "time-out": (forms.VersionedForm, _do_time_out),
    "durable-mark": (forms.DurableMarkForm, _do_durable),
    "sign-out": (forms.VersionedForm, _do_sign_out),
}
ANCHORS = {
    "plan": "evidence", "sign": "evidence", "consent": "evidence", "marking": "evidence", "imaging": "evidence",
    "anatomy": "evidence", "localization": "localization", "confirm": "localization", "durable-mark": "localization",
    "treated": "localization", "adverse": "localization",
}  # fmt: skip


class LevelsPreviewView(LoginRequiredMixin, View):
    """htmx: echo how free-text levels will be read ("Reads as: L2-L3 segment") before saving."""

    def get(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _visible_case_or_404(request, case_id)
        text = str(next((v for k, v in request.GET.items() if k.endswith(("levels", "label"))), ""))
        kind = request.GET.get("kind", "levels")
        structure = STRUCTURE_BY_PROCEDURE.get(request.GET.get("consent-procedure") or case.procedure, "vertebra")
        evidence = current_evidence(case)
        anatomy = anatomy_of(evidence.anatomy)
        if not text.strip():
            return HttpResponse("")
        units: tuple[Unit, ...]
        try:
            if kind == "label":
                # Exactly what localization_record accepts: one unit, in the plan's structure (a
                # root by its vertebra or its foramen, contract v2).
                plan = evidence.plan
                if plan is not None:
                    structure = STRUCTURE_BY_PROCEDURE.get(plan.procedure, structure)
                units = (parse_unit(text, structure, anatomy),)
            else:
                units = parse_levels(text, structure, anatomy)
        except NotationError as exc:
            return render(request, "checklist/_levels_preview.html", {"error": "; ".join(exc.messages)})
        display = display_target(structure, units, anatomy=anatomy)
        return render(request, "checklist/_levels_preview.html", {"canonical": format_units(units), "display": display})


class NotificationsView(LoginRequiredMixin, View):
    """The bell's list: newest first; mark read; channel preferences."""

    def get(self, request: HttpRequest) -> HttpResponse:
        from checklist.models import Notification, NotificationPreference

        user = _actor(request)
        items = Notification.objects.filter(user=user).select_related("case")[:100]
        preference = NotificationPreference.objects.filter(user=user).first()
        form = forms.NotificationPreferenceForm(
            initial={
                "email": preference.email if preference else True,
                "webhook": preference.webhook if preference else False,
                "pager_id": preference.pager_id if preference else "",
            }
        )
        return render(request, "checklist/notifications.html", {"items": items, "form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        from checklist.reminders.notifications import notification_mark_read, notification_preference_set

        user = _actor(request)
        if request.POST.get("action") == "preferences":
            form = forms.NotificationPreferenceForm(request.POST)
            if form.is_valid():
                notification_preference_set(actor=user, **form.cleaned_data)
                messages.success(request, "Notification preferences saved.")
        else:
            # Digits only, and small enough to be a row id (a longer one is no notification of yours).
            ids = [int(i) for i in request.POST.getlist("id") if i.isdigit() and len(i) < 19] or None
            count = notification_mark_read(actor=user, notification_ids=ids)
            messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
        return redirect("notifications")


class ConsentScanView(LoginRequiredMixin, View):
    """GET a consent's scan: only for someone who may see the case, only as a download (never
    rendered in the page's origin), with its type from the content check and nosniff."""

    def get(self, request: HttpRequest, case_id: int, consent_id: int) -> HttpResponseBase:
        case = _visible_case_or_404(request, case_id)
        consent = Consent.objects.filter(pk=consent_id, case=case).exclude(scan="").first()
        if consent is None:
            raise Http404("No such scan.")
        access_export(
            actor=_actor(request), export="consent_scan", channel="page", case=case, scope={"consent_id": consent.pk}
        )
        extension = consent.scan.name.rsplit(".", 1)[-1].lower()
        content_type = uploads.CONTENT_TYPES.get(extension, "application/octet-stream")
        response = FileResponse(
            consent.scan.open("rb"),
            as_attachment=True,
            filename=f"consent-case-{case.pk}-{consent.pk}.{extension}",
            content_type=content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


DOWNTIME_NOT_YOURS = "Downtime sheets are printed by the theatre team (surgeon, anesthesia, nurse, radiographer)."


class DowntimeSheetsView(LoginRequiredMixin, View):
    """ "Print downtime sheets": a PDF with a page per open case of today in the user's rooms (or
    one case's page), to work from on paper when the tablets cannot reach the server. Printing is
    an export of patient data: audited on each case's trail."""

    def get(self, request: HttpRequest, case_id: int | None = None) -> HttpResponse:
        user = _actor(request)
        if not can(user, "step.attest"):
            return HttpResponse(DOWNTIME_NOT_YOURS, status=403, content_type="text/plain; charset=utf-8")
        if case_id is None:
            cases = downtime_selectors.downtime_cases(user)
            filename = f"rightlevel-downtime-{timezone.localdate():%Y%m%d}.pdf"
        else:
            cases = [_visible_case_or_404(request, case_id)]
            filename = f"rightlevel-downtime-case-{case_id}.pdf"
        sheets = [downtime_selectors.downtime_sheet(case) for case in cases]
        pdf = downtime_selectors.downtime_sheets_pdf(
            sheets, printed_by=user.full_name or user.get_username(), printed_at=timezone.now()
        )
        services.access_downtime_sheets(actor=user, cases=cases)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response


BACK_ENTRY_READ_ONLY = "Only the case's circulating nurse enters the downtime paper. This page shows what was entered."


class DowntimeBackEntryView(LoginRequiredMixin, View):
    """ "Back-enter from downtime paper": after a downtime, the nurse enters the checklist boxes
    initialled and timed on the paper (issue 18). Each row goes through the normal attestation
    rules; a refusal comes back on the row (400), never a 500. Everyone else who sees the case
    reads what was entered."""

    template_name = "checklist/downtime_backentry.html"

    def get(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _visible_case_or_404(request, case_id)
        return self.render(request, case, self.form(case))

    def post(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _visible_case_or_404(request, case_id)
        if not can(_actor(request), "downtime.back_enter", case):
            return self.render(request, case, None, error=BACK_ENTRY_READ_ONLY, status=403)
        form = self.form(case, data=request.POST)
        if not form.is_valid():
            return self.render(request, case, form, status=400)
        try:
            done = services.steps_back_enter(actor=_actor(request), case=case.pk, entries=form.entries(),
                                             expected_version=form.cleaned_data["expected_version"])  # fmt: skip
        except ApplicationError as exc:
            fresh = _visible_case_or_404(request, case_id)
            if isinstance(exc, ConflictError):
                form = self.form(fresh, data={**request.POST.dict(), "expected_version": fresh.evidence_version})
                form.is_valid()
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not exc.errors:
                form.add_error(None, exc.message)
            return self.render(request, fresh, form, status=exc.status_code)
        count = len(done)
        messages.success(request, f"Entered {count} step{'s' if count != 1 else ''} from the downtime paper.")
        return redirect(reverse("case-detail", args=[case_id]) + "#phase-sign_in")

    def form(self, case: Case, data: Any = None) -> forms.DowntimeBackEntryForm:
        initial = {"expected_version": case.evidence_version, "paper_date": downtime_selectors.case_day(case)}
        return forms.DowntimeBackEntryForm(data, initial=initial, rows=downtime_selectors.back_entry_rows(case))

    def render(
        self,
        request: HttpRequest,
        case: Case,
        form: forms.DowntimeBackEntryForm | None,
        *,
        error: str | None = None,
        status: int = 200,
    ) -> HttpResponse:
        allowed = can(_actor(request), "downtime.back_enter", case)
        texts = {step.code: step.text for step in selectors.checklist_status(case)}
        context = {
            "case": case,
            "target": page_selectors.target_of(case),
            "form": form if allowed else None,
            "can_enter": allowed,
            "read_only_note": None if allowed else BACK_ENTRY_READ_ONLY,
            "recorded": [(a, texts.get(a.step_code, a.step_code)) for a in downtime_selectors.paper_attestations(case)],
            "action_error": error,
            "stopped": case.verdict == "stop",
        }
        return render(request, self.template_name, context, status=status)
