"""RFC 3161 time-stamps of the audit seals: the client and the checks (issue 13 item 4).

Each seal's hash is sent to the time-stamping authority at ``TSA_URL``; the TSA signs it with its
own key, together with the time (genTime). Neither the database nor ``AUDIT_KEY`` holds that key,
so someone who holds both can recompute every event hash, MAC and seal, but cannot make a token
dated in the past for a rewritten seal: the newest time-stamped seal pins the seal chain before
it (each seal's hash covers the previous one), and through it every chain head the seals recorded.

``rfc3161-client`` builds the requests (SHA-256, a nonce, the TSA's certificate requested) and
verifies the replies and stored tokens against ``TSA_CERTIFICATE`` (a PEM file: the TSA's
certificate and the CA it is verified against); nothing here parses ASN.1 by hand. The message
time-stamped is the seal's canonical JSON, so the token's message imprint *is* the seal's hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.utils import timezone
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from checklist.audit.catalogue import AuditAction

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
TIMESTAMPED_ACTION = AuditAction.AUDIT_TIMESTAMPED
# A TSA's clock may run a little behind ours: a genTime this much before the seal is accepted.
CLOCK_SKEW = dt.timedelta(minutes=2)

NOT_CONFIGURED = "TSA_CERTIFICATE is not set: time-stamp tokens cannot be checked"
STAMP_INVALID = "time-stamp token invalid ({error}): it was not issued by the configured TSA for this seal"
STAMP_OTHER_HASH = (
    "time-stamp is for a different hash (the token vouches for {stamped}…, the seal says {seal}…): "
    "the seal was rewritten after it was time-stamped"
)
STAMP_UNREADABLE = "time-stamp token unreadable ({error})"
STAMP_MISSING = (
    "taken at {at} and not time-stamped within {hours:g} h although time-stamping is on: until a "
    "token exists, anyone holding the database and AUDIT_KEY could rewrite it and what it covers"
)
STAMP_LATE = (
    "time-stamped {delay} after it was taken (more than {hours:g} h): before the token existed it "
    "could have been rewritten by anyone holding the database and AUDIT_KEY"
)
STAMP_EARLY = "time-stamped at {gen_time}, before the seal says it was taken ({at}): the seal's time was changed"
NOTHING_STAMPED_SINCE = (
    "no seal has been time-stamped since {gen_time} (seal #{seq}): the newest seals and their "
    "time-stamps may have been deleted, or sealing or time-stamping has stopped"
)


class TimestampError(Exception):
    """The TSA could not be reached or gave no valid token (the seal stays pending)."""


@dataclass(frozen=True)
class TsaTrust:
    """What tokens are verified against: the TSA's certificate and its CA chain."""

    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    roots: tuple[x509.Certificate, ...]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.certificate.public_bytes(Encoding.DER)).hexdigest()

    def verifier(self, *, nonce: int | None = None) -> Any:
        builder = VerifierBuilder(tsa_certificate=self.certificate)
        for root in self.roots:
            builder = builder.add_root_certificate(root)
        for intermediate in self.intermediates:
            builder = builder.add_intermediate_certificate(intermediate)
        if nonce is not None:
            builder = builder.nonce(nonce)
        return builder.build()


def enabled() -> bool:
    """Time-stamping is on when TSA_URL is set."""
    return bool(settings.TSA_URL)


def trust() -> TsaTrust | None:
    """The configured TSA certificate chain (None when TSA_CERTIFICATE is empty)."""
    path = settings.TSA_CERTIFICATE
    if not path:
        return None
    file = Path(path)
    return _trust_from(str(file), file.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _trust_from(path: str, _mtime: int) -> TsaTrust:
    certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
    return trust_from_certificates(certificates)


def trust_from_certificates(certificates: list[x509.Certificate]) -> TsaTrust:
    """The TSA certificate is the one for time-stamping; self-signed ones are the roots."""

    def stamps(certificate: x509.Certificate) -> bool:
        try:
            usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return False
        return x509.ExtendedKeyUsageOID.TIME_STAMPING in usage

    leaves = [c for c in certificates if stamps(c)]
    if not leaves:
        raise ValueError("no certificate with the timeStamping extended key usage in TSA_CERTIFICATE")
    roots = tuple(c for c in certificates if c.subject == c.issuer and c is not leaves[0])
    if not roots:
        roots = (leaves[0],)  # a self-signed TSA certificate is its own root
    intermediates = tuple(c for c in certificates if c is not leaves[0] and c not in roots)
    return TsaTrust(leaves[0], intermediates, roots)


def seal_message(seal: Any) -> bytes:
    """What is time-stamped: the seal's canonical JSON, whose SHA-256 is the seal's hash."""
    from checklist.audit.canonical import canonical_json, seal_payload

    return canonical_json(seal_payload(seal))


@dataclass(frozen=True)
class Token:
    response: bytes  # the TimeStampResp, DER
    gen_time: dt.datetime
    fingerprint: str


def token_request(seal: Any, *, url: str | None = None, timeout: float | None = None) -> Token:
    """Ask the TSA to time-stamp ``seal``; return its reply once verified (nonce, imprint, signer).

    Raises TimestampError for anything but a valid token: the TSA down, an HTTP error, a refusal,
    a reply signed by another key or for another hash.
    """
    chain = trust()
    if chain is None:
        raise TimestampError(NOT_CONFIGURED)
    message = seal_message(seal)
    if hashlib.sha256(message).hexdigest() != seal.seal_hash:
        raise TimestampError(f"seal #{seal.seq} does not hash to its stored hash: not time-stamped")
    query = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    request = urllib.request.Request(  # noqa: S310 - TSA_URL is the operator's setting (http or https)
        url or settings.TSA_URL, data=query.as_bytes(), method="POST", headers={"Content-Type": QUERY_TYPE}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout or settings.TSA_TIMEOUT_SECONDS) as reply:  # noqa: S310
            body = reply.read(1024 * 1024)
            content_type = reply.headers.get("Content-Type", "")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TimestampError(f"the TSA could not be reached: {exc}") from exc
    if content_type.split(";")[0].strip() != REPLY_TYPE:
        raise TimestampError(f"the TSA answered {content_type or 'no content type'}, not {REPLY_TYPE}")
    try:
        response = decode_timestamp_response(body)
        chain.verifier(nonce=query.nonce).verify(response, bytes.fromhex(seal.seal_hash))
    except (ValueError, VerificationError) as exc:
        raise TimestampError(f"the TSA's reply is not a valid token for this seal: {exc}") from exc
    return Token(response=body, gen_time=response.tst_info.gen_time, fingerprint=chain.fingerprint)


def token_problem(token: bytes, seal_hash_hex: str, chain: TsaTrust) -> str | None:
    """Why a stored token does not vouch for ``seal_hash_hex`` under ``chain`` (None: it does)."""
    try:
        response: TimeStampResponse = decode_timestamp_response(bytes(token))
    except ValueError as exc:
        return STAMP_UNREADABLE.format(error=exc)
    stamped = response.tst_info.message_imprint.message.hex()
    try:
        chain.verifier().verify(response, bytes.fromhex(seal_hash_hex))
    except VerificationError as exc:
        if stamped != seal_hash_hex and "Mismatch between messages" in str(exc):
            return STAMP_OTHER_HASH.format(stamped=stamped[:12], seal=seal_hash_hex[:12])
        return STAMP_INVALID.format(error=exc)
    return None


def token_gen_time(token: bytes) -> dt.datetime:
    return decode_timestamp_response(bytes(token)).tst_info.gen_time


def required_from() -> dt.datetime | None:
    """Seals taken before TSA_REQUIRED_FROM (when time-stamping was switched on) need no token."""
    if not settings.TSA_REQUIRED_FROM:
        return None
    moment = dt.datetime.fromisoformat(settings.TSA_REQUIRED_FROM)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


def stamp_within() -> dt.timedelta:
    return dt.timedelta(hours=settings.TSA_STAMP_WITHIN_HOURS)
