/* The field app (/field/): the user's townships, parcels and queue kept on the phone
   (IndexedDB), the phone's position over them, sign-offs and disputes on the spot, outlines
   captured by walking or drawing, and an outbox that sends each action once, in order,
   whenever there is a signal. Words come from cfg.words (the catalogs, in the page's
   language); nothing here is written in one language. */
(function () {
  "use strict";
  var root = document.getElementById("field-app");
  if (!root || !window.L) { return; }
  var cfg = JSON.parse(root.getAttribute("data-cfg"));
  var MU_M2 = 10000 / 15;
  var STATUS_COLOUR = { planned: "#616161", in_progress: "#1565c0", delivered: "#e65100",
                        demolished: "#e65100", verified: "#1b5e20", disputed: "#b00020" };
  var STATUS_WORD = { planned: "planned", in_progress: "in progress", delivered: "delivered",
                      demolished: "demolished", verified: "verified", disputed: "disputed" };
  var PIECES = [["townships", "Township outlines"], ["parcels", "Parcels"],
                ["queue", "Verification queue"]];
  var RETRY_MS = 20000;

  function t(word, params) {
    var said = cfg.words[word] || word;
    return params ? said.replace(/%\((\w+)\)s/g, function (_m, key) {
      return params[key] === undefined || params[key] === null ? "" : String(params[key]);
    }) : said;
  }
  function num(value, digits) {
    return Number(value).toLocaleString(cfg.number_locale,
      { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function when(iso) {
    return iso ? new Date(iso).toLocaleString(cfg.number_locale) : t("never");
  }
  function $(id) { return document.getElementById(id); }
  function say(id, text) { $(id).textContent = text; }

  // ---------------------------------------------------------------- fetched when needed
  // leaflet-geoman (drawing) and exifr with the photos module are not on the page: on a
  // weak signal it is usable once Leaflet and this script have come. They are fetched
  // the first time they are needed (cfg.on_demand); offline, from the service worker's
  // copies. A failed fetch is tried again the next time.
  var loading = {};
  function loadFiles(name) {
    if (!loading[name]) {
      var files = cfg.on_demand[name];
      var styles = files.css.map(function (href) {
        return new Promise(function (resolve) {
          var link = document.createElement("link");
          link.rel = "stylesheet";
          link.href = href;
          link.onload = link.onerror = function () { resolve(); };  // works unstyled too
          document.head.appendChild(link);
        });
      });
      // async = false: fetched together, run in their order (exifr before its user).
      var scripts = files.js.map(function (src) {
        return new Promise(function (resolve, reject) {
          var tag = document.createElement("script");
          tag.async = false;
          tag.src = src;
          tag.onload = function () { resolve(); };
          tag.onerror = function () { tag.remove(); reject(new Error(src)); };
          document.body.appendChild(tag);
        });
      });
      loading[name] = Promise.all(styles.concat(scripts));
      loading[name].catch(function () { delete loading[name]; });
    }
    return loading[name];
  }

  // ---------------------------------------------------------------- IndexedDB
  // Two stores: "pieces" (townships, parcels, queue: each {data, at}) and "outbox" (the
  // actions, in the order they were made: autoIncrement keys keep that order).
  var dbReady = new Promise(function (resolve, reject) {
    var opening = indexedDB.open("geo-service-field-" + cfg.user, 1);
    opening.onupgradeneeded = function () {
      opening.result.createObjectStore("pieces");
      opening.result.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
    };
    opening.onsuccess = function () { resolve(opening.result); };
    opening.onerror = function () { reject(opening.error); };
  });
  function inStore(store, mode, work) {
    return dbReady.then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var asked = work(tx.objectStore(store));
        tx.oncomplete = function () { resolve(asked ? asked.result : undefined); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }
  function getPiece(name) { return inStore("pieces", "readonly", function (s) { return s.get(name); }); }
  function putPiece(name, data, at) {
    return inStore("pieces", "readwrite", function (s) { return s.put({ data: data, at: at }, name); });
  }
  function allItems() { return inStore("outbox", "readonly", function (s) { return s.getAll(); }); }
  function putItem(item) { return inStore("outbox", "readwrite", function (s) { return s.put(item); }); }

  // ---------------------------------------------------------------- state
  var state = { townships: null, parcels: null, queue: [], at: {}, fix: null, chosen: null,
                stakes: [], mode: "walk", items: [] };
  var byId = {};

  // ---------------------------------------------------------------- the map
  // Leaflet's zoom buttons are titled in English: give them the page's words (base.html).
  L.Control.Zoom.mergeOptions({ zoomInTitle: document.body.dataset.zoomIn, zoomOutTitle: document.body.dataset.zoomOut });
  var map = L.map("field-map", { attributionControl: false, zoomControl: true });
  L.control.scale({ imperial: false }).addTo(map);
  map.setView([26.08, 119.3], 12);
  var townshipLayer = L.geoJSON(null, { interactive: false,
    style: { color: "#000", weight: 2, dashArray: "6 4", fill: false } }).addTo(map);
  var parcelLayer = L.geoJSON(null, {
    style: function (f) {
      var chosen = state.chosen === f.properties.id;
      return { color: chosen ? "#000" : STATUS_COLOUR[f.properties.status] || "#616161",
               weight: chosen ? 5 : 2, fillOpacity: chosen ? 0.45 : 0.25,
               fillColor: STATUS_COLOUR[f.properties.status] || "#616161" };
    },
    onEachFeature: function (f, layer) {
      layer.bindTooltip(f.properties.code);
      layer.on("click", function () { choose(f.properties.id, false); });
      drawn[f.properties.id] = layer;
      // Parcels drawn since the page opened: the browser tests count redraws by it.
      root.setAttribute("data-parcels-drawn", String(Number(root.getAttribute("data-parcels-drawn") || 0) + 1));
    }
  }).addTo(map);
  // Each parcel's shape on the map by id, and the township outlines drawn: a new bundle
  // redraws only the parcels whose properties changed (an edit of an outline raises its
  // version); all of a township's thousands took seconds on a phone, every 20 s.
  var drawn = {}, drawnTownships = null;
  var accuracyCircle = null, positionDot = null;
  var captureLine = L.polygon([], { color: "#ffd600", weight: 4, fillOpacity: 0.2 }).addTo(map);
  var fitted = false;

  function drawData() {
    var townships = JSON.stringify(state.townships || null);
    if (townships !== drawnTownships) {
      townshipLayer.clearLayers();
      if (state.townships) { townshipLayer.addData(state.townships); }
      drawnTownships = townships;
    }
    var before = drawn;
    drawn = {};
    byId = {};
    if (state.parcels) {
      // An unchanged parcel keeps its shape on the map, and the map's copy stays the one
      // the app reads (the outbox marks what it queued on it).
      state.parcels.features = state.parcels.features.map(function (f) {
        var id = f.properties.id, old = before[id];
        delete before[id];
        if (old && JSON.stringify(old.feature.properties) === JSON.stringify(f.properties)) {
          drawn[id] = old;
          f = old.feature;
        } else {
          if (old) { parcelLayer.removeLayer(old); }
          parcelLayer.addData(f);
        }
        byId[id] = f;
        return f;
      });
    }
    Object.keys(before).forEach(function (id) { parcelLayer.removeLayer(before[id]); });
    if (state.parcels) {
      if (!fitted && state.parcels.features.length) {
        map.fitBounds(parcelLayer.getBounds(), { maxZoom: 17 });
        fitted = true;
      }
    }
    fillTownships();
    drawWork();
    showChosen();
    showStanding();
  }

  // ---------------------------------------------------------------- measuring
  // Metres on the ground from a local projection around `origin`: east and north offsets
  // scaled by GRS80's radii of curvature there (prime vertical × cos φ east, meridian
  // north). Over a parcel (hundreds of metres) this is within millimetres of the geodesic
  // figure, and needs no library on the phone; the server measures the stored area
  // geodesically anyway. Web Mercator (Leaflet's own) would be ~10% off in Fuzhou.
  var A = 6378137, E2 = 0.00669438002290;
  function projector(origin) {
    var phi = origin[1] * Math.PI / 180, s = Math.sin(phi), w = 1 - E2 * s * s;
    var east = A / Math.sqrt(w) * Math.cos(phi) * Math.PI / 180;
    var north = A * (1 - E2) / Math.pow(w, 1.5) * Math.PI / 180;
    return function (p) { return [(p[0] - origin[0]) * east, (p[1] - origin[1]) * north]; };
  }
  function rings(geometry) {
    return geometry.type === "Polygon" ? geometry.coordinates
      : [].concat.apply([], geometry.coordinates);
  }
  function polygons(geometry) {
    return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  }
  function inRing(p, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var a = ring[i], b = ring[j];
      if ((a[1] > p[1]) !== (b[1] > p[1]) &&
          p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]) { inside = !inside; }
    }
    return inside;
  }
  function contains(geometry, p) {
    return polygons(geometry).some(function (poly) {
      return inRing(p, poly[0]) && !poly.slice(1).some(function (hole) { return inRing(p, hole); });
    });
  }
  function toSegment(p, a, b) {
    var dx = b[0] - a[0], dy = b[1] - a[1], len = dx * dx + dy * dy;
    var k = len ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len)) : 0;
    return Math.hypot(p[0] - a[0] - k * dx, p[1] - a[1] - k * dy);
  }
  function boundaryDistance(geometry, p) {
    var local = projector(p), best = Infinity;
    rings(geometry).forEach(function (ring) {
      var pts = ring.map(local);
      for (var i = 1; i < pts.length; i++) { best = Math.min(best, toSegment([0, 0], pts[i - 1], pts[i])); }
    });
    return best;
  }
  function areaM2(points) {
    if (points.length < 3) { return 0; }
    var local = projector(points[0]), pts = points.map(local), twice = 0;
    for (var i = 0; i < pts.length; i++) {
      var a = pts[i], b = pts[(i + 1) % pts.length];
      twice += a[0] * b[1] - b[0] * a[1];
    }
    return Math.abs(twice) / 2;
  }

  // ---------------------------------------------------------------- where am I
  function onFix(position) {
    var c = position.coords;
    state.fix = { lon: c.longitude, lat: c.latitude, accuracy_m: c.accuracy };
    root.setAttribute("data-fixes", String(Number(root.getAttribute("data-fixes") || 0) + 1));
    if (stakeListener) { stakeListener(c); }
    var at = [c.latitude, c.longitude];
    if (!positionDot) {
      accuracyCircle = L.circle(at, { radius: c.accuracy, color: "#0b3d91", weight: 2,
                                      fillOpacity: 0.15, interactive: false }).addTo(map);
      positionDot = L.circleMarker(at, { radius: 9, color: "#fff", weight: 3, fillColor: "#0b3d91",
                                         fillOpacity: 1, interactive: false }).addTo(map);
    } else {
      accuracyCircle.setLatLng(at).setRadius(c.accuracy);
      positionDot.setLatLng(at);
    }
    say("position", t("Position ±%(m)s m", { m: num(c.accuracy, 1) }));
    showStanding();
    showChosen();
  }
  // The browser's own message is in the browser's language: the page says it in its own.
  var FIX_ERRORS = { 1: "This page may not use the phone's position",
                     2: "The phone has no position fix", 3: "No position fix yet" };
  function onFixError(error) {
    say("position", t(FIX_ERRORS[error.code] || "No position fix yet"));
  }
  function standingIn() {
    if (!state.fix || !state.parcels) { return null; }
    var p = [state.fix.lon, state.fix.lat];
    return state.parcels.features.find(function (f) { return contains(f.geometry, p); }) || null;
  }
  function showStanding() {
    if (!state.fix) { return; }
    var found = standingIn();
    $("choose-here").disabled = !found;
    say("standing", found ? t("You stand in parcel %(code)s", { code: found.properties.code })
                          : t("You stand in no parcel of yours"));
  }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(onFix, onFixError,
      { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
  }

  // ---------------------------------------------------------------- the chosen parcel
  function choose(id, pan) {
    state.chosen = id;
    parcelLayer.setStyle(parcelLayer.options.style);
    var f = byId[id];
    if (f && pan) {
      parcelLayer.eachLayer(function (layer) {
        if (layer.feature.properties.id === id) { map.fitBounds(layer.getBounds(), { maxZoom: 18 }); }
      });
    }
    showChosen();
  }
  function showChosen() {
    var f = byId[state.chosen];
    $("verify").disabled = $("dispute").disabled = $("move").disabled = !f;
    if (!f) {
      say("chosen-text", t("Choose a parcel on the map or in the queue"));
      say("distance", "");
      return;
    }
    var p = f.properties;
    say("chosen-text", t("Parcel %(code)s · %(township)s · %(status)s · %(mu)s mu", {
      code: p.code, township: p.township, status: t(STATUS_WORD[p.status] || p.status),
      mu: num(p.area_m2 / MU_M2, 2) }));
    if (!state.fix) { say("distance", ""); return; }
    var here = [state.fix.lon, state.fix.lat];
    var metres = num(boundaryDistance(f.geometry, here), 1);
    say("distance", contains(f.geometry, here) ? t("%(m)s m inside its boundary", { m: metres })
                                                : t("%(m)s m outside its boundary", { m: metres }));
  }
  function drawWork() {
    var list = $("work");
    list.textContent = "";
    state.queue.forEach(function (row) {
      var item = document.createElement("li"), button = document.createElement("button");
      button.type = "button";
      button.textContent = row.code + " · " + row.township + " · " + num(row.area_mu, 2) + " " + t("mu");
      button.addEventListener("click", function () { choose(row.id, true); });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  // ---------------------------------------------------------------- the outbox
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function queueAction(kind, body) {
    var f = byId[state.chosen];
    var item = {
      key: uuid(), kind: kind, parcel_id: f.properties.id, code: f.properties.code,
      path: "/api/parcels/" + f.properties.id + "/" + kind,
      body: Object.assign({ version: f.properties.version, field_day: new Date().toISOString(),
                            position: state.fix ? Object.assign({}, state.fix) : null }, body),
      state: "waiting", said: "", made_at: new Date().toISOString()
    };
    // What the phone shows until the answer comes: the version this one should write. A
    // further action on the parcel is sent with the version the answer names (onVersion).
    f.properties.version += 1;
    f.properties.status = { verify: "verified", dispute: "disputed" }[kind] || body.status;
    return putItem(item).then(function () { return queuePhotos(item); }).then(function () {
      parcelLayer.setStyle(parcelLayer.options.style);
      showChosen();
      return refreshOutbox();
    }).then(send);
  }
  // Photos (the photos module, field_photos.js, when the page has it): made ready on the
  // phone (EXIF time and position read, resized) as they are taken, kept in the outbox with
  // the next sign-off or dispute, and sent after it, on the version it wrote.
  var photosReady = [];
  var photoInput = $("photo");
  if (photoInput) {
    photoInput.addEventListener("change", function () {
      var files = Array.prototype.slice.call(photoInput.files);
      loadFiles("photos").then(function () {
        if (!window.geoFieldPhotos) { throw new Error(t("Photos cannot be sent from this page")); }
        return Promise.all(files.map(function (file) { return window.geoFieldPhotos.prepare(file); }));
      }, function () { throw new Error(t("no signal")); })
        .then(function (prepared) {
          photosReady = photosReady.concat(prepared);
          photoInput.value = "";
          say("photo-state", t("%(n)s photos go with the next action", { n: photosReady.length }));
        }, function (error) { say("photo-state", error.message); });
    });
  }
  function queuePhotos(action) {
    var taken = photosReady;
    photosReady = [];
    if (photoInput) { say("photo-state", ""); }
    return taken.reduce(function (done, prepared) {
      return done.then(function () {
        return putItem({ key: uuid(), kind: "photo", after: action.key, parcel_id: action.parcel_id,
                         code: action.code, prepared: prepared,
                         accuracy_m: action.body.position ? action.body.position.accuracy_m : null,
                         state: "waiting", said: "", made_at: new Date().toISOString() });
      });
    }, Promise.resolve());
  }

  $("choose-here").addEventListener("click", function () {
    var found = standingIn();
    if (found) { choose(found.properties.id, true); }
  });
  $("verify").addEventListener("click", function () {
    queueAction("verify", { note: $("note").value.trim() || null });
    $("note").value = "";
  });
  $("move").addEventListener("click", function () {
    queueAction("status", { status: $("move-to").value, note: $("note").value.trim() || null });
    $("note").value = "";
  });
  $("dispute").addEventListener("click", function () {
    var reason = $("reason").value.trim();
    if (!reason) { say("distance", t("A dispute needs a reason")); $("reason").focus(); return; }
    queueAction("dispute", { reason: reason });
    $("reason").value = "";
  });

  var ITEM_WORDS = { verify: "verify %(code)s", dispute: "dispute %(code)s", status: "status of %(code)s",
                     outline: "outline %(code)s", photo: "photo of %(code)s" };
  function itemText(item) {
    var what = t(ITEM_WORDS[item.kind], { code: item.code });
    var result = {
      waiting: item.said ? t("Not sent yet: %(why)s", { why: item.said }) : t("Waiting to be sent"),
      sending: t("Sending…"),
      stored: item.said ? t("Stored") + " · " + item.said : t("Stored"),
      conflict: t("Conflict: the parcel changed meanwhile; nothing was overwritten"),
      refused: t("Refused: %(why)s", { why: item.said })
    }[item.state];
    return what + " (" + when(item.made_at) + "): " + result;
  }
  function refreshOutbox() {
    return allItems().then(function (items) {
      state.items = items;
      var list = $("outbox");
      list.textContent = "";
      if (!items.length) {
        var none = document.createElement("li");
        none.textContent = t("Nothing waits to be sent.");
        list.appendChild(none);
      }
      items.slice().reverse().forEach(function (item) {
        var row = document.createElement("li");
        row.className = "state-" + item.state;
        row.setAttribute("data-state", item.state);
        row.setAttribute("data-kind", item.kind);
        row.setAttribute("data-code", item.code);
        row.textContent = itemText(item);
        list.appendChild(row);
      });
    });
  }

  function refusalWords(body, fallback) {
    if (body && body.report && body.report.problems && body.report.problems.length) {
      return body.report.problems.map(function (p) {
        return p.said ? p.said.rule + ": " + p.said.detail : p.message;
      }).join("; ");
    }
    return (body && (body.said || body.detail)) || fallback;
  }
  // A photo goes once its action is stored, on the version that action wrote; with the
  // action refused it has no version to go on.
  function photoRequest(item, items) {
    var action = items.find(function (i) { return i.key === item.after; });
    if (!action || action.state === "conflict" || action.state === "refused") {
      return Promise.resolve({ ok: false, status: 422, json: function () {
        return Promise.resolve({ said: t("its action was not stored") });
      } });
    }
    // Not fetched (no signal): kept and tried again, as any send.
    return loadFiles("photos").then(function () {
      if (!window.geoFieldPhotos) {
        var missing = new Error(t("Photos cannot be sent from this page"));
        missing.ours = true;
        throw missing;
      }
      return window.geoFieldPhotos.upload(item.parcel_id, item.prepared,
        { version: action.answer && action.answer.version, accuracy_m: item.accuracy_m });
    });
  }
  // An action queued after another on the same parcel goes on the version that one
  // wrote, known from its answer; when it wrote nothing (a conflict, a refusal), on the
  // version it was sent on. Never the phone's guess: someone else's change may have
  // written that very number, and the action would land on a state the phone never saw.
  var CHANGES = { verify: true, dispute: true, status: true };
  function onVersion(item, items) {
    if (!CHANGES[item.kind]) { return; }
    var before = items.filter(function (i) {
      return CHANGES[i.kind] && i.parcel_id === item.parcel_id && i.seq < item.seq;
    }).pop();
    if (!before) { return; }
    var wrote = before.state === "stored" && before.answer && before.answer.version;
    item.body.version = wrote || before.body.version;
  }
  function request(item, items) {
    if (item.kind === "photo") { return photoRequest(item, items); }
    if (item.kind === "outline") {
      var form = new FormData();
      form.append("file", new Blob([item.geojson], { type: "application/geo+json" }), item.code + ".geojson");
      form.append("kind", item.fields.kind);
      form.append("township", item.fields.township);
      return fetch(cfg.upload_url, { method: "POST", body: form, credentials: "same-origin",
                                     headers: { "Accept": "application/json", "Idempotency-Key": item.key } });
    }
    return fetch(item.path, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(item.body),
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "Idempotency-Key": item.key }
    });
  }
  // What an answer means for the item: stored, a conflict, refused (for good), or not
  // yet (the network, the server, the session: kept and tried again).
  function judge(item, response, body) {
    if (response.ok) {
      item.state = "stored";
      item.said = item.kind === "outline" && body ? t("%(n)s parcels stored", { n: body.parcels }) : "";
      item.answer = body;
      return true;
    }
    if (response.status === 409) { item.state = "conflict"; item.said = refusalWords(body, ""); return true; }
    if ([400, 403, 404, 413, 422].indexOf(response.status) >= 0) {
      item.state = "refused";
      item.said = refusalWords(body, String(response.status));
      return true;
    }
    item.state = "waiting";
    item.said = refusalWords(body, String(response.status));
    return false;
  }
  var sending = false;
  function send() {
    if (sending || !navigator.onLine) { return Promise.resolve(); }
    sending = true;
    var changed = false;
    function next() {
      return allItems().then(function (items) {
        var item = items.find(function (i) { return i.state === "waiting" || i.state === "sending"; });
        if (!item) { return; }
        // Before the first send, and the same again on a resend: its key asks the same.
        onVersion(item, items);
        item.state = "sending";
        return putItem(item).then(refreshOutbox).then(function () { return request(item, items); })
          .then(function (response) {
            return response.json().catch(function () { return null; }).then(function (body) {
              var settled = judge(item, response, body);
              changed = changed || settled;
              return putItem(item).then(refreshOutbox).then(function () { return settled ? next() : null; });
            });
          }, function (error) {
            item.state = "waiting";
            item.said = error.ours ? error.message : t("no signal");
            return putItem(item).then(refreshOutbox);
          });
      });
    }
    return next().then(function () {
      sending = false;
      if (changed) { return fetchBundle(); }
    }, function (error) { sending = false; throw error; });
  }
  $("send-now").addEventListener("click", function () { send(); });

  // ---------------------------------------------------------------- capture an outline
  function showCapture() {
    captureLine.setLatLngs(state.stakes.map(function (p) { return [p[1], p[0]]; }));
    var area = areaM2(state.stakes);
    say("capture-area", t("%(n)s stakes", { n: state.stakes.length }) + " · " +
        t("%(m2)s m² · %(mu)s mu", { m2: num(area, 1), mu: num(area / MU_M2, 3) }));
  }
  // A stake is the mean of the next fixes the phone reports after the tap (one taken
  // before could be from the walk there), each no worse than the configured
  // accuracy: a single fix wanders by metres, and a poor one (under trees, by a wall) is
  // refused and waited past rather than averaged in.
  var STAKE_WAIT_MS = 30000, stakeListener = null;
  function collectFixes() {
    return new Promise(function (resolve, reject) {
      var fixes = [], done = false;
      var timer = setTimeout(function () {
        finish(new Error(t("No good fix within %(s)s seconds: try again", { s: STAKE_WAIT_MS / 1000 })));
      }, STAKE_WAIT_MS);
      function finish(error) {
        if (done) { return; }
        done = true;
        clearTimeout(timer);
        stakeListener = null;
        if (error) { reject(error); } else { resolve(fixes); }
      }
      function take(c) {
        if (c.accuracy > cfg.max_accuracy_m) {
          say("capture-state", t("Fix refused: ±%(m)s m is worse than %(max)s m; wait for a better fix",
                                 { m: num(c.accuracy, 1), max: num(cfg.max_accuracy_m, 1) }));
          return;
        }
        fixes.push(c);
        if (fixes.length >= cfg.fixes_per_stake) { finish(null); }
      }
      stakeListener = take;
    });
  }
  function addStake() {
    $("stake").disabled = true;
    return collectFixes().then(function (fixes) {
      var mean = function (key) {
        return fixes.reduce(function (s, c) { return s + c[key]; }, 0) / fixes.length;
      };
      state.stakes.push([mean("longitude"), mean("latitude")]);
      showCapture();
      say("capture-state", t("Stake %(n)s added: the mean of %(fixes)s fixes, ±%(m)s m", {
        n: state.stakes.length, fixes: fixes.length, m: num(mean("accuracy"), 1) }));
    }, function (error) {
      say("capture-state", error.message);
    }).then(function () { $("stake").disabled = false; });
  }
  $("stake").addEventListener("click", addStake);
  $("undo").addEventListener("click", function () { state.stakes.pop(); showCapture(); });
  $("restart").addEventListener("click", function () { state.stakes = []; showCapture(); say("capture-state", ""); });

  function setMode(mode) {
    state.mode = mode;
    $("mode-walk").setAttribute("aria-pressed", String(mode === "walk"));
    $("mode-draw").setAttribute("aria-pressed", String(mode === "draw"));
    $("stake").hidden = mode !== "walk";
    if (mode === "draw") {
      drawing().then(function () {
        if (state.mode !== "draw") { return; }  // walking again before it came
        map.pm.enableDraw("Polygon", { snappable: false, finishOn: null });
        say("capture-state", t("Draw the outline on the map: tap each corner, then the first one again"));
      }, function () {
        say("capture-state", t("no signal"));
        setMode("walk");
      });
    } else if (map.pm) {
      map.pm.disableDraw();
    }
  }
  $("mode-walk").addEventListener("click", function () { setMode("walk"); });
  $("mode-draw").addEventListener("click", function () { setMode("draw"); });
  // leaflet-geoman, fetched when the user first draws, given to the map made before it.
  var drawingHooked = false;
  function drawing() {
    return loadFiles("drawing").then(function () {
      if (drawingHooked) { return; }
      if (!map.pm) { L.PM.reInitLayer(map); }
      drawingHooked = true;
      hookDrawing();
    });
  }
  function hookDrawing() {
    map.on("pm:drawstart", function (event) {
      state.stakes = [];
      event.workingLayer.on("pm:vertexadded", function () {
        state.stakes = event.workingLayer.getLatLngs().map(function (ll) { return [ll.lng, ll.lat]; });
        showCapture();
      });
    });
    map.on("pm:create", function (event) {
      state.stakes = event.layer.getLatLngs()[0].map(function (ll) { return [ll.lng, ll.lat]; });
      map.removeLayer(event.layer);
      showCapture();
      setMode("walk");
    });
  }

  function fillTownships() {
    var select = $("new-township"), kept = select.value;
    select.textContent = "";
    ((state.townships && state.townships.features) || []).forEach(function (f) {
      var option = document.createElement("option");
      option.value = f.properties.name;
      option.textContent = f.properties.name;
      select.appendChild(option);
    });
    if (kept) { select.value = kept; }
  }
  $("send-outline").addEventListener("click", function () {
    var code = $("new-code").value.trim();
    if (state.stakes.length < 3) { say("capture-state", t("An outline needs three stakes or more")); return; }
    if (!code) { say("capture-state", t("Give the new parcel a code")); $("new-code").focus(); return; }
    var ring = state.stakes.concat([state.stakes[0]]);
    // The township the outline starts in, unless the user chose another.
    var first = state.townships && state.townships.features.find(function (f) { return contains(f.geometry, ring[0]); });
    var township = $("new-township").value || (first && first.properties.name);
    var geojson = JSON.stringify({ type: "FeatureCollection", features: [{ type: "Feature",
      properties: { code: code }, geometry: { type: "Polygon", coordinates: [ring] } }] });
    putItem({ key: uuid(), kind: "outline", code: code, geojson: geojson,
              fields: { kind: $("new-kind").value, township: township },
              state: "waiting", said: "", made_at: new Date().toISOString() })
      .then(function () {
        state.stakes = [];
        $("new-code").value = "";
        showCapture();
        say("capture-state", t("Queued: %(what)s", { what: t("outline %(code)s", { code: code }) }));
        return refreshOutbox();
      }).then(send);
  });

  // ---------------------------------------------------------------- keeping up to date
  function showFreshness() {
    var list = $("freshness");
    list.textContent = "";
    PIECES.forEach(function (piece) {
      var row = document.createElement("li");
      row.setAttribute("data-piece", piece[0]);
      row.setAttribute("data-at", state.at[piece[0]] || "");
      row.textContent = t("%(what)s: brought up to date %(when)s", { what: t(piece[1]), when: when(state.at[piece[0]]) });
      list.appendChild(row);
    });
  }
  function showNet() {
    var net = $("net");
    net.textContent = navigator.onLine ? t("Online") : t("Offline");
    net.className = navigator.onLine ? "net" : "net off";
  }
  function loadKept() {
    var names = PIECES.map(function (piece) { return piece[0]; }).concat(["etag"]);
    return Promise.all(names.map(getPiece)).then(function (kept) {
      PIECES.forEach(function (piece, n) {
        if (kept[n]) { state[piece[0]] = kept[n].data; state.at[piece[0]] = kept[n].at; }
      });
      // The bundle's ETag, kept with it: only with every piece of it is it asked for again.
      var complete = PIECES.every(function (piece, n) { return kept[n]; });
      state.etag = complete && kept[PIECES.length] ? kept[PIECES.length].data : null;
      state.queue = state.queue || [];
      drawData();
      showFreshness();
    });
  }
  // The bundle's compact parcels (cfg.bundle_url asks ?parcels=compact; api/field.py
  // says how they are written) back into the GeoJSON the rest of the app reads.
  function readParcels(compact) {
    if (compact.type !== "CompactParcels") { return compact; }
    var c = compact.columns, scale = compact.scale, id = 0, x = 0, y = 0;
    function ring(flat) {
      var points = [];
      for (var i = 0; i < flat.length; i += 2) {
        x += flat[i];
        y += flat[i + 1];
        points.push([x / scale, y / scale]);
      }
      points.push(points[0].slice());
      return points;
    }
    var features = compact.geometry.map(function (polygons, n) {
      id += c.id[n];
      var coordinates = polygons.map(function (rings) { return rings.map(ring); });
      return { type: "Feature", id: id, geometry: { type: "MultiPolygon", coordinates: coordinates },
               properties: { id: id, code: c.code[n], name: c.name[n], kind: c.kind[n],
                             status: c.status[n], version: c.version[n], area_m2: c.area_m2[n],
                             township: compact.townships[c.township_id[n]],
                             township_id: c.township_id[n] } };
    });
    return { type: "FeatureCollection", features: features };
  }
  function fetchBundle() {
    if (!navigator.onLine) { return Promise.resolve(); }
    // The ETag asked with by the app itself: the browser's own revalidation would hand a
    // 304 over as the whole bundle again, to be read and drawn again.
    var headers = { "Accept": "application/json" };
    if (state.etag) { headers["If-None-Match"] = state.etag; }
    var etag = null, status = "failed";
    return fetch(cfg.bundle_url, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        status = String(response.status);
        if (response.status === 304) { return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        etag = response.headers.get("ETag");
        return response.json();
      }).then(function (bundle) {
        var at = new Date().toISOString();
        if (bundle === null) {  // nothing changed: nothing to draw or store
          PIECES.forEach(function (piece) { state.at[piece[0]] = at; });
          return false;
        }
        bundle.parcels = readParcels(bundle.parcels);
        // Actions still waiting keep what the phone expects (their versions and statuses).
        var waiting = {};
        state.items.forEach(function (i) { if (i.state === "waiting") { waiting[i.parcel_id] = true; } });
        bundle.parcels.features.forEach(function (f) {
          var mine = byId[f.properties.id];
          if (waiting[f.properties.id] && mine) { f.properties = mine.properties; }
        });
        state.etag = etag;
        return Promise.all(PIECES.map(function (piece) {
          state[piece[0]] = bundle[piece[0]];
          state.at[piece[0]] = at;
          return putPiece(piece[0], bundle[piece[0]], at);
        })).then(function () { return etag && putPiece("etag", etag, at); }).then(function () { return true; });
      }).then(function (changed) {
        if (changed) { drawData(); }
        showFreshness();
        answered(status);
      }, function () { showFreshness(); answered(status); });
  }
  // How the bundle was last answered, once dealt with, and how many times: what the
  // browser tests wait on.
  function answered(status) {
    root.setAttribute("data-bundle-status", status);
    root.setAttribute("data-bundles", String(Number(root.getAttribute("data-bundles") || 0) + 1));
  }
  function sync() {
    showNet();
    return send().then(fetchBundle);
  }

  window.addEventListener("online", sync);
  window.addEventListener("offline", showNet);
  setInterval(sync, RETRY_MS);
  setMode("walk");
  showCapture();
  // The bundle (the largest fetch by far) once the page has loaded: it does not hold up
  // the scripts and styles the page needs to be usable on a weak signal.
  function loaded() {
    return new Promise(function (resolve) {
      if (document.readyState === "complete") { resolve(); } else { window.addEventListener("load", resolve); }
    });
  }
  loadKept().then(refreshOutbox).then(loaded).then(sync).then(function () {
    root.setAttribute("data-ready", "1");
  }, function () { root.setAttribute("data-ready", "1"); });

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(cfg.sw_url, { scope: cfg.scope }).catch(function () {});
  }
}());
