"""The level image as the tablet sees it: a frame rendered to PNG on the server."""

from __future__ import annotations

import logging
from io import BytesIO
from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from pydicom import dcmread

from checklist import policies
from checklist.models import User
from config.api_errors import ForbiddenError
from imaging import selectors
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
