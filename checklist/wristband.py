"""Reading what a wristband scanner (or the camera) returned: a GS1 GSRN or a plain MRN.

Hospitals print one of two things on a patient's wristband:

* a **GS1 element string** carrying the patient's GSRN (Global Service Relation Number, AI 8018,
  18 digits with a GS1 check digit), as GS1 DataMatrix or GS1-128. A keyboard-wedge scanner types it
  with a symbology identifier (``]d2``, ``]C1``, ``]Q3``) and the group separator (GS, 0x1D) between
  variable-length fields, or in the human-readable form ``(8018)…``;
* the **MRN** as plain Code 128 or Code 39 text.

GS1 parsing is biip's (a well-kept GS1 library); this module only decides which of the two a scan
is and refuses anything else with a reason the nurse can act on. A GS1 code without AI 8018 (a
medication's GTIN, a specimen label) is never taken for a patient. Pure Python: no Django imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_messages import GS1Message

GSRN_AI: Final = "8018"
MAX_SCAN_LENGTH: Final = 200
_SYMBOLOGY_IDENTIFIER: Final = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_GS1_SYMBOLOGIES: Final = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
_GROUP_SEPARATOR: Final = "\x1d"
_MRN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/.]{0,39}")
# What wedge scanners add around the data (suffix keys) and what a camera read may carry.
_STRIPPED: Final = " \t\r\n"

MSG_EMPTY: Final = "Nothing was scanned: scan the wristband's barcode again."
MSG_TOO_LONG: Final = "This scan is longer than any wristband barcode ({length} characters): scan again."
MSG_NOT_GS1: Final = "This GS1 barcode could not be read ({reason}): scan the wristband again."
MSG_NO_GSRN: Final = (
    "This is a GS1 barcode without a patient's GSRN (AI 8018): it is not a wristband "
    "(a medication or specimen label?). Scan the patient's wristband."
)
MSG_GSRN_DIGITS: Final = "The GSRN on this wristband must be 18 digits, got {value!r}: scan again."
MSG_GSRN_CHECK: Final = (
    "The GSRN on this wristband fails its check digit: the barcode is damaged or misread; scan again."
)
MSG_MRN: Final = (
    "This barcode is not a wristband: an MRN is 1 to 40 letters, digits, '-', '/' or '.' and a GSRN is "
    "a GS1 code with AI 8018."
)


class WristbandError(ValueError):
    """The scan cannot be read as a wristband; the message says what to do."""


@dataclass(frozen=True)
class WristbandIdentity:
    """What one wristband scan names: the patient's GSRN, or their MRN."""

    kind: Literal["gsrn", "mrn"]
    value: str
    symbology: str = ""

    def label(self) -> str:
        return f"GSRN {self.value}" if self.kind == "gsrn" else f"MRN {self.value}"


def gsrn_valid(value: str) -> bool:
    """18 digits whose last one is the GS1 check digit of the first 17."""
    return len(value) == 18 and value.isdigit() and gs1_standard_check_digit(value[:17]) == int(value[17])


def _looks_gs1(text: str, symbology: str) -> bool:
    if symbology:
        return symbology in _GS1_SYMBOLOGIES
    return text.startswith("(") or _GROUP_SEPARATOR in text or (text.startswith(GSRN_AI) and text.isdigit())


def _gs1_identity(text: str, symbology: str) -> WristbandIdentity:
    try:
        message = GS1Message.parse_hri(text) if text.startswith("(") else GS1Message.parse(text)
    except ParseError as exc:
        raise WristbandError(MSG_NOT_GS1.format(reason=exc)) from exc
    element = message.element_strings.get(ai=GSRN_AI)
    if element is None:
        raise WristbandError(MSG_NO_GSRN)
    if not (len(element.value) == 18 and element.value.isdigit()):
        raise WristbandError(MSG_GSRN_DIGITS.format(value=element.value))
    if not gsrn_valid(element.value):
        raise WristbandError(MSG_GSRN_CHECK)
    return WristbandIdentity(kind="gsrn", value=element.value, symbology=symbology)


def wristband_parse(raw: str) -> WristbandIdentity:
    """The identity a scan names. Raises WristbandError with the reason when it names none."""
    text = raw.strip(_STRIPPED)
    if not text:
        raise WristbandError(MSG_EMPTY)
    if len(text) > MAX_SCAN_LENGTH:
        raise WristbandError(MSG_TOO_LONG.format(length=len(text)))
    text = text.lstrip(_GROUP_SEPARATOR)  # some scanners send FNC1 as a leading GS
    symbology = ""
    if _SYMBOLOGY_IDENTIFIER.match(text):
        symbology, text = text[:3], text[3:]
    if _looks_gs1(text, symbology):
        return _gs1_identity(text, symbology)
    if _MRN.fullmatch(text):
        return WristbandIdentity(kind="mrn", value=text, symbology=symbology)
    raise WristbandError(MSG_MRN)


def gsrn_element_string(gsrn: str) -> str:
    """The GS1 element string (human-readable form) a wristband with this GSRN carries."""
    return f"({GSRN_AI}){gsrn}"


def gsrn_with_check_digit(first_17: str) -> str:
    """A full GSRN from its first 17 digits (for demo data and tests)."""
    if len(first_17) != 17 or not first_17.isdigit():
        raise ValueError("a GSRN's first part is 17 digits")
    return f"{first_17}{gs1_standard_check_digit(first_17)}"
