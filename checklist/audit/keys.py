"""The audit key: HMACs over events, seals, signatures and token rows (AUDIT_KEY, which the
database never holds)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

from checklist.audit.canonical import _timestamp, canonical_json, event_hash
from checklist.models import AuditEvent

SEAL_KEY_SALT = "rightlevel.audit.seal"


EVENT_KEY_SALT = "rightlevel.audit.event"


SIGNATURE_KEY_SALT = "rightlevel.audit.signature"


@dataclass(frozen=True)
class AuditKey:
    """The keys derived from one audit secret, one per purpose; ``key_id`` names the secret (a hash
    of its seal key, so seals keyed before AUDIT_KEY existed keep their key ids)."""

    key_id: str
    seal: bytes
    event: bytes
    signature: bytes


def _derive(salt: str, value: str, secret: str) -> bytes:
    return salted_hmac(salt, value, secret=secret, algorithm="sha256").digest()


@lru_cache(maxsize=8)
def _keyring(secrets: tuple[str, ...]) -> tuple[AuditKey, ...]:
    keys: dict[str, AuditKey] = {}
    for secret in secrets:
        seal_key = _derive(SEAL_KEY_SALT, "audit seal key", secret)
        key_id = hashlib.sha256(seal_key).hexdigest()[:16]
        event_key = _derive(EVENT_KEY_SALT, "audit event key", secret)
        signature_key = _derive(SIGNATURE_KEY_SALT, "signature key", secret)
        keys.setdefault(key_id, AuditKey(key_id, seal_key, event_key, signature_key))
    return tuple(keys.values())


def audit_keys() -> tuple[AuditKey, ...]:
    """The audit keys, the current one first: from AUDIT_KEY and then each of AUDIT_KEY_FALLBACKS,
    so rotating the key keeps old events, signatures and seals checkable as long as the old key
    stays among the fallbacks. Without AUDIT_KEY (development only) they come from SECRET_KEY and
    its fallbacks. The keys never reach the database."""
    if settings.AUDIT_KEY:
        secrets = (settings.AUDIT_KEY, *settings.AUDIT_KEY_FALLBACKS)
    else:
        secrets = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return _keyring(tuple(secrets))


def audit_keys_by_id() -> dict[str, AuditKey]:
    return {key.key_id: key for key in audit_keys()}


def seal_keys() -> dict[str, bytes]:
    """The keys seals are signed with, by key id, the current one first."""
    return {key.key_id: key.seal for key in audit_keys()}


def seal_mac(seal_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 of a seal's hash. The hash covers the previous seal's hash, so the newest keyed
    seal vouches for every seal before it."""
    return hmac.new(key, seal_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def event_mac(event_hash_hex: str, key: bytes) -> str:
    """HMAC-SHA256 of an event's hash, which covers everything the event says and the previous
    event's hash."""
    return hmac.digest(key, event_hash_hex.encode("ascii"), "sha256").hex()


def event_genuine(event: AuditEvent) -> bool:
    """True if ``event`` still hashes to its stored hash and carries a valid MAC under a key this
    server holds: it was written by RightLevel and has not been changed since."""
    key = audit_keys_by_id().get(event.mac_key_id or "")
    if key is None or not event.mac or event_hash(event) != event.event_hash:
        return False
    return hmac.compare_digest(event_mac(event.event_hash, key.event), event.mac)


def token_binding(digest: str, key: AuditKey | None = None) -> str:
    """A keyed MAC of an API token's digest, recorded in its ``token.created`` event: a token row
    inserted behind the application's back has no genuine event carrying it, so it is refused."""
    key = key or audit_keys()[0]
    return hmac.digest(key.event, b"api-token:" + digest.encode("ascii"), "sha256").hex()


def signature_binding(signature: Any) -> bytes:
    """What a signature's MAC covers: the case, who signed (id, printed name, role), the meaning,
    the time, what was signed and the hash of the exact content signed."""
    return canonical_json(
        {
            "case_id": signature.case_id,
            "signer_id": signature.signer_id,
            "printed_name": signature.printed_name,
            "signer_role": signature.signer_role,
            "meaning": signature.meaning,
            "signed_at": _timestamp(signature.signed_at),
            "subject_type": signature.subject_type,
            "subject_id": signature.subject_id,
            "content_hash": signature.content_hash,
        }
    )


def signature_key(signature: Any) -> None:
    """Set the signature's MAC with the current audit key (before it is saved)."""
    key = audit_keys()[0]
    signature.mac_key_id = key.key_id
    signature.mac = hmac.digest(key.signature, signature_binding(signature), "sha256").hex()


def signature_mac_valid(signature: Any) -> bool:
    """True if the signature carries a MAC made with a key this server holds over what it says now."""
    key = audit_keys_by_id().get(signature.mac_key_id or "")
    if key is None or not signature.mac:
        return False
    expected = hmac.digest(key.signature, signature_binding(signature), "sha256").hex()
    return hmac.compare_digest(expected, signature.mac)
