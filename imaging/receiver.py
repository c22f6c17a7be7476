"""The embedded DICOM storage receiver (pynetdicom): C-arms C-STORE their level images here.

Every refusal is a DICOM answer: an unknown calling AE title gets an association rejection
("calling AE title not recognised"); an instance that is too large, not DICOM, without pixel data,
in a transfer syntax this server cannot decode, or whose record cannot be written gets a C-STORE
failure status with an error comment. Each is logged; the receiver goes on serving; nothing is
half-stored (the file is removed when its record fails).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    ModalityWorklistInformationFind,
    SecondaryCaptureImageStorage,
    Verification,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
)

from imaging import dicom, worklist
from imaging.services import level_image_receive
from imaging.store import ImageStore, image_store

logger = logging.getLogger(__name__)

STORAGE_SOP_CLASSES = (
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    ModalityWorklistInformationFind,
    ComputedRadiographyImageStorage,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
    SecondaryCaptureImageStorage,
)
NO_ALLOW_LIST = "No calling AE titles are allowed: set IMAGING_CALLING_AE_TITLES (AE=room, comma-separated)."
INTERNAL_ERROR = "The server failed to store the image; nothing was kept."
WORKLIST_FAILED = "The worklist could not be read; try again."
STATUS_FIND_PENDING = 0xFF00
STATUS_FIND_UNABLE = 0xC000
STATUS_FIND_CANCELLED = 0xFE00


def _status(status: int, reason: str) -> Dataset:
    answer = Dataset()
    answer.Status = status
    if reason:
        answer.ErrorComment = reason[:64]
    return answer


class StorageReceiver:
    """A storage SCP bound to one image store and one allow-list of calling AE titles (-> rooms)."""

    def __init__(
        self,
        *,
        allowed: Mapping[str, str],
        store: ImageStore | None = None,
        ae_title: str | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if not allowed:
            raise ValueError(NO_ALLOW_LIST)
        self.allowed = {ae.strip(): room for ae, room in allowed.items()}
        self.store = store or image_store()
        self.max_bytes = max_bytes or settings.IMAGING_MAX_BYTES
        self.ae = AE(ae_title=ae_title or settings.IMAGING_AE_TITLE)
        self.ae.require_calling_aet = list(self.allowed)
        self.ae.maximum_associations = 8
        transfer_syntaxes = [*dicom.SUPPORTED_TRANSFER_SYNTAXES, *dicom.REFUSED_TRANSFER_SYNTAXES]
        for sop_class in STORAGE_SOP_CLASSES:
            self.ae.add_supported_context(sop_class, transfer_syntaxes)
        self.ae.add_supported_context(Verification)
        # The same AE answers the C-arms' Modality Worklist queries (imaging.worklist).
        self.ae.add_supported_context(ModalityWorklistInformationFind)
        self.server: Any = None

    @property
    def handlers(self) -> list[Any]:
        return [
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_C_FIND, self.handle_find),
            (evt.EVT_REJECTED, self._log_rejection),
        ]

    def handle_find(self, event: Any) -> Any:
        """Modality Worklist C-FIND: one pending answer per case of the day, then success."""
        calling = str(event.assoc.requestor.ae_title).strip()
        close_old_connections()
        try:
            answers = list(worklist.worklist_answers(event.identifier, self.allowed))
        except worklist.WorklistQueryError as exc:
            logger.warning("imaging: worklist query from %s refused: %s", calling, exc)
            yield _status(STATUS_FIND_UNABLE, str(exc)), None
            return
        except Exception:
            logger.exception("imaging: worklist query from %s failed", calling)
            yield _status(STATUS_FIND_UNABLE, WORKLIST_FAILED), None
            return
        finally:
            connection.close()
        logger.info("imaging: worklist query from %s: %d case(s)", calling, len(answers))
        for answer in answers:
            if event.is_cancelled:
                yield STATUS_FIND_CANCELLED, None
                return
            yield STATUS_FIND_PENDING, answer

    def _log_rejection(self, event: Any) -> None:
        logger.warning(
            "imaging: association from %s (calling AE %r) rejected: calling AE title not allowed",
            event.assoc.requestor.address,
            event.assoc.requestor.ae_title,
        )

    def handle_store(self, event: Any) -> Dataset:
        calling = str(event.assoc.requestor.ae_title).strip()
        close_old_connections()
        try:
            return self._store(event, calling)
        except Exception:
            logger.exception("imaging: C-STORE from %s failed", calling)
            return _status(dicom.STATUS_STORE_FAILED, INTERNAL_ERROR)
        finally:
            connection.close()  # this association's thread: never leave a connection behind

    def _store(self, event: Any, calling: str) -> Dataset:
        try:
            dicom.size_check(len(event.request.DataSet.getvalue()), self.max_bytes)
            dicom.transfer_syntax_check(str(event.context.transfer_syntax))
            data = event.encoded_dataset(include_meta=True)
            checked = dicom.check(
                dicom.parse_file(data, max_bytes=self.max_bytes + 4096),
                transfer_syntax=str(event.context.transfer_syntax),
            )
            received = level_image_receive(
                actor=None,
                checked=checked,
                data=data,
                calling_ae_title=calling,
                room_name=self.allowed.get(calling, ""),
                store=self.store,
            )
        except dicom.ImageRefused as refused:
            logger.warning("imaging: C-STORE from %s refused (0x%04X): %s", calling, refused.status, refused.reason)
            return _status(refused.status, refused.reason)
        image = received.image
        logger.info(
            "imaging: %s %s from %s -> %s",
            "duplicate" if received.duplicate else "stored",
            image.sop_instance_uid,
            calling,
            f"case {image.case_id} ({image.matched_by})" if image.case_id else f"unmatched: {image.unmatched_reason}",
        )
        return _status(dicom.STATUS_SUCCESS, "")

    def start(self, address: str, port: int, *, block: bool = False) -> Any:
        self.server = self.ae.start_server((address, port), block=block, evt_handlers=self.handlers)
        return self.server

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None
