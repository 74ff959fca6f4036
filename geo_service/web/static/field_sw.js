/* The field app's service worker (scope /field/). The service prepends SHELL (the page and
   every file it loads, by content-hashed URL) and CACHE (a name that changes with them).
   The page: from the network when there is one (so it is fresh), else the kept copy.
   Scripts, styles and the vendored Leaflet files: kept copies (their URLs change with
   them). The API is never cached here: the app keeps its data in IndexedDB itself, and a
   write must reach the server or fail visibly. */
/* global SHELL, CACHE */
"use strict";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("field-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function pageFromNetwork(request) {
  return fetch(request).then(function (response) {
    // A sign-in page in place of the app (the session ended) is not kept over the app.
    if (response.ok && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(self.registration.scope, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(self.registration.scope);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) { return; }
  if (request.mode === "navigate") {
    event.respondWith(pageFromNetwork(request));
    return;
  }
  event.respondWith(caches.match(request).then(function (kept) {
    return kept || fetch(request);
  }));
});
