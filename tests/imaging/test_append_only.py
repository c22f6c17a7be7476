"""Level images and reads are append-only (checklist migration 0013's triggers): only the
assignment columns of an unmatched image move, once; nothing is deleted."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from imaging.models import ImageRead, LevelImage
from tests.imaging.test_reads import post_read, ready_case, receive, taps_from_sacrum_to
from tests.support.workflow import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    from imaging.store import LocalImageStore

    settings.IMAGING_STORAGE_DIR = tmp_path / "images"
    return LocalImageStore(settings.IMAGING_STORAGE_DIR)


def refused(action) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        action()


def test_a_level_image_and_its_read_cannot_be_rewritten_or_deleted(team: Team, store) -> None:
    from rest_framework.test import APIClient

    case = ready_case(team)
    image, layout = receive(store, case)
    api = APIClient()
    api.force_authenticate(team.radiographer)
    assert post_read(api, image, taps_from_sacrum_to(layout, "L2")).status_code == 201
    images = LevelImage.objects.filter(pk=image.pk)
    refused(lambda: images.update(pixel_sha256="0" * 64))
    refused(lambda: images.update(sop_instance_uid="1.2.3"))
    refused(lambda: images.update(case=None, matched_by=""))  # a matched image stays matched
    refused(lambda: images.update(version=0))
    refused(lambda: images.delete())
    reads = ImageRead.objects.all()
    refused(lambda: reads.update(count=9))
    refused(lambda: reads.delete())
    assert LevelImage.objects.get(pk=image.pk).pixel_sha256 == image.pixel_sha256
