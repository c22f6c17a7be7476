// The offline queue's IndexedDB schema, shared by the page (offline.js) and the service worker.
(function (scope) {
  "use strict";
  scope.RightLevelQueueUpgrade = function (db) {
    ["queue", "problems"].forEach(function (name) {
      if (!db.objectStoreNames.contains(name)) { db.createObjectStore(name, { keyPath: "id", autoIncrement: true }); }
    });
    if (!db.objectStoreNames.contains("meta")) { db.createObjectStore("meta", { keyPath: "name" }); }
  };
})(self);
