/* geo_service map pages: progress against target, and cross-township support.
 * The page embeds its first data (so a saved file works offline); a live page then
 * polls the service and redraws in place, keeping the leader's zoom and position. */
(function () {
  "use strict";

  var MU = 10000 / 15;
  var PROGRESS_BINS = [
    { upto: 0.2, color: "#edf8e9", label: "< 20%" },
    { upto: 0.4, color: "#bae4b3", label: "20–40%" },
    { upto: 0.6, color: "#74c476", label: "40–60%" },
    { upto: 0.8, color: "#31a354", label: "60–80%" },
    { upto: Infinity, color: "#006d2c", label: "≥ 80%" }
  ];
  // Labels are msgids: t() gives them in the page's language from the words the server
  // rendered into the page (cfg.words, from the gettext catalogs; geo_service/maps/words.py).
  var STATUS = {
    planned: { color: "#9e9e9e", label: "planned" },
    in_progress: { color: "#42a5f5", label: "in progress" },
    delivered: { color: "#ff9800", label: "delivered" },
    demolished: { color: "#ff9800", label: "demolished" },
    verified: { color: "#1b5e20", label: "verified" },
    disputed: { color: "#d32f2f", label: "disputed" }
  };
  var KIND = { land: "land delivery", demolition: "demolition" };
  var WORDS = {}, LOCALE = "zh-CN";

  function t(msgid, params) {
    var said = WORDS[msgid] || msgid;
    return params ? said.replace(/%\((\w+)\)s/g, function (m, k) { return params[k]; }) : said;
  }
  function statusLabel(status) { return STATUS[status] ? t(STATUS[status].label) : status; }
  function kindLabel(kind) { return t(KIND[kind] || kind); }
  function targetLabel(p, fallback) {
    var basis = p.target_basis;
    if (basis === "quarters") return t("Annual target (quarterly plans summed)");
    // One msgid per quarter: the catalogs name each plan as the campaign does (截至二季度计划).
    if (basis === "plan_q1") return t("Plan up to Q1");
    if (basis === "plan_q2") return t("Plan up to Q2");
    if (basis === "plan_q3") return t("Plan up to Q3");
    if (basis === "plan_q4") return t("Plan up to Q4");
    // A day ending none of the campaign's own quarters: the plans reckoned to it.
    if (basis === "due") return t("Due by this day (quarterly plans)");
    return t(fallback || "Annual target");
  }

  // One formatter per number of digits: toLocaleString builds one on every call, slow
  // on a phone for the hundreds of figures of a page.
  var FORMATS = {};
  function fmt(n, digits) {
    if (n === null || n === undefined) return "—";
    var d = digits || 0;
    if (!FORMATS[d]) FORMATS[d] = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: d, maximumFractionDigits: d });
    return FORMATS[d].format(Number(n));
  }
  function pct(p) { return p === null || p === undefined ? "—" : (p * 100).toFixed(1) + "%"; }
  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function progressColor(p) {
    for (var i = 0; i < PROGRESS_BINS.length; i++) if (p < PROGRESS_BINS[i].upto) return PROGRESS_BINS[i].color;
    return PROGRESS_BINS[PROGRESS_BINS.length - 1].color;
  }
  function amount(kind, m2) {
    // Land is counted in mu, demolition in square metres: as the campaign counts them.
    return kind === "land" ? mu(fmt(m2 / MU, 1)) : fmt(m2, 0) + " m²";
  }
  function mu(n) { return t("%(n)s mu", { n: n }); }
  function households(n) { return t("%(n)s households", { n: n });
  }
  function control(position, className, html) {
    var C = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create("div", "gs-panel " + className);
        div.innerHTML = html || "";
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      }
    });
    return new C({ position: position });
  }
  /* A panel over the map folds behind a button (on a phone it starts folded, so the map
     stays usable: the legend, the figures, the layer list); the button says whether it is
     open. getContainer() is the panel, filled by its owner. */
  var PHONE = "(max-width: 700px)";
  var folds = 0;
  function onPhone() { return window.matchMedia(PHONE).matches; }
  function folding(position, className, label, html) {
    var panel;
    var C = L.Control.extend({
      onAdd: function () {
        var box = L.DomUtil.create("div", "gs-fold-box " + className + "-box");
        var button = L.DomUtil.create("button", "gs-fold-toggle " + className + "-toggle", box);
        panel = L.DomUtil.create("div", "gs-panel " + className, box);
        button.type = "button";
        button.textContent = label;
        panel.id = "gs-fold-" + (++folds);
        panel.innerHTML = html || "";
        button.setAttribute("aria-controls", panel.id);
        function fold(folded) {
          panel.hidden = folded;
          button.setAttribute("aria-expanded", String(!folded));
        }
        fold(onPhone());
        button.onclick = function () { fold(!panel.hidden); };
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      },
      getContainer: function () { return panel; }
    });
    return new C({ position: position });
  }
  function legend(html) { return folding("bottomright", "gs-legend", t("Legend"), html); }
  function summaryPanel() { return folding("topright", "gs-summary", t("Summary")); }
  function layerList(layers, position) {
    // Leaflet's own fold: on a phone the list is one button until tapped.
    return L.control.layers(null, layers, { collapsed: onPhone(), position: position || "topright" });
  }

  /* The figures beside the map, as text (#gs-units): a row per unit whose button shows it
   * on the map and its figures below the table. Tab or ↑ ↓ move between the units, Enter
   * opens one: the map is usable without a mouse, and a screen reader reads the figures. */
  function unitList(map, title, columns, rows, extra) {
    var side = document.getElementById("gs-units");
    if (!side) return;
    var active = document.activeElement, refocus = null;
    if (active && side.contains(active) && active.classList.contains("gs-unit")) refocus = active.textContent;
    side.innerHTML = '<h2 id="gs-units-title">' + esc(title) + "</h2>" +
      '<p class="gs-note">' + esc(t("Tab or ↑ ↓ move between the rows; Enter shows one on the map.")) + "</p>" +
      "<table><thead><tr>" + columns.map(function (c) { return '<th scope="col">' + esc(c) + "</th>"; }).join("") +
      "</tr></thead><tbody>" + rows.map(function (r, i) {
        return '<tr><th scope="row"><button type="button" class="gs-unit" data-i="' + i + '">' + esc(r.name) +
          "</button></th>" + r.cells.map(function (c) { return "<td>" + c + "</td>"; }).join("") + "</tr>";
      }).join("") + "</tbody></table>" + (extra || "") +
      '<div class="gs-unit-detail" id="gs-unit-detail" role="status" aria-live="polite"></div>';
    var buttons = Array.prototype.slice.call(side.querySelectorAll(".gs-unit"));
    var detail = side.querySelector(".gs-unit-detail");
    function open(i, fit) {
      buttons.forEach(function (b) { b.removeAttribute("aria-current"); });
      buttons[i].setAttribute("aria-current", "true");
      side.setAttribute("data-gs-open", rows[i].name);
      var layer = rows[i].layer();
      if (layer && fit) {
        var bounds = layer.getBounds ? layer.getBounds() : L.latLngBounds([layer.getLatLng()]);
        map.fitBounds(bounds, { animate: false, maxZoom: 16 });
        if (layer.openTooltip) layer.openTooltip(bounds.getCenter());
      }
      detail.innerHTML = rows[i].detail();
    }
    buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { open(i, true); });
      b.addEventListener("keydown", function (e) {
        var to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 }[e.key];
        if (to === undefined) return;
        e.preventDefault();
        buttons[Math.max(0, Math.min(buttons.length - 1, to))].focus();
      });
      // A live update redraws the list: the unit open and the focus stay where they were.
      if (rows[i].name === side.getAttribute("data-gs-open")) open(i, false);
      if (rows[i].name === refocus) b.focus();
    });
  }
  function figures(rows) {
    return '<table class="gs-figures">' + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + r[1] + "</td></tr>";
    }).join("") + "</table>";
  }

  function townshipStyle(f) {
    var p = f.properties;
    // The unit's code as a class: tests and print styles find one township or district.
    var unit = "gs-township gs-unit-" + String(p.code).replace(/[^A-Za-z0-9_-]/g, "_");
    if (p.target_m2 === null || p.target_m2 === undefined) {
      return { className: unit + " gs-no-target", color: "#555", weight: 1.5, dashArray: "6 4",
               fillColor: "#ffffff", fillOpacity: 0.35 };
    }
    return { className: unit, color: "#333", weight: 1.5,
             fillColor: progressColor(p.progress), fillOpacity: 0.65 };
  }
  function untabbed(layer) {
    // Hundreds of parcels one Tab each would bury the rest of the page: the keyboard finds
    // a parcel by its code (the search box) instead.
    layer.on("add", function () {
      var el = layer.getElement && layer.getElement();
      if (el) el.setAttribute("tabindex", "-1");
    });
  }
  function parcelStyle(status) {
    var s = STATUS[status] || STATUS.planned;
    return { className: "gs-parcel gs-status-" + status, color: s.color, weight: 1,
             fillColor: s.color, fillOpacity: 0.7, fill: true };
  }
  function parcelPopup(p, kind, featureId) {
    var id = p.id || featureId;
    var rows = [
      [t("Parcel code"), p.code], [t("Project"), (p.project || "—") + (p.project_name ? " " + p.project_name : "")],
      [t("Township"), p.township], [t("Status"), statusLabel(p.status)],
      [t("Area"), fmt(p.area_m2, 1) + " m² / " + mu(fmt(p.area_mu, 2))],
      [t("Verified by"), p.verified_by ? p.verified_by + (p.verified_group ? " (" + p.verified_group + ")" : "") : "—"],
      [t("Verified on"), p.verified_at || "—"]
    ];
    // The parcel's photos are asked for when the popup opens (fillPhotos): always current,
    // and nothing added to every feature of the map's data or tiles.
    var photos = id ? '<tr class="gs-photos" hidden data-parcel="' + esc(id) + '"><th>' +
      esc(t("Photos")) + "</th><td></td></tr>" : "";
    return '<table class="gs-popup">' + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + photos + "</table>";
  }

  /* A popup's photos row: how many, and the first one's thumbnail, linking to the parcel's
     page. Left hidden when there are none, or the map is a saved file or a public page
     (the API answers nothing then). */
  function fillPhotos(e) {
    var box = e.popup.getElement && e.popup.getElement();
    var row = box && box.querySelector("tr.gs-photos[data-parcel]:not([data-loaded])");
    // A map saved as a file (geo-service map --output) has no service to ask.
    if (!row || !window.fetch || !/^https?:$/.test(window.location.protocol)) return;
    row.setAttribute("data-loaded", "1");
    var id = row.getAttribute("data-parcel");
    fetch("/api/parcels/" + encodeURIComponent(id) + "/photos",
          { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        var content = e.popup.getContent();
        if (!list || !list.length || typeof content !== "string") return;
        // Into the popup's content itself: Leaflet draws a popup again from its content.
        var filled = '<tr class="gs-photos" data-loaded="1" data-parcel="' + esc(id) + '"><th>' +
          esc(t("Photos")) + '</th><td><a href="/parcels/%23' + esc(id) + '#photos">' +
          esc(t("%(n)s photos", { n: list.length })) + '<br><img class="gs-photo" src="' +
          esc(list[0].thumb_url) + '" alt="' + esc(t("Photos")) + '"></a></td></tr>';
        e.popup.setContent(content.replace(/<tr class="gs-photos"[^]*?<\/tr>/, filled));
      })
      .catch(function () { /* no photos shown: the rest of the popup stands */ });
  }

  // An overview tile gathers the parcels narrower than a pixel into one feature of pixel
  // squares per status (no id): thousands of them. Each is drawn as one rectangle
  // instead of a path of five points: 晋安区's first view is 20,000 squares, and their
  // paths were the largest part of the phone's main-thread time.
  // Made when first needed: a page without Leaflet.VectorGrid has no L.Canvas.Tile.
  var DotCanvas = null;
  function dotCanvas(coords, size, options) {
    DotCanvas = DotCanvas || L.Canvas.Tile.extend({ _updatePoly: drawDots });
    return new DotCanvas(coords, size, options);
  }
  function drawDots(layer, closed) {
    var parts = layer._parts;
    if (!closed || !layer.properties || layer.properties.id !== undefined || !this._drawing || !parts.length) {
      return L.Canvas.Tile.prototype._updatePoly.call(this, layer, closed);
    }
    var ctx = this._ctx;
    ctx.beginPath();
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i], x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (var j = 0; j < part.length; j++) {
        var p = part[j];
        if (p.x < x0) x0 = p.x;
        if (p.x > x1) x1 = p.x;
        if (p.y < y0) y0 = p.y;
        if (p.y > y1) y1 = p.y;
      }
      ctx.rect(x0, y0, x1 - x0, y1 - y0);
    }
    this._fillStroke(ctx, layer);
  }

  function ProgressMap(map, cfg) {
    this.map = map;
    this.cfg = cfg;
    this.kind = cfg.view.kind;
    this.viewing = cfg.view.period || null; // null = now; otherwise a quarter (2018Q2)
    this.updates = 0;
    this.townships = L.geoJSON(null, {
      style: townshipStyle,
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindTooltip("<b>" + esc(p.name) + "</b><br>" + esc(t("Verified")) + " " + amount(cfg.view.kind, p.verified_m2) +
          "<br>" + esc(targetLabel(p, "Target")) + " " + (p.target_m2 === null ? esc(t("not set")) : amount(cfg.view.kind, p.target_m2)) +
          "<br>" + esc(t("Progress")) + " " + pct(p.progress) + (p.approximate ? "<br><i>" + esc(t("boundary approximate")) + "</i>" : "") +
          (p.link ? "<br>" + esc(t("Click to see its townships")) : ""), { sticky: true });
        // The city level: each district opens its own map of townships.
        if (p.link) layer.on("click", function () { window.location.href = p.link; });
      }
    }).addTo(map);
    this.labels = L.layerGroup().addTo(map);
    // Fit first, then add the parcels: tiles are asked for once, at the zoom shown. No
    // animation: Leaflet drops a setView made while one runs, and a first zoom must count.
    map.fitBounds(cfg.bounds, { animate: false });
    this.parcels = this.makeParcelLayer(cfg.data).addTo(map);
    var self = this, done = false;
    function rest() {
      if (done) return;
      done = true;
      self.addPanels();
      self.update(cfg.data, Boolean(cfg.tiles));
      if (cfg.live) self.poll();
    }
    if (cfg.tiles) {
      // With tiles, the townships and the parcels are drawn first; the labels, panels,
      // figures and tools come once the parcels are (on a slow phone their set-up held
      // back the tiles' drawing by about a second), or after 4 s if a tile never comes.
      this.townships.addData(cfg.data.townships);
      this.markRendered(rest);
      setTimeout(rest, 4000);
    } else {
      rest();
      this.markRendered();
    }
  }

  ProgressMap.prototype.addPanels = function () {
    var cfg = this.cfg, map = this.map, layers = {};
    layers[t(cfg.view.city ? "Progress by district" : "Progress by township")] = this.townships;
    layers[t(cfg.view.city ? "District labels" : "Township labels")] = this.labels;
    if (!cfg.view.city) layers[t("Parcels")] = this.parcels;
    this.layerControl = layerList(layers).addTo(map);
    this.summary = summaryPanel().addTo(map);
    legend(this.legendHtml()).addTo(map);
    this.addTools();
  };

  ProgressMap.prototype.markRendered = function (then) {
    // When the first view is fully drawn (vector tiles loaded, or the embedded parcels
    // painted): benchmarks and tests read it from the page. `then` runs right after.
    function mark() {
      document.body.setAttribute("data-gs-rendered-ms", String(Math.round(performance.now())));
      if (then) setTimeout(then, 0);
    }
    if (this.cfg.tiles) this.parcels.once("load", function () { requestAnimationFrame(mark); });
    else requestAnimationFrame(function () { requestAnimationFrame(mark); });
  };

  ProgressMap.prototype.makeParcelLayer = function (data) {
    var kind = this.kind, cfg = this.cfg;
    if (cfg.tiles) {
      this.tilesFor = data.token;
      this.tilesAsOf = data.summary.as_of || null;
      var layer = L.vectorGrid.protobuf(this.tileUrl(data), {
        bounds: L.latLngBounds(cfg.bounds), // no requests for the empty world around
        // Canvas: thousands of small parcels per tile draw far faster than as SVG nodes.
        rendererFactory: dotCanvas,
        // The tiles only draw: a tap asks the service which parcel it fell on (tapAt),
        // so 20,000 parcels cost no hit-testing in the phone, and the townships drawn
        // above them keep their tooltips.
        interactive: false,
        maxNativeZoom: 20,
        getFeatureId: function (f) { return f.properties.id; },
        vectorTileLayerStyles: {
          parcels: function (p) { return parcelStyle(p.status); },
          // Below zoom 12: outlines, and pixel squares gathered by status.
          parcels_overview: function (p) { return parcelStyle(p.status); }
        }
      });
      this.skipEmpty(layer, cfg.filled);
      this.map.on("click", this.tapAt, this);
      return layer;
    }
    return L.geoJSON(null, {
      style: function (f) { return parcelStyle(f.properties.status); },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(esc(f.properties.code) + " · " + esc(statusLabel(f.properties.status)));
        layer.bindPopup(parcelPopup(f.properties, kind, f.id));
        untabbed(layer);
      }
    });
  };

  // The tiles known to hold no parcel are not asked for: cfg.filled names the tiles at one
  // zoom that hold some; a tile is empty when its ancestor at that zoom, or every one of
  // its descendants there, is. Only for the tiles the page opened with (update() stops
  // it when it draws another day's or changed tiles).
  ProgressMap.prototype.skipEmpty = function (layer, filled) {
    if (!filled) return;
    var z = filled.zoom, held = {};
    filled.tiles.forEach(function (t) {
      for (var up = 0; up <= z; up++) held[(z - up) + "/" + (t[0] >> up) + "/" + (t[1] >> up)] = true;
    });
    var self = this, ask = layer._getVectorTilePromise;
    layer._getVectorTilePromise = function (c) {
      var shift = Math.max(0, c.z - z), key = Math.min(c.z, z) + "/" + (c.x >> shift) + "/" + (c.y >> shift);
      if (self.skipping && !held[key]) return Promise.resolve({ layers: {} });
      var early = self.skipping && takeEarly(this, c);
      if (!early) return ask.apply(this, arguments);
      // The page's head asked for this tile already (pages.py, _early_tiles): the layer's
      // own fetch, made synchronously inside ask, is given that response.
      var real = window.fetch;
      window.fetch = function () { return early; };
      try { return ask.apply(this, arguments); } finally { window.fetch = real; }
    };
    this.skipping = true;
  };

  function takeEarly(layer, c) {
    var early = window.gsEarlyTiles;
    if (!early) return null;
    var url = L.Util.template(layer._url, L.extend({ s: layer._getSubdomain(c), x: c.x, y: c.y, z: c.z }, layer.options));
    var found = early[url] || null;
    delete early[url];
    return found;
  }

  ProgressMap.prototype.tapAt = function (e) {
    var map = this.map, kind = this.kind;
    if (!map.hasLayer(this.parcels)) return;
    var url = this.cfg.facts + "&lon=" + e.latlng.lng + "&lat=" + e.latlng.lat + "&zoom=" + map.getZoom() +
      (this.tilesAsOf ? "&as_of=" + encodeURIComponent(this.tilesAsOf) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (facts) {
        if (!facts) return; // no parcel there: the tap was on a township
        L.popup().setLatLng(e.latlng).setContent(parcelPopup(facts, kind)).openOn(map);
      })
      .catch(function () { /* nothing shown; another tap asks again */ });
  };

  ProgressMap.prototype.legendHtml = function () {
    var h = "<h4>" + esc(t(this.cfg.view.city ? "Progress by district (verified ÷ target)" :
      "Progress by township (verified ÷ target)")) + "</h4>";
    PROGRESS_BINS.forEach(function (b) {
      h += '<div><i class="gs-swatch" style="background:' + b.color + '"></i>' + b.label + "</div>";
    });
    h += '<div><i class="gs-swatch gs-swatch-none"></i>' + esc(t("No target")) + "</div>";
    if (this.cfg.view.city) return h;
    h += "<h4>" + esc(t("Parcel status")) + "</h4>";
    var seen = {};
    Object.keys(STATUS).forEach(function (k) {
      if (k === (this.kind === "land" ? "demolished" : "delivered")) return;
      if (seen[STATUS[k].label]) return;
      seen[STATUS[k].label] = true;
      h += '<div><i class="gs-swatch" style="background:' + STATUS[k].color + '"></i>' + esc(statusLabel(k)) + "</div>";
    }, this);
    return h;
  };

  ProgressMap.prototype.summaryHtml = function (s) {
    var k = s.kind;
    // One day for the whole page: the request's (as_at), the campaign's last day once it ended.
    var when = s.quarter ? t("End of Q%(q)s %(year)s", { q: s.quarter, year: s.quarter_year || s.year }) : t("as of %(date)s", { date: s.as_of || s.as_at });
    var pace = s.pace_m2_per_month === null ? (s.remaining_m2 === 0 ? t("done") : (s.target_m2 === null ? "—" : t("campaign ended")))
      : t("%(amount)s / month", { amount: amount(k, s.pace_m2_per_month) });
    return "<h3>" + esc(t("%(district)s %(kind)s progress", { district: s.district, kind: kindLabel(k) })) +
      " <small>" + esc(s.campaign) + " · " + esc(when) + "</small></h3>" +
      (s.demo ? '<p class="gs-demo-banner">' + esc(t("Demo data: made-up parcels, people and dates, moved so that the campaign is under way today")) + "</p>" : "") +
      this.pickerHtml(s) +
      '<table class="gs-figures">' +
      "<tr><th>" + esc(targetLabel(s)) + "</th><td>" + (s.target_m2 === null ? esc(t("not set")) : amount(k, s.target_m2)) + "</td></tr>" +
      "<tr><th>" + esc(t("Verified")) + "</th><td>" + amount(k, s.verified_m2) + "</td></tr>" +
      '<tr><th>' + esc(t("Completion")) + '</th><td class="gs-progress">' + pct(s.progress) + "</td></tr>" +
      "<tr><th>" + esc(t("Remaining")) + "</th><td>" + (s.remaining_m2 === null ? "—" : amount(k, s.remaining_m2)) + "</td></tr>" +
      "<tr><th>" + esc(t("Needed per month")) + "</th><td>" + esc(pace) + "</td></tr></table>" +
      '<div class="gs-kinds">' + ["land", "demolition"].map(function (x) {
        return x === k ? "<b>" + esc(kindLabel(x)) + "</b>" : '<a href="?district=' + encodeURIComponent(s.district) +
          "&kind=" + x + '">' + esc(kindLabel(x)) + "</a>";
      }).join(" · ") + (this.cfg.view.city ? "" : ' · <a href="/maps/relocation?district=' +
        encodeURIComponent(s.district) + '">' + esc(t("relocation")) + "</a>") +
      (this.cfg.up_url ? ' · <a class="gs-up" href="' + esc(this.cfg.up_url) + '">' + esc(t("whole city")) + "</a>" : "") + "</div>";
  };

  // The campaign picker: another campaign is another page (its days, targets and figures).
  ProgressMap.prototype.pickerHtml = function (s) {
    var names = this.cfg.campaigns || [];
    if (names.length < 2) return "";
    var base = "?district=" + encodeURIComponent(s.district) + "&kind=" + s.kind + "&campaign=";
    return '<label class="gs-campaign">' + esc(t("Campaign")) + ' <select>' +
      names.map(function (n) {
        return '<option value="' + esc(base + encodeURIComponent(n)) + '"' + (n === s.campaign ? " selected" : "") +
          ">" + esc(n) + "</option>";
      }).join("") + "</select></label>";
  };

  ProgressMap.prototype.update = function (data, townshipsDrawn) {
    var kind = this.kind;
    if (!townshipsDrawn) this.townships.clearLayers().addData(data.townships);
    this.labels.clearLayers();
    data.townships.features.forEach(function (f) {
      var p = f.properties;
      var text = esc(p.name) + "<br>" + fmt(p.verified_m2 / (kind === "land" ? MU : 1), kind === "land" ? 0 : 0) +
        " / " + (p.target_m2 === null ? "—" : fmt(p.target_m2 / (kind === "land" ? MU : 1), 0)) +
        (kind === "land" ? " " + esc(t("mu")) : " m²");
      L.marker([p.label_lat, p.label_lon], {
        interactive: false,
        icon: L.divIcon({ className: "gs-label", html: "<span>" + text + "</span>", iconSize: null })
      }).addTo(this.labels);
    }, this);
    if (data.parcels && this.parcels.clearLayers) this.parcels.clearLayers().addData(data.parcels);
    var asOf = data.summary.as_of || null;
    if (this.cfg.tiles && (data.token !== this.tilesFor || asOf !== this.tilesAsOf)) {
      this.tilesFor = data.token;
      this.tilesAsOf = asOf;
      this.skipping = false; // cfg.filled named the first tiles' parcels, not these
      // Only when something changed. Not setUrl's own redraw: Leaflet 1.9's GridLayer.redraw
      // asks for tiles at a fractional zoom when zoomSnap < 1; re-adding the layer rounds it.
      var shown = this.map.hasLayer(this.parcels);
      if (shown) this.map.removeLayer(this.parcels);
      this.parcels.setUrl(this.tileUrl(data), true);
      if (shown) this.map.addLayer(this.parcels);
    }
    this.summary.getContainer().innerHTML = this.summaryHtml(data.summary);
    // No inline handler: the page's CSP allows only its own scripts.
    var picker = this.summary.getContainer().querySelector(".gs-campaign select");
    if (picker) picker.addEventListener("change", function () { location.href = picker.value; });
    this.listUnits(data);
    this.updates += 1;
    this.token = data.token || this.token;
    document.body.setAttribute("data-gs-updates", String(this.updates));
    document.body.setAttribute("data-gs-verified-m2", String(data.summary.verified_m2));
  };

  ProgressMap.prototype.listUnits = function (data) {
    var self = this, kind = this.kind, city = this.cfg.view.city;
    function target(p) { return p.target_m2 === null ? esc(t("not set")) : amount(kind, p.target_m2); }
    var rows = data.townships.features.map(function (f) {
      var p = f.properties;
      return {
        name: p.name,
        cells: [amount(kind, p.verified_m2), target(p), pct(p.progress)],
        layer: function () {
          var found = null;
          self.townships.eachLayer(function (l) { if (l.feature.properties.name === p.name) found = l; });
          return found;
        },
        detail: function () {
          return "<h3>" + esc(p.name) + "</h3>" + figures([[t("Verified"), amount(kind, p.verified_m2)],
            [targetLabel(p, "Target"), target(p)], [t("Progress"), pct(p.progress)]]) +
            (p.approximate ? "<p><i>" + esc(t("boundary approximate")) + "</i></p>" : "") +
            (p.link ? '<p><a href="' + esc(p.link) + '">' + esc(t("See its townships")) + "</a></p>" : "");
        }
      };
    });
    var title = t(city ? "%(kind)s progress by district" : "%(kind)s progress by township", { kind: kindLabel(kind) });
    unitList(this.map, title, [t(city ? "District" : "Township"), t("Verified"), t("Target"), t("Progress")], rows);
  };

  ProgressMap.prototype.tileUrl = function (data) {
    var url = this.cfg.tiles + (this.cfg.tiles.indexOf("?") < 0 ? "?" : "&") + "v=" + encodeURIComponent(data.token);
    if (data.summary.as_of) url += "&as_of=" + data.summary.as_of;
    return url;
  };

  // A quarter is asked for as its calendar quarter (2018Q1): a campaign longer than a year
  // has two quarters of one number, and the number alone names the first.
  ProgressMap.prototype.load = function (period) {
    var self = this;
    this.viewing = period;
    if (this.cfg.snapshots) { // a saved file: every quarter is in the page
      this.update(this.cfg.snapshots[period === null ? "now" : period]);
      return Promise.resolve();
    }
    var url = this.cfg.data_url + (period ? "&quarter=" + period : "");
    return fetch(url).then(function (r) { return r.json(); }).then(function (d) { self.update(d); });
  };

  ProgressMap.prototype.poll = function () {
    var self = this;
    setInterval(function () {
      if (self.viewing !== null) return; // a past quarter does not change
      fetch(self.cfg.changes_url).then(function (r) { return r.json(); }).then(function (c) {
        if (c.token !== self.token) return self.load(null);
      }).catch(function () { /* the next poll tries again */ });
    }, this.cfg.poll_ms);
  };

  ProgressMap.prototype.addTools = function () {
    var self = this, map = this.map, cfg = this.cfg;
    var search = control("topleft", "gs-search",
      '<input type="search" placeholder="' + esc(t("Search a parcel code")) + '" aria-label="' + esc(t("Search a parcel code")) + '">' +
      '<button type="button" class="gs-fit" title="' + esc(t("Whole district")) + '">' + esc(t("Whole district")) + "</button>" +
      '<div class="gs-search-msg"></div>').addTo(map);
    var box = search.getContainer();
    box.querySelector(".gs-fit").onclick = function () { map.fitBounds(cfg.bounds); };
    box.querySelector("input").addEventListener("keydown", function (e) {
      if (e.key === "Enter") self.find(this.value.trim(), box.querySelector(".gs-search-msg"));
    });
    if (cfg.timeline) this.addTimeline();
  };

  // Every quarter of the campaign, each its own button; the quarter shown is pressed (also
  // when the page was opened on it) and the one today falls in is marked. Over more than
  // one calendar year each button names its year, and on a narrow screen the row scrolls.
  ProgressMap.prototype.addTimeline = function () {
    var self = this, cfg = this.cfg, quarters = cfg.timeline;
    var first = quarters[0].year, last = quarters[quarters.length - 1].year;
    function button(period, text, title, current) {
      var on = (self.viewing || "") === period;
      var classes = [on ? "gs-active" : "", current ? "gs-current" : ""].join(" ").trim();
      return '<button type="button" data-period="' + period + '" aria-pressed="' + on + '"' +
        (classes ? ' class="' + classes + '"' : "") + (current ? ' aria-current="date"' : "") +
        (title ? ' title="' + esc(title) + '"' : "") + ">" + esc(text) + "</button>";
    }
    var html = '<span class="gs-timeline-title">' + esc(first === last ? t("Year %(year)s", { year: first }) :
      t("Years %(first)s–%(last)s", { first: first, last: last })) + "</span>" + button("", t("now"), "", false) +
      quarters.map(function (q) {
        var text = first === last ? t("Q%(q)s", { q: q.quarter }) : t("%(year)s Q%(q)s", { q: q.quarter, year: q.year });
        return button(q.period, text, t("End of Q%(q)s %(year)s", { q: q.quarter, year: q.year }), q.current);
      }).join("");
    var tl = control("bottomleft", "gs-timeline", html).addTo(this.map).getContainer();
    var buttons = tl.querySelectorAll("button");
    buttons.forEach(function (b) {
      // The quarter's number and year, as before: what scripts and tests pick a button by.
      var q = quarters.find(function (x) { return x.period === b.getAttribute("data-period"); });
      b.setAttribute("data-q", q ? q.quarter : "");
      b.setAttribute("data-y", q ? q.year : "");
      b.onclick = function () {
        buttons.forEach(function (x) { x.classList.remove("gs-active"); x.setAttribute("aria-pressed", "false"); });
        b.classList.add("gs-active");
        b.setAttribute("aria-pressed", "true");
        self.load(b.getAttribute("data-period") || null);
      };
    });
    // No wider than the map leaves beside the legend (bottom right, as the timeline is),
    // scrolled to the quarter shown.
    var right = this.map.getContainer().querySelector(".leaflet-bottom.leaflet-right");
    function fit() {
      var beside = right ? right.offsetWidth + 10 : 0;
      tl.style.maxWidth = Math.max(self.map.getSize().x - 20 - beside, 120) + "px";
    }
    fit();
    this.map.on("resize", fit);
    if (right && window.ResizeObserver) new ResizeObserver(fit).observe(right);
    // The Tab key brings a quarter scrolled out of the row into it, whole.
    tl.addEventListener("focusin", function (e) {
      var b = e.target, left = b.offsetLeft, right = left + b.offsetWidth;
      if (left < tl.scrollLeft) tl.scrollLeft = left - 8;
      else if (right > tl.scrollLeft + tl.clientWidth) tl.scrollLeft = right - tl.clientWidth + 8;
    });
    var pressed = tl.querySelector(".gs-active");
    if (pressed && tl.scrollWidth > tl.clientWidth) tl.scrollLeft = pressed.offsetLeft - tl.clientWidth / 2;
  };

  ProgressMap.prototype.find = function (code, msg) {
    var map = this.map, kind = this.kind, found = null;
    msg.textContent = "";
    if (!code) return;
    if (!this.cfg.tiles) {
      this.parcels.eachLayer(function (l) { if (l.feature.properties.code === code) found = l; });
      if (found) { map.fitBounds(found.getBounds(), { maxZoom: 17 }); found.openPopup(); return; }
      msg.textContent = t("Not found: %(code)s", { code: code });
      return;
    }
    fetch(this.cfg.search_url + encodeURIComponent(code)).then(function (r) { return r.json(); }).then(function (fc) {
      if (!fc.features || !fc.features.length) { msg.textContent = t("Not found: %(code)s", { code: code }); return; }
      var layer = L.geoJSON(fc.features[0]);
      map.fitBounds(layer.getBounds(), { maxZoom: 17 });
      L.popup().setLatLng(layer.getBounds().getCenter())
        .setContent(parcelPopup(fc.features[0].properties, kind, fc.features[0].id)).openOn(map);
    });
  };

  /* Cross-township support: who helped whom, weighted by the area delivered together. */
  function SupportMap(map, cfg) {
    var data = cfg.data, maxM2 = 1;
    L.geoJSON(data.townships, {
      style: { className: "gs-township", color: "#607d8b", weight: 1.2, fillColor: "#eceff1", fillOpacity: 0.5 },
      onEachFeature: function (f, layer) { layer.bindTooltip(esc(f.properties.name), { sticky: true }); }
    }).addTo(map);
    var centres = {};
    data.townships.features.forEach(function (f) {
      centres[f.properties.name] = [f.properties.label_lat, f.properties.label_lon];
      L.marker(centres[f.properties.name], { interactive: false,
        icon: L.divIcon({ className: "gs-label", html: "<span>" + esc(f.properties.name) + "</span>", iconSize: null })
      }).addTo(map);
    });
    var parcels = L.geoJSON(data.parcels, {
      style: function (f) { return parcelStyle(f.properties.status); },
      onEachFeature: function (f, layer) { layer.bindPopup(parcelPopup(f.properties, cfg.view.kind, f.id)); untabbed(layer); }
    }).addTo(map);
    var links = L.layerGroup().addTo(map);
    data.links.forEach(function (l) { maxM2 = Math.max(maxM2, l.verified_m2); });
    data.links.forEach(function (l) {
      var a = centres[l.helper], b = centres[l.host];
      if (!a || !b) return;
      var w = 2 + 10 * l.verified_m2 / maxM2;
      var pts = curve(a, b);
      var text = esc(t("%(helper)s → %(host)s: %(parcels)s parcels, %(amount)s verified",
        { helper: l.helper, host: l.host, parcels: l.parcels, amount: amount(l.kind, l.verified_m2) }));
      L.polyline(pts, { className: "gs-link", color: "#6a1b9a", weight: w, opacity: 0.75 })
        .bindTooltip(text, { sticky: true }).addTo(links);
      L.polygon(arrowHead(pts[pts.length - 2], pts[pts.length - 1], 0.004 + w * 0.0004),
        { className: "gs-arrow", color: "#6a1b9a", weight: 1, fillOpacity: 0.9 }).addTo(links);
    });
    var layers = {};
    layers[t("Support links")] = links;
    layers[t("Supported parcels")] = parcels;
    layerList(layers).addTo(map);
    legend("<h4>" + esc(t("Cross-township support")) + '</h4><div><i class="gs-line"></i>' +
      esc(t("helper → host township; line width ∝ the verified area done together")) + "</div>").addTo(map);
    map.fitBounds(cfg.bounds, { animate: false });
    document.body.setAttribute("data-gs-links", String(data.links.length));
  }

  function curve(a, b) {
    // A gentle arc, bending to the right of travel, so A→B and B→A stay apart.
    var mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
    var dx = b[0] - a[0], dy = b[1] - a[1];
    var c = [mx - dy * 0.2, my + dx * 0.2], pts = [];
    for (var t = 0; t <= 1.0001; t += 0.1) {
      pts.push([(1 - t) * (1 - t) * a[0] + 2 * (1 - t) * t * c[0] + t * t * b[0],
                (1 - t) * (1 - t) * a[1] + 2 * (1 - t) * t * c[1] + t * t * b[1]]);
    }
    return pts;
  }
  function arrowHead(from, to, size) {
    var ang = Math.atan2(to[0] - from[0], to[1] - from[1]);
    // ang is measured from the longitude axis: latitude takes the sine, longitude the cosine.
    function at(d) { return [to[0] - size * Math.sin(ang + d), to[1] - size * Math.cos(ang + d)]; }
    return [to, at(0.45), at(-0.45)];
  }

  /* Relocation (回迁): resettlement sites coloured by hand-over progress (households
   * handed over ÷ households due), sized by flats, with lines from the townships whose
   * households they take (width by households). */
  function RelocationMap(map, cfg) {
    this.map = map;
    this.cfg = cfg;
    this.updates = 0;
    this.townships = L.geoJSON(null, {
      style: { className: "gs-township", color: "#607d8b", weight: 1.2, fillColor: "#eceff1", fillOpacity: 0.45 }
    }).addTo(map);
    this.labels = L.layerGroup().addTo(map);
    this.links = L.layerGroup().addTo(map);
    this.sites = L.layerGroup().addTo(map);
    map.fitBounds(cfg.bounds, { animate: false });
    var layers = {};
    layers[t("Resettlement sites")] = this.sites;
    layers[t("Township → resettlement site")] = this.links;
    layers[t("Township labels")] = this.labels;
    layerList(layers).addTo(map);
    this.summary = summaryPanel().addTo(map);
    var html = "<h4>" + esc(t("Hand-over by resettlement site (households handed over ÷ households due)")) + "</h4>";
    PROGRESS_BINS.forEach(function (b) {
      html += '<div><i class="gs-swatch" style="background:' + b.color + '"></i>' + b.label + "</div>";
    });
    html += '<div><i class="gs-swatch gs-swatch-none"></i>' + esc(t("No households yet")) + "</div>" +
      "<div>" + esc(t("circle size ∝ flats")) + "</div>" +
      '<div><i class="gs-line gs-line-relocation"></i>' + esc(t("township → resettlement site; line width ∝ households")) + "</div>";
    legend(html).addTo(map);
    this.update(cfg.data);
    if (cfg.live) this.poll();
  }

  RelocationMap.prototype.update = function (data) {
    var self = this, centres = {}, sites = {}, markers = {}, maxFlats = 1, maxHouseholds = 1;
    this.townships.clearLayers().addData(data.townships);
    this.labels.clearLayers();
    this.links.clearLayers();
    this.sites.clearLayers();
    data.townships.features.forEach(function (f) {
      var p = f.properties;
      centres[p.name] = [p.label_lat, p.label_lon];
      var text = esc(p.name) + (p.households ? "<br>" + esc(households(fmt(p.handed_over) + " / " + fmt(p.households))) : "");
      L.marker(centres[p.name], { interactive: false,
        icon: L.divIcon({ className: "gs-label", html: "<span>" + text + "</span>", iconSize: null })
      }).addTo(self.labels);
    });
    data.sites.features.forEach(function (f) {
      sites[f.properties.code] = f.properties;
      maxFlats = Math.max(maxFlats, f.properties.flats_planned);
    });
    data.links.forEach(function (l) { maxHouseholds = Math.max(maxHouseholds, l.households); });
    data.links.forEach(function (l) {
      var a = centres[l.township], site = sites[l.project];
      if (!a || !site) return;
      L.polyline(curve(a, [site.lat, site.lon]), { className: "gs-rlink", color: "#8d6e63",
        weight: 1.5 + 8 * l.households / maxHouseholds, opacity: 0.8 })
        .bindTooltip(esc(t("%(township)s → %(site)s: %(households)s households, %(handed)s handed over",
          { township: l.township, site: l.project, households: fmt(l.households), handed: fmt(l.handed_over) })),
          { sticky: true }).addTo(self.links);
    });
    data.sites.features.forEach(function (f) {
      var p = f.properties;
      var color = p.progress === null ? "#ffffff" : progressColor(p.progress);
      L.geoJSON(f, { style: { className: "gs-site", color: "#37474f", weight: 1.5, fillColor: color, fillOpacity: 0.9 } })
        .addTo(self.sites);
      var rows = [[t("Project"), p.code + " " + p.name], [t("Townships served"), p.townships || "—"],
        [t("Households"), t("%(done)s / %(all)s households handed over", { done: fmt(p.households_handed_over), all: fmt(p.households) })],
        [t("Flats"), t("%(handed)s handed over, %(allocated)s allocated, %(planned)s planned",
          { handed: fmt(p.flats_handed_over), allocated: fmt(p.flats_allocated), planned: fmt(p.flats_planned) })],
        [t("Hand-over"), pct(p.progress)], [t("Planned completion"), p.planned_completion || "—"],
        [t("Completed"), p.actual_completion || t("not completed")]];
      var html = '<table class="gs-popup">' + rows.map(function (r) {
        return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
      }).join("") + "</table>";
      markers[p.code] = L.circleMarker([p.lat, p.lon], { className: "gs-site-marker", radius: 6 + 22 * Math.sqrt(p.flats_planned / maxFlats),
        color: "#37474f", weight: 2, fillColor: color, fillOpacity: 0.85 })
        .bindTooltip(esc(p.name) + " " + pct(p.progress)).bindPopup(html).addTo(self.sites);
      markers[p.code].gsDetail = "<h3>" + esc(p.name) + "</h3>" + html;
    });
    this.summary.getContainer().innerHTML = this.summaryHtml(data.summary);
    var picker = this.summary.getContainer().querySelector(".gs-campaign select");
    if (picker) picker.addEventListener("change", function () { location.href = picker.value; });
    this.listSites(data, markers);
    this.token = data.token;
    this.updates += 1;
    document.body.setAttribute("data-gs-updates", String(this.updates));
    document.body.setAttribute("data-gs-households-handed-over", String(data.summary.households_handed_over || 0));
  };

  RelocationMap.prototype.pickerHtml = function (s) {
    var names = this.cfg.campaigns || [];
    if (names.length < 2) return "";
    var base = "?district=" + encodeURIComponent(s.district) + "&campaign=";
    return '<label class="gs-campaign">' + esc(t("Campaign")) + ' <select>' +
      names.map(function (n) {
        return '<option value="' + esc(base + encodeURIComponent(n)) + '"' + (n === s.campaign ? " selected" : "") +
          ">" + esc(n) + "</option>";
      }).join("") + "</select></label>";
  };

  RelocationMap.prototype.listSites = function (data, markers) {
    var rows = data.sites.features.map(function (f) {
      var p = f.properties;
      return {
        name: p.name,
        cells: [esc(households(fmt(p.households_handed_over) + " / " + fmt(p.households))), pct(p.progress)],
        layer: function () { return markers[p.code]; },
        detail: function () { return markers[p.code].gsDetail; }
      };
    });
    var townships = data.townships.features.filter(function (f) { return f.properties.households; });
    var extra = townships.length ? "<h3>" + esc(t("Households by township (handed over / due)")) + "</h3><table><tbody>" +
      townships.map(function (f) {
        var p = f.properties;
        return '<tr><th scope="row">' + esc(p.name) + "</th><td>" + esc(households(fmt(p.handed_over) + " / " + fmt(p.households))) + "</td></tr>";
      }).join("") + "</tbody></table>" : "";
    unitList(this.map, t("Hand-over by resettlement site"),
      [t("Resettlement site"), t("Handed over / households due"), t("Hand-over")], rows, extra);
  };

  RelocationMap.prototype.summaryHtml = function (s) {
    function row(label, value, cls) {
      return "<tr><th>" + esc(t(label)) + "</th><td" + (cls ? ' class="' + cls + '"' : "") + ">" + esc(value) + "</td></tr>";
    }
    function count(n) { return households(fmt(n)); }
    // The campaign shown and the day its figures are 截至, as on the progress map.
    var when = s.as_at ? t("as of %(date)s", { date: s.as_of || s.as_at }) : t("Year %(year)s", { year: s.year });
    var named = s.campaign ? s.campaign + " · " : "";
    return "<h3>" + esc(t("%(district)s relocation progress", { district: s.district })) + " <small>" + esc(named + when) + "</small></h3>" +
      (s.demo ? '<p class="gs-demo-banner">' + esc(t("Demo data: made-up parcels, people and dates, moved so that the campaign is under way today")) + "</p>" : "") +
      this.pickerHtml(s) +
      '<table class="gs-figures">' +
      row("Households due", count(s.households_planned)) +
      row("Households handed over", count(s.households_handed_over)) +
      row("Annual target", s.target_households === null || s.target_households === undefined ? t("not set") : count(s.target_households)) +
      row("Completion", pct(s.progress), "gs-progress") +
      row("Flats handed over", t("%(n)s flats", { n: fmt(s.flats_handed_over) + " / " + fmt(s.flats_planned) })) +
      row("Floor area handed over", fmt(s.m2_handed_over) + " / " + fmt(s.m2_planned) + " m²") +
      row("Households with title deeds", count(s.households_certified)) +
      row("Households verified", count(s.households_verified), "gs-verified") +
      row("Overdue hand-over", count(s.overdue_handover), "gs-overdue") +
      row("Overdue title deeds", count(s.overdue_title), "gs-overdue") + "</table>" +
      '<div class="gs-kinds">' + ["land", "demolition"].map(function (x) {
        return '<a href="/maps/progress?district=' + encodeURIComponent(s.district) + "&kind=" + x + '">' +
          esc(kindLabel(x)) + "</a>";
      }).join(" · ") + " · <b>" + esc(t("relocation")) + "</b></div>";
  };

  RelocationMap.prototype.poll = function () {
    var self = this;
    setInterval(function () {
      fetch(self.cfg.changes_url).then(function (r) { return r.json(); }).then(function (c) {
        if (c.token === self.token) return;
        return fetch(self.cfg.data_url).then(function (r) { return r.json(); }).then(function (d) { self.update(d); });
      }).catch(function () { /* the next poll tries again */ });
    }, this.cfg.poll_ms);
  };

  var MODES = { progress: ProgressMap, support: SupportMap, relocation: RelocationMap };

  window.geoServiceMaps = {
    start: function (map, cfg) {
      var box = map.getContainer();
      box.setAttribute("role", "region");
      WORDS = cfg.words || {};
      LOCALE = cfg.locale || LOCALE;
      box.setAttribute("aria-label", t("%(title)s map", { title: (document.querySelector("h1") || document).textContent }));
      // folium made the zoom buttons with Leaflet's English titles: say them in the page's words.
      [["in", "Zoom in"], ["out", "Zoom out"]].forEach(function (pair) {
        var button = box.querySelector(".leaflet-control-zoom-" + pair[0]);
        if (button) { button.title = t(pair[1]); button.setAttribute("aria-label", t(pair[1])); }
      });
      map.on("popupopen", fillPhotos);
      var page = new (MODES[cfg.mode] || ProgressMap)(map, cfg);
      window.geoServiceMaps.page = page;
      return page;
    }
  };
})();
