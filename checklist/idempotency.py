"""``Idempotency-Key`` on writes (issue 18): a device that queued a write offline, or retried
after a lost answer, may send it again; it is run once, and the repeat gets the first answer.

Every POST, PUT, PATCH and DELETE with the header, on the API and on the tablet's pages, by a
signed-in user (session or API token; a key belongs to its user, so one user can neither replay
nor block another's):

* A first request claims the key (a row, unique per user and key) and runs, and its answer is
  stored with the claim: 2xx, 3xx (a page's POST answers with a redirect) and the 4xx that the
  same request would get again (400, 404, 409, 422…). Not a 5xx (a fault, worth trying again),
  nor a refusal that may change with no change to the request (401, 403 for an expired session
  or CSRF token, 408, 413, 423 while signing is locked, 429): those release the key.
* A repeat with the same key, method, path and body gets the stored answer, with
  ``Idempotent-Replayed: true``, and writes nothing.
* The same key with another method, path or body is a 422 saying which differs.
* A second request with the key while the first runs waits for it (the unique index's lock on
  PostgreSQL, the write lock on SQLite), then replays its answer; had the first failed, the
  second runs itself. Waiting is the safe choice: a 409 "in progress" would make the device
  guess when to try again, and it would still not know whether the write happened.

Transactions. The claim, the view's writes (each service's ``transaction.atomic()`` becomes a
savepoint inside this one) and the stored answer commit in one transaction, opened here around
the view: a crash leaves either the write with its key or neither, never one without the other.
ATOMIC_REQUESTS stays off (it would wrap every request, reads too, and it commits when a view
returns an answer the key does not keep). On a 5xx answer the whole transaction rolls back, the
write included, so trying again is safe; an exception rolls back as it always did. Side effects
the services schedule with ``transaction.on_commit`` run after this transaction commits.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from checklist import services
from checklist.models import IdempotencyKey, User
from checklist.selectors.idempotency import idempotency_key_get

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,100}$")

KEY_INVALID = "Idempotency-Key must be 1 to 100 characters: letters, digits and _ - : . only."
KEY_REUSED = "This Idempotency-Key was already used for a different request ({what}): use a new key for a new request."

# Refusals that may change with no change to the request: not kept, the key is released.
TRANSIENT_4XX = frozenset({401, 403, 407, 408, 413, 423, 425, 429})
# Headers of the first answer that a replay does not repeat: the outer middleware sets them again.
NOT_REPLAYED = frozenset({"content-length", "x-request-id", "set-cookie", "vary", "cache-control"})
SPOOL_BYTES = 1024 * 1024


class _RollBack(Exception):
    """Leave the atomic block, undoing it, with the answer to send."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def answer_is_kept(status: int) -> bool:
    return 200 <= status < 500 and status not in TRANSIENT_4XX


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method not in WRITE_METHODS:
            return self.get_response(request)
        if not KEY_RE.match(key):
            return _error(request, 400, KEY_INVALID, {HEADER: [KEY_INVALID]})
        user = request_user(request)
        if user is None:  # no one to hold the key: the view refuses or signs in, as without one
            return self.get_response(request)
        method, path, body_sha256 = request.method or "", request.get_full_path(), body_digest(request)

        earlier = idempotency_key_get(user=user, key=key)
        if earlier is not None:
            return _answer(request, earlier, method=method, path=path, body_sha256=body_sha256)
        try:
            with transaction.atomic():
                record = services.idempotency_key_claim(
                    user=user, key=key, method=method, path=path, body_sha256=body_sha256
                )
                if record is None:  # another request had it and has committed: fall through to replay
                    response = None
                else:
                    response = self.get_response(request)
                    _keep(record, response)
        except _RollBack as rolled_back:
            return rolled_back.response
        if response is not None:
            return response
        earlier = idempotency_key_get(user=user, key=key)
        if earlier is None:  # its holder's row went (purged) between the two reads: very unlikely
            return _error(request, 409, KEY_REUSED.format(what="it was purged meanwhile"), {})
        return _answer(request, earlier, method=method, path=path, body_sha256=body_sha256)


def _keep(record: IdempotencyKey, response: HttpResponse) -> None:
    status = response.status_code
    if status >= 500:
        raise _RollBack(response)
    if not answer_is_kept(status) or getattr(response, "streaming", False):
        services.idempotency_key_release(record=record)
        return
    headers = {name: value for name, value in response.items() if name.lower() not in NOT_REPLAYED}
    services.idempotency_key_complete(record=record, status_code=status, headers=headers, body=response.content)


def _answer(request: HttpRequest, earlier: IdempotencyKey, *, method: str, path: str, body_sha256: str) -> HttpResponse:
    """The stored answer, or a 422 if the key came with another request."""
    differs = [
        what
        for what, same in (
            ("method", earlier.method == method),
            ("path", earlier.path == path),
            ("body", earlier.body_sha256 == body_sha256),
        )
        if not same
    ]
    if differs:
        message = KEY_REUSED.format(what=f"another {' and '.join(differs)}")
        return _error(request, 422, message, {HEADER: [message]})
    response = HttpResponse(bytes(earlier.response_body), status=earlier.status_code or 200)
    for name, value in (earlier.response_headers or {}).items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def request_user(request: HttpRequest) -> User | None:
    """The signed-in user: the session's, else the API token's (DRF authenticates only inside the
    view, after this middleware; the token classes here only read)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user  # type: ignore[return-value]
    if "Authorization" not in request.headers:
        return None
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    drf_request = Request(request)
    authentication_classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    for authentication in authentication_classes:
        try:
            found: Any = authentication().authenticate(drf_request)
        except APIException:
            return None  # the view will say why
        if found is not None and getattr(found[0], "is_authenticated", False):
            return found[0]  # type: ignore[no-any-return]
    return None


def body_digest(request: HttpRequest) -> str:
    """SHA-256 of the request's body, which the view can still read: a body Django has not read yet
    is copied through a spooled file (in memory up to 1 MiB), so an upload of many megabytes is
    hashed without ``request.body``'s memory limit and parsed from the copy as usual."""
    digest = hashlib.sha256()
    if getattr(request, "_body", None) is not None or getattr(request, "_read_started", False):
        digest.update(request.body)
        return digest.hexdigest()
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (the request keeps it)
    while chunk := request.read(64 * 1024):
        digest.update(chunk)
        spooled.write(chunk)
    spooled.seek(0)
    request._stream = spooled  # type: ignore[attr-defined,assignment]
    request._read_started = False  # type: ignore[attr-defined]
    return digest.hexdigest()


def _error(request: HttpRequest, status: int, message: str, errors: dict[str, list[str]]) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "errors": errors}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
