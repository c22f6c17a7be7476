// The tablet's service worker (issue 18), loaded by /sw.js after the Workbox modules and the
// precache list (self.RIGHTLEVEL_PRECACHE). It only reads: writes are never answered from a cache
// (the page queues them in IndexedDB itself, see offline.js).
/* global workbox */
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

  // Signed out: the cached case pages (patient data) go with the session.
  self.addEventListener("message", function (event) {
    if (event.data && event.data.type === "signed-out") {
      event.waitUntil(self.caches.delete(CASES_CACHE));
    }
  });
})();
