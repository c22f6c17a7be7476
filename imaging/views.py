"""The level image as the tablet sees it: a frame rendered to PNG on the server."""

from __future__ import annotations

import json
import logging
from io import BytesIO
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View
from django.views.decorators.http import require_GET
from pydicom import dcmread

from checklist.access import policies
from checklist.models import LocalizationPhase, Reference, User
from core.errors import ApplicationError, ForbiddenError
from imaging import selectors, services
from imaging.render import render_png
from imaging.store import ImageStoreError, InstanceRef, image_store

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = "The image store is not answering; try again in a moment."


@login_required
@require_GET
def image_png(request: HttpRequest, image_id: int) -> HttpResponse:
    user = cast(User, request.user)
    image = selectors.image_get(image_id)
    if image is None:
        raise Http404("No such image.")
    try:
        if image.case is not None:
            policies.require(user, "case.view", image.case)
        else:
            policies.require(user, "localization.record")
    except ForbiddenError as exc:
        return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
    etag = f'"{image.pixel_sha256[:32]}-{image.frame}"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304, headers={"ETag": etag})
    try:
        data = image_store().fetch(InstanceRef.from_key(image.storage_key))
    except ImageStoreError as exc:
        logger.error("imaging: fetch of image %s failed: %s", image.pk, exc)
        return HttpResponse(STORE_UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8")
    png = render_png(dcmread(BytesIO(data)), image.frame)
    return HttpResponse(png, content_type="image/png", headers={"ETag": etag, "Cache-Control": "private, max-age=3600"})


REFERENCE_HINT = "the top of the sacrum, C2 or the last rib"
TAPS_NOT_JSON = "The taps could not be read; tap on the image again."


class ImageReadView(LoginRequiredMixin, View):
    """The level image to count on by tapping (imaging/static/imaging/tap-count.js)."""

    def _context(self, image: Any, form: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
        return {
            "image": image,
            "case": image.case,
            "ladder": selectors.count_ladder(image.case),
            "references": Reference.choices,
            "phases": LocalizationPhase.choices,
            "reference_hint": REFERENCE_HINT,
            "form": form,
            "taps_json": json.dumps(form.get("taps", [])),
            "errors": errors,
        }

    def _image(self, request: HttpRequest, image_id: int) -> Any:
        image = selectors.image_get(image_id)
        if image is None or image.case is None:
            raise Http404("No such image of a case.")
        policies.require(cast(User, request.user), "localization.record", image.case)
        return image

    def get(self, request: HttpRequest, image_id: int) -> HttpResponse:
        try:
            image = self._image(request, image_id)
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        form = {"reference": Reference.SACRUM, "phase": LocalizationPhase.PRE_INCISION, "label": "", "taps": []}
        return render(request, "imaging/read.html", self._context(image, form, {}))

    def post(self, request: HttpRequest, image_id: int) -> HttpResponse:
        try:
            image = self._image(request, image_id)
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        form: dict[str, Any] = {
            "reference": request.POST.get("reference", ""),
            "phase": request.POST.get("phase", ""),
            "label": request.POST.get("label", "")[:20],
            "marker_in_place": request.POST.get("marker_in_place") == "1",
            "taps": [],
        }
        errors: dict[str, list[str]] = {}
        try:
            taps = json.loads(request.POST.get("taps", "") or "[]")
        except ValueError:
            taps, errors = None, {"taps": [TAPS_NOT_JSON]}
        if form["reference"] not in Reference.values:
            errors["reference"] = ["Choose the reference: sacrum, C2 or last rib."]
        if form["phase"] not in LocalizationPhase.values:
            errors["phase"] = ["Choose the phase."]
        if not errors:
            form["taps"] = taps if isinstance(taps, list) else []
            try:
                services.image_read_record(
                    actor=cast(User, request.user),
                    image=image,
                    case=image.case,
                    phase=form["phase"],
                    reference=form["reference"],
                    taps=taps,
                    label=form["label"],
                    marker_in_place=form["marker_in_place"],
                    read_by=cast(User, request.user),
                )
            except ApplicationError as exc:
                errors = exc.errors or {"non_field_errors": [exc.message]}
            else:
                return HttpResponseRedirect(reverse("case-detail", args=[image.case.pk]) + "#localization")
        return render(request, "imaging/read.html", self._context(image, form, errors), status=400)


class SecondReadView(LoginRequiredMixin, View):
    """The blind second read: the image and the ladder, never the first read's taps, count or
    level until the second read is saved; then both reads and what differs."""

    def _read(self, request: HttpRequest, read_id: int) -> Any:
        read = selectors.read_for_second(read_id)
        if read is None:
            raise Http404("No such read of a level image.")
        policies.require(cast(User, request.user), "localization.record", read.case)
        return read

    def _page(self, request: HttpRequest, read: Any, form: dict[str, Any], errors: dict[str, list[str]]) -> Any:
        second = selectors.second_read_of(read)
        context: dict[str, Any] = {"read": read, "image": read.image, "case": read.case, "second": second}
        if second is None:
            context.update(
                ladder=selectors.count_ladder(read.case),
                references=Reference.choices,
                reference_hint=REFERENCE_HINT,
                form=form,
                taps_json=json.dumps(form.get("taps", [])),
                errors=errors,
            )
        else:
            context.update(first_label=read.localization.label)
        return render(request, "imaging/second_read.html", context, status=400 if errors else 200)

    def get(self, request: HttpRequest, read_id: int) -> HttpResponse:
        try:
            read = self._read(request, read_id)
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        return self._page(request, read, {"reference": Reference.SACRUM, "label": "", "taps": []}, {})

    def post(self, request: HttpRequest, read_id: int) -> HttpResponse:
        try:
            read = self._read(request, read_id)
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        form: dict[str, Any] = {
            "reference": request.POST.get("reference", ""),
            "label": request.POST.get("label", "")[:20],
            "taps": [],
        }
        errors: dict[str, list[str]] = {}
        try:
            taps = json.loads(request.POST.get("taps", "") or "[]")
        except ValueError:
            taps, errors = None, {"taps": [TAPS_NOT_JSON]}
        if not errors:
            form["taps"] = taps if isinstance(taps, list) else []
            try:
                services.image_second_read_record(
                    actor=cast(User, request.user),
                    read=read,
                    reference=form["reference"],
                    taps=taps,
                    label=form["label"],
                )
            except ApplicationError as exc:
                errors = exc.errors or {"non_field_errors": [exc.message]}
            else:
                return HttpResponseRedirect(reverse("imaging-second-read-page", args=[read.pk]))
        return self._page(request, read, form, errors)


NO_CASE_CHOSEN = "Choose the case this image belongs to."
NO_IMAGE_CHOSEN = "The form names no image: open the list again and assign from there."
NOT_YOUR_CASE = "No such case among the ones you may see today."


class UnmatchedImagesView(LoginRequiredMixin, View):
    """Level images that matched no case, for a radiographer (or nurse, surgeon) to assign: each
    with why it did not match and the cases of its day it could belong to (audited on assignment)."""

    def _rows(self, user: User, errors_for: int | None = None, errors: dict[str, list[str]] | None = None) -> list[Any]:
        rows = []
        for image in selectors.unmatched_images()[:50]:
            rows.append(
                {
                    "image": image,
                    "cases": selectors.assignable_cases(user, image),
                    "errors": errors if image.pk == errors_for else {},
                }
            )
        return rows

    def get(self, request: HttpRequest) -> HttpResponse:
        user = cast(User, request.user)
        try:
            policies.require(user, "localization.record")
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        return render(
            request, "imaging/unmatched.html", {"rows": self._rows(user), "assigned": request.GET.get("assigned")}
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        user = cast(User, request.user)
        try:
            policies.require(user, "localization.record")
        except ForbiddenError as exc:
            return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
        image_id = _positive_int(request.POST.get("image_id"))
        if image_id is None:
            return HttpResponse(NO_IMAGE_CHOSEN, status=400, content_type="text/plain; charset=utf-8")
        image = selectors.image_get(image_id)
        if image is None:
            raise Http404("No such image.")
        errors: dict[str, list[str]] = {}
        case_id = _positive_int(request.POST.get("case_id"))
        version = _positive_int(request.POST.get("version"))
        case = policies.visible_cases(user).filter(pk=case_id).select_related("patient").first() if case_id else None
        if not case_id:
            errors["case_id"] = [NO_CASE_CHOSEN]
        elif case is None:
            errors["case_id"] = [NOT_YOUR_CASE]
        if not errors and case is not None:
            try:
                services.level_image_assign(actor=user, image=image, case=case, version=version or 0)
            except ApplicationError as exc:
                errors = exc.errors or {"non_field_errors": [exc.message]}
            else:
                return HttpResponseRedirect(reverse("imaging-unmatched-page") + f"?assigned={case.pk}")
        rows = self._rows(user, errors_for=image.pk, errors=errors)
        return render(request, "imaging/unmatched.html", {"rows": rows}, status=400)


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if value > 0 else None
