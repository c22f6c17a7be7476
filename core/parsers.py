"""The API's parsers: DRF's, with two limits DRF leaves out.

- The body may not be larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413). Django applies that
  limit to ``request.body`` and to forms; DRF reads the raw stream and would parse a body of any
  size into memory.
- JSON nested deeper than Python's recursion limit is malformed input (400), not the
  ``RecursionError`` that the decoder raises and that would otherwise escape as a 500.
"""

from __future__ import annotations

import io
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError

TOO_DEEP = "JSON parse error - nested too deeply."


class PayloadTooLarge(APIException):
    """The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE (HTTP 413). Not in
    core.errors: DRF imports the parsers while core.errors imports DRF."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def read_limited(stream: IO[bytes]) -> io.BytesIO:
    """The whole body, or PayloadTooLarge once it passes DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    data = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise PayloadTooLarge()
    return io.BytesIO(data)


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = read_limited(stream)
        try:
            return super().parse(body, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return super().parse(read_limited(stream), media_type, parser_context)
