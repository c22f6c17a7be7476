"""The browser libraries served from static/vendor/ are exactly npm's (package.json pins them),
except the one line scripts/vendor-static rewrites: no CDN is ever named."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "static" / "vendor"
NODE = REPO / "node_modules"


def test_the_vendored_copies_match_the_pinned_npm_packages() -> None:
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]
    versions = dict(line.split() for line in (VENDOR / "VERSIONS").read_text().splitlines())
    assert versions["barcode-detector"] == pinned["barcode-detector"]
    installed = json.loads((NODE / "barcode-detector" / "package.json").read_text())
    assert installed["version"] == pinned["barcode-detector"], "run npm install (scripts/test does)"
    assert installed["dependencies"]["zxing-wasm"] == versions["zxing-wasm"]
    wasm = NODE / "zxing-wasm" / "dist" / "reader" / "zxing_reader.wasm"
    assert (VENDOR / "zxing-wasm" / "reader" / "zxing_reader.wasm").read_bytes() == wasm.read_bytes()
    original = (NODE / "barcode-detector" / "dist" / "iife" / "ponyfill.js").read_text()
    served = (VENDOR / "barcode-detector" / "ponyfill.js").read_text()
    assert served != original
    assert re.sub(r"`https://[^`]*?/zxing-wasm@[^/]+/dist/", "`/static/vendor/zxing-wasm/", original) == served


def test_pyodide_is_npm_s_with_its_package_location_pointed_at_our_own_folder() -> None:
    pinned = json.loads((REPO / "package.json").read_text())["dependencies"]["pyodide"]
    versions = dict(line.split() for line in (VENDOR / "VERSIONS").read_text().splitlines())
    assert versions["pyodide"] == pinned
    assert json.loads((NODE / "pyodide" / "package.json").read_text())["version"] == pinned
    for name in ("pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"):
        assert (VENDOR / "pyodide" / name).read_bytes() == (NODE / "pyodide" / name).read_bytes(), name
    original = (NODE / "pyodide" / "pyodide.mjs").read_text()
    served = (VENDOR / "pyodide" / "pyodide.mjs").read_text()
    assert REMOTE_CODE.search(original) and not REMOTE_CODE.search(served)
    assert re.sub(r"`https://[^`]*?/pyodide/v\$\{[A-Za-z_$]+\}/full/`", "`/static/vendor/pyodide/`", original) == served


# Code or WebAssembly fetched from another host (a CDN default). The libraries' console warnings
# link to their documentation; those are text, not fetches.
REMOTE_CODE = re.compile(r"https?://[^\s\"'`]*\.(?:m?js|wasm)\b|https?://[^\s\"'`]*\$\{")


# Pyodide's socket shim parses a host name as a URL (new URL(`https://${host}`)): no fetch of code.
NOT_A_FETCH = "new URL(`https://${t}`)"


def test_no_served_script_loads_code_from_another_host() -> None:
    for path in [*VENDOR.rglob("*.js"), *VENDOR.rglob("*.mjs")]:
        assert not REMOTE_CODE.search(path.read_text().replace(NOT_A_FETCH, "")), path
    for path in (REPO / "static" / "js").glob("*.js"):
        assert not re.search(r"https?://", path.read_text()), path
    original = (NODE / "barcode-detector" / "dist" / "iife" / "ponyfill.js").read_text()
    assert REMOTE_CODE.search(original), "the check must catch the CDN default the copy rewrites"
