"""The quality officers' workspace under /quality/. Thin: reads come from quality.selectors,
the two writes (a learning note, "verify now") from services. Every page needs the ``audit.view``
policy (the near-miss register ``near_miss.view``); anyone else gets 403."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from checklist.access.policies import require
from checklist.models import Case, NearMiss, User
from checklist.selectors import case_signatures
from checklist.services.audit_verification import audit_verification_start
from checklist.services.near_misses import near_miss_annotate
from checklist.services.record_access import access_case_open, access_export
from core.errors import ApplicationError, ForbiddenError
from quality import charts, exports, forms, selectors
from quality.selectors import CaseFilter


class QualityView(LoginRequiredMixin, View):
    """Signed in, and allowed ``policy``; 403 otherwise."""

    policy = "audit.view"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        try:
            require(cast(User, request.user), self.policy)
        except ForbiddenError as exc:
            raise PermissionDenied(exc.message) from exc
        return super().dispatch(request, *args, **kwargs)


def _query(request: HttpRequest, **changes: Any) -> str:
    """The current query string with ``changes`` (None removes a key)."""
    params = {k: v for k, v in request.GET.items() if k not in ("before", "after")}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


def _filter_form(form_class: type[forms.CaseFilterForm], request: HttpRequest) -> forms.CaseFilterForm:
    """A bound filter form; when it is valid, bound again with its defaults filled in, so the date
    inputs show the range the figures cover."""
    form = form_class(request.GET)
    if not form.is_valid():
        return form
    data = request.GET.copy()
    for name in ("date_from", "date_to"):
        value = form.cleaned_data.get(name)
        if value and not data.get(name):
            data[name] = value.isoformat()
    filled = form_class(data)
    filled.is_valid()
    return filled


def _hide(request: HttpRequest) -> bool:
    return request.GET.get("hide_names") in ("1", "on", "true")


# --- dashboard -----------------------------------------------------------------------------------


class DashboardView(QualityView):
    template_name = "quality/dashboard.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = _filter_form(forms.CaseFilterForm, request)
        context: dict[str, Any] = {"form": form, "hide_names": _hide(request), "tab": "dashboard"}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        figures = selectors.compliance(CaseFilter.from_form(form))
        by_surgeon = figures.near_misses_by_surgeon
        if context["hide_names"]:
            for i, row in enumerate(by_surgeon, start=1):
                row["label"] = f"Surgeon {i}"
        extra = figures.extra_kinds
        context.update(
            figures=figures,
            integrity=selectors.integrity_status(),
            phase_chart=charts.rate_chart(figures.phases),
            indicator_chart=charts.rate_chart(
                [figures.time_out_before_first_image, figures.two_reference_variant, figures.sign_out],
                ["Time-out first", "Two references", "Sign-out"],
            ),
            wait_chart=charts.column_chart(figures.wait_buckets),
            downtime_chart=charts.column_chart(
                [(row["label"], row["attestations"]) for row in figures.downtime.by_week] if figures.downtime else []
            ),
            week_chart=charts.week_chart(figures.near_misses_by_week, extra),
            room_chart=charts.bar_chart(figures.near_misses_by_room, extra),
            surgeon_chart=charts.bar_chart(by_surgeon, extra),
            legend=charts.legend(extra),
            kinds=[(kind, charts.KIND_LABELS.get(kind, kind)) for kind in (*figures.near_miss_kinds, *extra)],
            export_query=_query(request),
            hide_toggle_url=_query(request, hide_names=None if context["hide_names"] else 1),
        )
        return render(request, self.template_name, context)


# --- audit browser and case timeline -------------------------------------------------------------


NO_SUCH_MRN = "No patient has this MRN."
# Not carried from a search into the page's URL: the MRN (replaced by the patient's internal id),
# the page cursors (a new search starts at the newest event) and the CSRF token.
SEARCH_DROPPED = ("mrn", "patient", "before", "after", "csrfmiddlewaretoken")


class AuditBrowserView(QualityView):
    """GET shows a page of events; the search form POSTs, and is redirected (303) to a GET whose
    URL names the patient by internal id, never by MRN."""

    template_name = "quality/audit.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.GET.get("mrn"):  # an old bookmark or a hand-typed URL: take the MRN out of it
            return self._search(request, request.GET)
        params = request.GET.copy()
        patient_id = _id_or_none(params.get("patient", ""))
        if patient_id is not None:
            params["mrn"] = selectors.patient_mrn(patient_id) or ""  # shown in the MRN box
        form = forms.AuditFilterForm(params)
        context: dict[str, Any] = {"form": form, "tab": "audit"}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        data = form.cleaned_data
        page = selectors.audit_events_browse(
            where=CaseFilter.from_form(form),
            action=data["action"],
            username=data["user"],
            patient_id=data.get("patient"),
            before=data.get("before"),
            after=data.get("after"),
        )
        context.update(
            page=page,
            events=selectors.annotate_changes(page.events),
            older_url=_query(request, before=page.older) if page.older else None,
            newer_url=_query(request, after=page.newer) if page.newer else None,
            first_url=_query(request) if data.get("before") or data.get("after") else None,
        )
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self._search(request, request.POST)

    def _search(self, request: HttpRequest, params: Any) -> HttpResponse:
        form = forms.AuditFilterForm(params)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form, "tab": "audit"}, status=400)
        query = {key: value for key, value in params.items() if key not in SEARCH_DROPPED and value != ""}
        mrn = form.cleaned_data["mrn"]
        if mrn:
            patient_id = selectors.patient_id_for_mrn(mrn)
            if patient_id is None:
                form.add_error("mrn", NO_SUCH_MRN)
                return render(request, self.template_name, {"form": form, "tab": "audit"})
            query["patient"] = str(patient_id)
        response = redirect(reverse("quality-audit") + ("?" + urlencode(query) if query else ""))
        response.status_code = 303  # See Other: the browser follows with a GET
        return response


def _id_or_none(raw: str) -> int | None:
    """A query parameter naming a row or a position: a few ASCII digits ("²" and 5,000 digits are not)."""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None


def _case_or_404(case_id: int) -> Case:
    case = selectors.case_for_quality(case_id)
    if case is None:
        raise Http404("No such case.")
    return case


class CaseTimelineView(QualityView):
    template_name = "quality/case.html"

    def get(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _case_or_404(case_id)
        after = _id_or_none(request.GET.get("after", "0"))
        if after is None:
            return render(
                request, "quality/bad_request.html", {"message": "The page cursor is not a number."}, status=400
            )
        if after == 0:  # the first page is the opening; the later pages of the trail are not
            access_case_open(actor=cast(User, request.user), case=case, channel="quality")
        events, next_seq = selectors.case_timeline(case, after_seq=after)
        from checklist.selectors.tablet import target_of

        return render(
            request,
            self.template_name,
            {
                "case": case,
                "target": target_of(case),
                "events": events,
                "next_url": f"?after={next_seq}" if next_seq else None,
                "signatures": case_signatures(case),
                "near_misses": list(case.near_misses.select_related("caught_by", "resolved_by")),
                "head": selectors.chain_head(case),
                "openings": selectors.case_openings(case),
                "tab": "audit",
            },
        )


class CasePdfView(QualityView):
    def get(self, request: HttpRequest, case_id: int) -> HttpResponse:
        case = _case_or_404(case_id)
        access_export(actor=cast(User, request.user), export="pdf", channel="quality", case=case)
        response = HttpResponse(exports.case_record_pdf(case), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="rightlevel-case-{case.pk}.pdf"'
        response["Cache-Control"] = "no-store"
        return response


# --- integrity -----------------------------------------------------------------------------------


class IntegrityView(QualityView):
    template_name = "quality/integrity.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        integrity = selectors.integrity_status()
        run = integrity.last_run
        case_id, event_id = selectors.problem_location(run.first_problem) if run else (None, None)
        return render(
            request,
            self.template_name,
            {
                "integrity": integrity,
                "runs": selectors.verification_runs(),
                "seals": selectors.seals_recent(),
                "timestamping": selectors.timestamping_status(),
                "problem_case_id": case_id,
                "problem_event_id": event_id,
                "tab": "integrity",
            },
        )


class VerifyNowView(QualityView):
    def post(self, request: HttpRequest) -> HttpResponse:
        run, started = audit_verification_start(actor=cast(User, request.user))
        if started:
            messages.success(request, f"Verification run {run.pk} started.")
        else:
            messages.info(request, f"Verification run {run.pk} is already running; showing its progress.")
        return redirect("quality-integrity")


class RunStatusView(QualityView):
    """The progress of one run, polled by static/js/quality.js."""

    def get(self, request: HttpRequest, run_id: int) -> JsonResponse:
        status = selectors.run_status(run_id)
        if status is None:
            raise Http404("No such verification run.")
        response = JsonResponse(status)
        response["Cache-Control"] = "no-store"
        return response


# --- near-miss register --------------------------------------------------------------------------


class NearMissListView(QualityView):
    policy = "near_miss.view"
    template_name = "quality/near_misses.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = _filter_form(forms.NearMissFilterForm, request)
        context: dict[str, Any] = {"form": form, "tab": "near_misses", "hide_names": _hide(request)}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        data = form.cleaned_data
        rows, older = selectors.near_miss_page(
            where=CaseFilter.from_form(form), kind=data["kind"], before=data.get("before")
        )
        for row in rows:
            row.minutes_to_resolution = selectors.minutes(row.time_to_resolution)  # type: ignore[attr-defined]
            row.disagreed = [f.get("message", "") for f in row.findings if isinstance(f, dict)]  # type: ignore[attr-defined]
        context.update(
            rows=rows,
            older_url=_query(request, before=older) if older else None,
            first_url=_query(request) if data.get("before") else None,
            can_annotate=_is_quality_officer(cast(User, request.user)),
            export_query=_query(request),
            here=request.get_full_path(),
            hidden=selectors.HIDDEN_NAME,
        )
        return render(request, self.template_name, context)


def _is_quality_officer(user: User) -> bool:
    from checklist.access import roles
    from checklist.access.policies import user_roles

    return roles.QUALITY_OFFICER in user_roles(user)


def _same_site_path(request: HttpRequest, target: str) -> str:
    """``target`` if it is a path on this site ("/..."), else "" (a bare word, another host or
    scheme, a NUL: never followed, and never handed to ``redirect``, which would try it as a URL name)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 2000 or "\x00" in target:
        return ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return ""
    return target


class NearMissNoteView(QualityView):
    policy = "near_miss.view"

    def post(self, request: HttpRequest, near_miss_id: int) -> HttpResponse:
        form = forms.LearningNoteForm(request.POST)
        target = _same_site_path(request, request.POST.get("next", "")) or reverse("quality-near-misses")
        target = f"{target.split('#')[0]}#near-miss-{near_miss_id}"
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect(target)
        try:
            near_miss_annotate(
                actor=cast(User, request.user),
                near_miss=near_miss_id,
                learning_note=form.cleaned_data["learning_note"],
                expected_note=form.cleaned_data["expected_note"],
            )
        except ForbiddenError as exc:
            raise PermissionDenied(exc.message) from exc
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(target)
        except NearMiss.DoesNotExist as exc:
            raise Http404("No such near miss.") from exc
        messages.success(request, "Learning note saved.")
        return redirect(target)


# --- exports -------------------------------------------------------------------------------------

CSV_EXPORTS: dict[str, tuple[str, list[str], Callable[..., Iterator[list[Any]]]]] = {
    "cases": ("cases", exports.CASE_HEADER, exports.case_rows),
    "steps": ("checklist-steps", exports.STEP_HEADER, exports.step_rows),
    "near-misses": ("near-misses", exports.NEAR_MISS_HEADER, exports.near_miss_rows),
    "audit-events": ("audit-events", exports.AUDIT_HEADER, exports.audit_rows),
}


class ExportsView(QualityView):
    template_name = "quality/exports.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = _filter_form(forms.ExportForm, request)
        status = 200 if form.is_valid() else 400
        exports_list = [(kind, name) for kind, (name, _, _) in CSV_EXPORTS.items()] if status == 200 else []
        return render(
            request,
            self.template_name,
            {"form": form, "exports": exports_list, "query": _query(request), "tab": "exports"},
            status=status,
        )


class CsvExportView(QualityView):
    def get(self, request: HttpRequest, kind: str) -> HttpResponseBase:
        if kind not in CSV_EXPORTS:
            raise Http404("No such export.")
        if kind == "near-misses":
            require(cast(User, request.user), "near_miss.view")
        form = forms.ExportForm(request.GET)
        if not form.is_valid():
            return render(
                request,
                ExportsView.template_name,
                {"form": form, "exports": [], "query": _query(request), "tab": "exports"},
                status=400,
            )
        name, header, rows = CSV_EXPORTS[kind]
        where = CaseFilter.from_form(form)
        start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        filename = f"rightlevel-{name}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        access_export(
            actor=cast(User, request.user),
            export=f"csv:{kind}",
            channel="quality",
            scope={"filter": _export_scope(form.cleaned_data)},
        )
        return exports.csv_response(filename, header, rows(where, hide_names=form.cleaned_data["hide_names"]))


def _export_scope(data: dict[str, Any]) -> dict[str, Any]:
    """What an export covered, for its access event: the filter's values, records by id or name
    of a room or procedure (never a patient)."""
    scope: dict[str, Any] = {}
    for key, value in data.items():
        if value in (None, "", [], ()):
            continue
        scope[key] = getattr(value, "pk", value) if not isinstance(value, (str, int, bool, float)) else value
    return scope
