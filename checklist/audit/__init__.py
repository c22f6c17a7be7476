"""The append-only, hash-chained audit trail: append, verify, seal.

Each case has its own chain (``case-<id>``) and everything else goes to the ``system`` chain, so
appends in different rooms never wait for each other. An event's hash is the SHA-256 of its
canonical JSON, which includes the previous event's hash. A seal records the head of every chain
and is chained to the previous seal, so deleting the tail of a chain (or a whole chain) is detected
even though each remaining event still hashes correctly. Database triggers (migration 0004) refuse
UPDATE and DELETE on both tables.

The hashes are public arithmetic, so every event, seal and signature also carries an HMAC under the
audit key (``AUDIT_KEY``, which the database never holds): a row inserted or rewritten by anyone
who does not hold the key, even with every hash computed correctly, is named by ``verify``.

The rooms: ``canonical`` (the bytes hashed), ``keys`` (the HMACs), ``chain`` (append),
``sealing``, ``verification``, ``reconcile`` (clinical rows against the trail), ``timestamps`` (RFC 3161),
``tokens`` (API token rows against the trail), ``db_roles`` (the database's own refusals). The
names callers use are re-exported here.
"""

from __future__ import annotations

from checklist.audit.canonical import (
    GENESIS_HASH,
    HASHED_FIELDS,
    OPTIONAL_HASHED_FIELDS,
    canonical_json,
    event_bytes,
    event_hash,
    event_payload,
    jsonable,
    seal_hash,
    seal_payload,
)
from checklist.audit.chain import (
    SEALED_ACTION,
    SEALS,
    SYSTEM_CHAIN,
    append,
    case_chain,
    chain_head_create,
    chain_sort_key,
    event_count,
)
from checklist.audit.keys import (
    AuditKey,
    audit_keys,
    audit_keys_by_id,
    event_genuine,
    event_mac,
    seal_keys,
    seal_mac,
    signature_binding,
    signature_key,
    signature_mac_valid,
    token_binding,
)
from checklist.audit.sealing import seal
from checklist.audit.verification import (
    EVENT_KEY_UNKNOWN,
    EVENT_MAC_INVALID,
    EVENT_UNKEYED,
    SEAL_KEY_UNKNOWN,
    SEAL_MAC_INVALID,
    SEAL_UNKEYED,
    Problem,
    VerifyReport,
    verify,
)
from core.request_context import audit_context

__all__ = [
    "EVENT_KEY_UNKNOWN",
    "EVENT_MAC_INVALID",
    "EVENT_UNKEYED",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "OPTIONAL_HASHED_FIELDS",
    "SEALED_ACTION",
    "SEALS",
    "SEAL_KEY_UNKNOWN",
    "SEAL_MAC_INVALID",
    "SEAL_UNKEYED",
    "SYSTEM_CHAIN",
    "AuditKey",
    "Problem",
    "VerifyReport",
    "append",
    "audit_context",
    "audit_keys",
    "audit_keys_by_id",
    "canonical_json",
    "case_chain",
    "chain_head_create",
    "chain_sort_key",
    "event_bytes",
    "event_count",
    "event_genuine",
    "event_hash",
    "event_mac",
    "event_payload",
    "jsonable",
    "seal",
    "seal_hash",
    "seal_keys",
    "seal_mac",
    "seal_payload",
    "signature_binding",
    "signature_key",
    "signature_mac_valid",
    "token_binding",
    "verify",
]
