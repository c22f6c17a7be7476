"""The tablet offline (issue 18), in Chromium against the benchmark's gunicorn:

1. the verdict on the tablet: levelverify's engine in Pyodide, in its worker, per check once loaded
   (round trip from the page, median and 95th percentile over random cases and entries), against
   the same checks in CPython in this process (the baseline); and the engine's load time from the
   service worker's cache;
2. the replay of 100 writes queued offline (level images, from the case page's own form, on 4
   cases), from the ``online`` event until the queue is empty, against the same 100 writes posted
   one after another by a plain HTTP client (the server's own cost);
3. what the service worker caches: the precache (app shell, Pyodide, the engine) and the case pages.

Goals (issue 18): <= 50 ms per check once loaded; <= 10 s for 100 queued writes.
Run: bench/run offline   (PostgreSQL, Redis and gunicorn started for you; Chromium from Debian)
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import time
import uuid
from typing import Any

from bench.server import Gunicorn, Http

CHECKS = 200
WRITES = 100
CASES = 4
Row = tuple[str, str, str, str]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


def _cases(count: int, suffix: str) -> tuple[Any, list[int]]:
    from tests.support.workflow import case_schedule, case_through_time_out, evidence_record, team_create, theatre_for

    team = team_create(f"Offline OR {suffix}", suffix=f"-offline-{suffix}")
    ids = []
    for i in range(count):
        case = case_schedule(team, room=theatre_for(team, f"Offline OR {suffix} {i}"))
        evidence_record(team, case)
        ids.append(case_through_time_out(team, case).pk)
    return team, ids


def _image_fields(version: int, count: int, surgeon_id: int) -> dict[str, str]:
    return {"localization-expected_version": str(version), "localization-phase": "pre_incision",
            "localization-reference": "sacrum", "localization-count": str(count), "localization-label": "L2",
            "localization-marker_in_place": "yes", "localization-side": "left",
            "localization-read_by": str(surgeon_id)}  # fmt: skip


def _baseline_posts(server: Gunicorn) -> float:
    """The same writes, posted one after another by a plain client (no browser, no queue)."""
    from checklist.models import Case
    from tests.support.factories import TEST_PASSWORD

    team, ids = _cases(CASES, "baseline")
    client = Http(server.port)
    client.login(team.radiographer.username, TEST_PASSWORD)
    token = client.csrf_form(f"/cases/{ids[0]}/")
    started = time.perf_counter()
    for n in range(WRITES):
        case_id = ids[n % CASES]
        version = Case.objects.values_list("evidence_version", flat=True).get(pk=case_id)
        body = "&".join(f"{k}={v}" for k, v in _image_fields(version, 4 + n % 2, team.surgeon.pk).items())
        status, _, _ = client.request("POST", f"/cases/{case_id}/do/localization", body.encode(), {
            "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": token, "Referer": server.base_url,
            "Idempotency-Key": str(uuid.uuid4()), "X-RightLevel-Queue": "1",
        })  # fmt: skip
        assert status == 204, status
    return time.perf_counter() - started


def _login(page: Any, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".topbar .who")


def _until(page: Any, script: str, arg: Any = None, timeout: float = 30) -> None:
    """Poll an async page function until it is true (wait_for_function does not await promises)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s: {script}")
        time.sleep(0.02)


def _open_with_worker(page: Any, case_id: int) -> None:
    page.goto(f"/cases/{case_id}/")
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    _until(page, "async (p) => Boolean(await caches.match(p))", f"/cases/{case_id}/")


QUEUE_ONE = """async ([count, surgeon]) => {
  const form = document.querySelector("form[action$='/do/localization']");
  form.closest("details").open = true;
  const set = (name, value) => {
    const inputs = form.querySelectorAll(`[name="localization-${name}"]`);
    inputs.forEach((i) => { if (i.type === "radio") { i.checked = i.value === value; } else { i.value = value; } });
  };
  set("phase", "pre_incision"); set("reference", "sacrum"); set("count", String(count)); set("label", "L2");
  set("marker_in_place", "yes"); set("side", "left"); set("read_by", String(surgeon));
  const before = (await window.RightLevelOffline.queued()).length;
  form.requestSubmit(form.querySelector("[data-testid=save-localization]"));
  for (let i = 0; i < 200 && (await window.RightLevelOffline.queued()).length === before; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
}"""

JUDGE_ALL = """async (pairs) => {
  const out = [];
  for (const [basis, entries] of pairs) {
    const t = performance.now();
    await window.RightLevelEngine.judge(basis, entries);
    out.push(performance.now() - t);
  }
  return out;
}"""

CACHE_SIZES = """async () => {
  const sizes = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    let total = 0;
    for (const request of await cache.keys()) { total += (await (await cache.match(request)).blob()).size; }
    sizes[name] = total;
  }
  return sizes;
}"""


def run(server: Gunicorn) -> list[Row]:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop, one thread
    from playwright.sync_api import sync_playwright

    from levelverify.verdict import judge_offline
    from tests.support.factories import TEST_PASSWORD
    from tests.support.random_requests import random_basis_and_entries

    executable = os.environ.get("RIGHTLEVEL_CHROMIUM") or shutil.which("chromium")
    if not executable:
        return [("offline (issue 18)", "skipped: no Chromium on this machine", "", "")]
    rng = random.Random(18)
    pairs = [random_basis_and_entries(rng) for _ in range(CHECKS)]
    cpython = []
    for basis, entries in pairs:
        started = time.perf_counter()
        judge_offline(basis, entries)
        cpython.append((time.perf_counter() - started) * 1000)
    baseline_s = _baseline_posts(server)
    team, ids = _cases(CASES, "tablet")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=server.base_url, viewport={"width": 1024, "height": 768})
        page = context.new_page()
        if os.environ.get("BENCH_DEBUG"):
            page.on("console", lambda m: print("console:", m.type, m.text, flush=True))
        _login(page, team.radiographer.username, TEST_PASSWORD)
        for case_id in ids:
            _open_with_worker(page, case_id)
        # The engine from the worker's cache, in a fresh page: what a tablet pays once per page load.
        page.goto(f"/cases/{ids[0]}/")
        page.wait_for_function("() => Boolean(window.RightLevelEngine)")
        load_s = page.evaluate("async () => { const t = performance.now(); await RightLevelEngine.load(); "
                               "return (performance.now() - t) / 1000; }")  # fmt: skip
        times = page.evaluate(JUDGE_ALL, [list(pair) for pair in pairs])
        sizes = page.evaluate(CACHE_SIZES)

        context.set_offline(True)
        for n in range(WRITES):
            if n % (WRITES // CASES) == 0:
                page.goto(f"/cases/{ids[n // (WRITES // CASES)]}/")
                page.wait_for_function("() => Boolean(window.RightLevelOffline)")
            page.evaluate(QUEUE_ONE, [4 + n % 2, team.surgeon.pk])
        queued = page.evaluate("async () => (await window.RightLevelOffline.queued()).length")
        assert queued == WRITES, f"{queued} writes queued, not {WRITES}"
        started = time.perf_counter()
        context.set_offline(False)
        _until(page, "async () => (await window.RightLevelOffline.queued()).length === 0", timeout=300)
        replay_s = time.perf_counter() - started
        problems = page.evaluate("async () => (await window.RightLevelOffline.problems()).length")
        browser.close()

    from checklist.models import Localization

    recorded = Localization.objects.filter(case_id__in=ids).count()
    assert recorded == WRITES and problems == 0, f"{recorded} recorded, {problems} refused"
    median, p95 = statistics.median(times), sorted(times)[int(len(times) * 0.95)]
    base = statistics.median(cpython)
    precache = sum(v for k, v in sizes.items() if "precache" in k)
    pages = sum(v for k, v in sizes.items() if "precache" not in k)
    return [
        (f"offline verdict on the tablet, {CHECKS} random checks (Pyodide, worker round trip)",
         f"median {median:.1f} ms, p95 {p95:.1f} ms", f"{median / base:.0f}x CPython ({base:.2f} ms)",
         "<= 50 ms " + ("OK" if p95 <= 50 else "MISSED")),
        ("offline engine load from the worker's cache (once per page)", f"{load_s:.2f} s", "", ""),
        (f"replay of {WRITES} queued level images ({CASES} cases)", f"{replay_s:.2f} s",
         f"{replay_s / baseline_s:.2f}x the same posts by a plain client ({baseline_s:.2f} s)",
         "<= 10 s " + ("OK" if replay_s <= 10 else "MISSED")),
        ("service worker cache", f"{precache / 1e6:.1f} MB precache + {pages / 1e6:.2f} MB case pages", "", ""),
    ]  # fmt: skip


def main() -> None:
    from pathlib import Path

    from bench.common import django_setup_live, print_table

    django_setup_live()
    with Gunicorn(Path(os.environ.get("BENCH_DIR", "var/bench"))) as server:
        print_table("Offline tablet (issue 18)", run(server))


if __name__ == "__main__":
    main()
