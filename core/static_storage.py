"""Static files storage: WhiteNoise's compressed manifest storage, with brotli at a quality that
suits large files. Brotli's default (11) is meant for small text: on Pyodide's 10 MB of wasm it
takes a minute at every collectstatic (the run command's start); quality 5 takes about a second and
gives files a few percent larger. Small files keep quality 11."""

from __future__ import annotations

from typing import Any

import brotli
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage

LARGE_BYTES = 512 * 1024
LARGE_QUALITY = 5


class _Compressor(Compressor):
    @staticmethod
    def compress_brotli(data: bytes) -> bytes:
        return brotli.compress(data, quality=11 if len(data) < LARGE_BYTES else LARGE_QUALITY)  # type: ignore[no-any-return]


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def create_compressor(self, **kwargs: Any) -> Compressor:
        return _Compressor(**kwargs)
