// The tablet's service worker (issue 18), loaded by /sw.js after the Workbox modules, idb and the
// precache list (self.RIGHTLEVEL_PRECACHE). Pages are answered from the cache only when the network
// fails; writes never are. An attestation posted while the page still believed it was online is
// sent with its own Idempotency-Key; if that send gets no answer it is queued (the same key), like
// the ones offline.js queues itself, and the tablet is sent back to the case page.
/* global workbox, idb */
(function () {
  "use strict";
  var CASES_CACHE = "rightlevel-cases";
  workbox.core.setCacheNameDetails({ prefix: "rightlevel" });
  workbox.core.skipWaiting();
  workbox.core.clientsClaim();

  // The app shell: CSS, JS and the vendored libraries, by their (hashed) static URLs.
  workbox.precaching.cleanupOutdatedCaches();
  workbox.precaching.precacheAndRoute(self.RIGHTLEVEL_PRECACHE || []);

  // The case list and the case pages this device opened: network first (a fresh page whenever the
  // server answers within a few seconds), the last copy when it does not, so that a tablet that
  // lost the network still shows the case and its target level.
  var casePage = /^\/cases\/(\d+\/)?$/;
  workbox.routing.registerRoute(
    function (options) {
      return options.url.origin === self.location.origin && casePage.test(options.url.pathname);
    },
    new workbox.strategies.NetworkFirst({
      cacheName: CASES_CACHE,
      networkTimeoutSeconds: 4,
      plugins: [
        new workbox.expiration.ExpirationPlugin({ maxEntries: 40, maxAgeSeconds: 24 * 60 * 60 }),
      ],
    })
  );
  // The blank downtime sheets, once fetched, stay printable offline.
  workbox.routing.registerRoute(
    function (options) {
      return options.url.origin === self.location.origin && options.url.pathname === "/cases/downtime-sheets.pdf";
    },
    new workbox.strategies.NetworkFirst({ cacheName: CASES_CACHE, networkTimeoutSeconds: 4 })
  );

  // The posts of the forms the page queues itself when it knows it is offline: attestations,
  // evidence and level images. Only form-encoded ones: a consent with its scanned file attached
  // goes to the network as it is (the page says that it needs the network).
  var QUEUEABLE = /^\/cases\/(\d+)\/do\/(attest|attest-phase|consent|marking|imaging|anatomy|localization)$/;
  workbox.routing.registerRoute(
    function (options) {
      return options.url.origin === self.location.origin && options.request.mode === "navigate" &&
        QUEUEABLE.test(options.url.pathname) &&
        (options.request.headers.get("Content-Type") || "").indexOf("application/x-www-form-urlencoded") === 0;
    },
    function (options) { return sendOrQueue(options.request); },
    "POST"
  );

  function openQueue() {
    return idb.openDB("rightlevel-offline", 2, { upgrade: self.RightLevelQueueUpgrade });
  }

  // Same shape as offline.js's actedAt: the device's time with its UTC offset.
  function actedAt(date) {
    function pad(n, w) { return String(Math.abs(n)).padStart(w || 2, "0"); }
    var off = -date.getTimezoneOffset();
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + "." +
      pad(date.getMilliseconds(), 3) + (off >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  }

  function sendOrQueue(request) {
    return request.clone().text().then(function (text) {
      var params = new URLSearchParams(text);
      // The CSRF token goes in a header, so that the body the key is bound to is the same when the
      // queue sends it later under a fresh token.
      var csrf = params.get("csrfmiddlewaretoken") || "";
      params.delete("csrfmiddlewaretoken");
      var path = new URL(request.url).pathname;
      var match = QUEUEABLE.exec(path);
      var fields = Array.from(params.entries());
      var version = fields.filter(function (f) { return /(^|-)expected_version$/.test(f[0]); })[0];
      var item = {
        url: path,
        caseId: match[1],
        kind: match[2],
        fields: fields,
        key: self.crypto.randomUUID(),
        actedAt: actedAt(new Date()),
        expectedVersion: version ? version[1] : null,
        seenVersion: version ? version[1] : null,
        label: /^attest/.test(match[2])
          ? "attestation (" + (params.get("phase") || params.get("step_code") || "") + ", " + (params.get("role") || "") + ")"
          : match[2] === "localization" ? "level image" : match[2],
      };
      return fetch(request.url, {
        method: "POST",
        body: params.toString(),
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "Idempotency-Key": item.key,
          "X-Acted-At": item.actedAt,
          "X-CSRFToken": csrf,
        },
        credentials: "same-origin",
        redirect: "manual",
      }).catch(function () {
        return openQueue().then(function (db) {
          return db.get("meta", "user").then(function (user) {
            if (!user || !user.value) { return Response.error(); }
            item.userId = user.value;
            return db.add("queue", item).then(function () {
              return Response.redirect(path.replace(/do\/[^/]+$/, ""), 303);
            });
          });
        });
      });
    });
  }

  // Signed out: the cached case pages (patient data) go with the session.
  self.addEventListener("message", function (event) {
    if (event.data && event.data.type === "signed-out") {
      event.waitUntil(self.caches.delete(CASES_CACHE));
    }
  });
})();
