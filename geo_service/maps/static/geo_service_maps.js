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
  var STATUS = {
    planned: { color: "#9e9e9e", label: "计划" },
    in_progress: { color: "#42a5f5", label: "实施中" },
    delivered: { color: "#ff9800", label: "已交地" },
    demolished: { color: "#ff9800", label: "已拆除" },
    verified: { color: "#1b5e20", label: "已核验" },
    disputed: { color: "#d32f2f", label: "有争议" }
  };
  var KIND_LABEL = { land: "交地", demolition: "拆迁" };

  function fmt(n, digits) {
    if (n === null || n === undefined) return "—";
    return Number(n).toLocaleString("zh-CN", {
      minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0
    });
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
    return kind === "land" ? fmt(m2 / MU, 1) + " 亩" : fmt(m2, 0) + " m²";
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

  /* The figures beside the map, as text (#gs-units): a row per unit whose button shows it
   * on the map and its figures below the table. Tab or ↑ ↓ move between the units, Enter
   * opens one: the map is usable without a mouse, and a screen reader reads the figures. */
  function unitList(map, title, columns, rows, extra) {
    var side = document.getElementById("gs-units");
    if (!side) return;
    var active = document.activeElement, refocus = null;
    if (active && side.contains(active) && active.classList.contains("gs-unit")) refocus = active.textContent;
    side.innerHTML = '<h2 id="gs-units-title">' + esc(title) + "</h2>" +
      '<p class="gs-note">用 Tab 或 ↑ ↓ 键在各行间移动，回车在地图上查看。</p>' +
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
  function parcelPopup(p, kind) {
    var rows = [
      ["地块编号", p.code], ["项目", (p.project || "—") + (p.project_name ? " " + p.project_name : "")],
      ["乡镇", p.township], ["状态", (STATUS[p.status] || {}).label || p.status],
      ["面积", fmt(p.area_m2, 1) + " m² / " + fmt(p.area_mu, 2) + " 亩"],
      ["核验", p.verified_by ? p.verified_by + (p.verified_group ? "（" + p.verified_group + "）" : "") : "—"],
      ["核验日期", p.verified_at || "—"]
    ];
    return '<table class="gs-popup">' + rows.map(function (r) {
      return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  }

  function ProgressMap(map, cfg) {
    this.map = map;
    this.cfg = cfg;
    this.kind = cfg.view.kind;
    this.viewing = cfg.view.quarter || null; // null = now; otherwise a quarter number
    this.updates = 0;
    this.townships = L.geoJSON(null, {
      style: townshipStyle,
      onEachFeature: function (f, layer) {
        var p = f.properties;
        layer.bindTooltip("<b>" + esc(p.name) + "</b><br>已核验 " + amount(cfg.view.kind, p.verified_m2) +
          "<br>" + esc(p.target_label || "目标") + " " + (p.target_m2 === null ? "未设" : amount(cfg.view.kind, p.target_m2)) +
          "<br>进度 " + pct(p.progress) + (p.approximate ? "<br><i>边界为示意</i>" : "") +
          (p.link ? "<br>点击查看各乡镇" : ""), { sticky: true });
        // The city level: each district opens its own map of townships.
        if (p.link) layer.on("click", function () { window.location.href = p.link; });
      }
    }).addTo(map);
    this.labels = L.layerGroup().addTo(map);
    // Fit first, then add the parcels: tiles are asked for once, at the zoom shown. No
    // animation: Leaflet drops a setView made while one runs, and a first zoom must count.
    map.fitBounds(cfg.bounds, { animate: false });
    this.parcels = this.makeParcelLayer(cfg.data).addTo(map);
    var units = cfg.view.city ? "区县" : "乡镇";
    var layers = {};
    layers[units + "进度"] = this.townships;
    layers[units + "标注"] = this.labels;
    if (!cfg.view.city) layers["地块"] = this.parcels;
    this.layerControl = L.control.layers(null, layers,
      { collapsed: false, position: "topright" }).addTo(map);
    this.summary = control("topright", "gs-summary").addTo(map);
    control("bottomright", "gs-legend", this.legendHtml()).addTo(map);
    this.addTools();
    this.update(cfg.data);
    this.markRendered();
    if (cfg.live) this.poll();
  }

  ProgressMap.prototype.markRendered = function () {
    // When the first view is fully drawn (vector tiles loaded, or the embedded parcels
    // painted): benchmarks and tests read it from the page.
    function mark() { document.body.setAttribute("data-gs-rendered-ms", String(Math.round(performance.now()))); }
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
        rendererFactory: L.canvas.tile,
        interactive: true,
        maxNativeZoom: 20,
        getFeatureId: function (f) { return f.properties.id; },
        vectorTileLayerStyles: { parcels: function (p) { return parcelStyle(p.status); } }
      });
      layer.on("click", function (e) {
        L.popup().setLatLng(e.latlng).setContent(parcelPopup(e.layer.properties, kind)).openOn(layer._map);
      });
      return layer;
    }
    return L.geoJSON(null, {
      style: function (f) { return parcelStyle(f.properties.status); },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(esc(f.properties.code) + " · " + ((STATUS[f.properties.status] || {}).label || ""));
        layer.bindPopup(parcelPopup(f.properties, kind));
        untabbed(layer);
      }
    });
  };

  ProgressMap.prototype.legendHtml = function () {
    var h = "<h4>" + (this.cfg.view.city ? "区县" : "乡镇") + "进度（已核验 ÷ 目标）</h4>";
    PROGRESS_BINS.forEach(function (b) {
      h += '<div><i class="gs-swatch" style="background:' + b.color + '"></i>' + b.label + "</div>";
    });
    h += '<div><i class="gs-swatch gs-swatch-none"></i>未设目标</div>';
    if (this.cfg.view.city) return h;
    h += "<h4>地块状态</h4>";
    var seen = {};
    Object.keys(STATUS).forEach(function (k) {
      if (k === (this.kind === "land" ? "demolished" : "delivered")) return;
      if (seen[STATUS[k].label]) return;
      seen[STATUS[k].label] = true;
      h += '<div><i class="gs-swatch" style="background:' + STATUS[k].color + '"></i>' + STATUS[k].label + "</div>";
    }, this);
    return h;
  };

  ProgressMap.prototype.summaryHtml = function (s) {
    var k = s.kind;
    // One day for the whole page: the request's (as_at), the campaign's last day once it ended.
    var when = s.quarter ? s.year + "年第" + s.quarter + "季度末" : "截至 " + (s.as_of || s.as_at);
    var pace = s.pace_m2_per_month === null ? (s.remaining_m2 === 0 ? "已完成" : (s.target_m2 === null ? "—" : "攻坚已结束"))
      : amount(k, s.pace_m2_per_month) + " / 月";
    return "<h3>" + esc(s.district) + " " + KIND_LABEL[k] + "进度 <small>" + esc(s.campaign) + " · " + esc(when) + "</small></h3>" +
      (s.demo ? '<p class="gs-demo-banner">演示数据：地块、人员和日期均为虚构，已移至今日进行中</p>' : "") +
      this.pickerHtml(s) +
      '<table class="gs-figures">' +
      "<tr><th>" + esc(s.target_label || "年度目标") + "</th><td>" + (s.target_m2 === null ? "未设" : amount(k, s.target_m2)) + "</td></tr>" +
      "<tr><th>已核验</th><td>" + amount(k, s.verified_m2) + "</td></tr>" +
      '<tr><th>完成率</th><td class="gs-progress">' + pct(s.progress) + "</td></tr>" +
      "<tr><th>剩余</th><td>" + (s.remaining_m2 === null ? "—" : amount(k, s.remaining_m2)) + "</td></tr>" +
      "<tr><th>每月需完成</th><td>" + pace + "</td></tr></table>" +
      '<div class="gs-kinds">' + ["land", "demolition"].map(function (x) {
        return x === k ? "<b>" + KIND_LABEL[x] + "</b>" : '<a href="?district=' + encodeURIComponent(s.district) +
          "&kind=" + x + '">' + KIND_LABEL[x] + "</a>";
      }).join(" · ") + (this.cfg.view.city ? "" : ' · <a href="/maps/relocation?district=' +
        encodeURIComponent(s.district) + '">回迁</a>') +
      (this.cfg.up_url ? ' · <a class="gs-up" href="' + esc(this.cfg.up_url) + '">全市</a>' : "") + "</div>";
  };

  // The campaign picker: another campaign is another page (its days, targets and figures).
  ProgressMap.prototype.pickerHtml = function (s) {
    var names = this.cfg.campaigns || [];
    if (names.length < 2) return "";
    var base = "?district=" + encodeURIComponent(s.district) + "&kind=" + s.kind + "&campaign=";
    return '<label class="gs-campaign">攻坚 <select>' +
      names.map(function (n) {
        return '<option value="' + esc(base + encodeURIComponent(n)) + '"' + (n === s.campaign ? " selected" : "") +
          ">" + esc(n) + "</option>";
      }).join("") + "</select></label>";
  };

  ProgressMap.prototype.update = function (data) {
    var kind = this.kind;
    this.townships.clearLayers().addData(data.townships);
    this.labels.clearLayers();
    data.townships.features.forEach(function (f) {
      var p = f.properties;
      var text = esc(p.name) + "<br>" + fmt(p.verified_m2 / (kind === "land" ? MU : 1), kind === "land" ? 0 : 0) +
        " / " + (p.target_m2 === null ? "—" : fmt(p.target_m2 / (kind === "land" ? MU : 1), 0)) +
        (kind === "land" ? " 亩" : " m²");
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
    var self = this, kind = this.kind, units = this.cfg.view.city ? "区县" : "乡镇";
    function target(p) { return p.target_m2 === null ? "未设" : amount(kind, p.target_m2); }
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
          return "<h3>" + esc(p.name) + "</h3>" + figures([["已核验", amount(kind, p.verified_m2)],
            [p.target_label || "目标", target(p)], ["进度", pct(p.progress)]]) +
            (p.approximate ? "<p><i>边界为示意</i></p>" : "") +
            (p.link ? '<p><a href="' + esc(p.link) + '">查看各乡镇</a></p>' : "");
        }
      };
    });
    unitList(this.map, units + KIND_LABEL[kind] + "进度", [units, "已核验", "目标", "进度"], rows);
  };

  ProgressMap.prototype.tileUrl = function (data) {
    var url = this.cfg.tiles + (this.cfg.tiles.indexOf("?") < 0 ? "?" : "&") + "v=" + encodeURIComponent(data.token);
    if (data.summary.as_of) url += "&as_of=" + data.summary.as_of;
    return url;
  };

  ProgressMap.prototype.load = function (quarter) {
    var self = this;
    this.viewing = quarter;
    if (this.cfg.snapshots) { // a saved file: every quarter is in the page
      this.update(this.cfg.snapshots[quarter === null ? "now" : String(quarter)]);
      return Promise.resolve();
    }
    var url = this.cfg.data_url + (quarter ? "&quarter=" + quarter : "");
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
      '<input type="search" placeholder="搜索地块编号" aria-label="搜索地块编号">' +
      '<button type="button" class="gs-fit" title="全区">全区</button><div class="gs-search-msg"></div>').addTo(map);
    var box = search.getContainer();
    box.querySelector(".gs-fit").onclick = function () { map.fitBounds(cfg.bounds); };
    box.querySelector("input").addEventListener("keydown", function (e) {
      if (e.key === "Enter") self.find(this.value.trim(), box.querySelector(".gs-search-msg"));
    });
    if (cfg.timeline) {
      var html = '<span class="gs-timeline-title">' + cfg.view.year + "年</span>" +
        '<button type="button" data-q=""' + (self.viewing ? "" : ' class="gs-active"') + ">当前</button>" +
        cfg.timeline.map(function (t) {
          // The quarter shown is the one highlighted, also when the page was opened on it.
          var active = t.quarter === self.viewing ? ' class="gs-active"' : "";
          return '<button type="button" data-q="' + t.quarter + '"' + active + ' title="' + esc(t.label) + '">Q' + t.quarter + "</button>";
        }).join("");
      var tl = control("bottomleft", "gs-timeline", html).addTo(map).getContainer();
      tl.querySelectorAll("button").forEach(function (b) {
        b.onclick = function () {
          tl.querySelectorAll("button").forEach(function (x) { x.classList.remove("gs-active"); });
          b.classList.add("gs-active");
          self.load(b.getAttribute("data-q") ? Number(b.getAttribute("data-q")) : null);
        };
      });
    }
  };

  ProgressMap.prototype.find = function (code, msg) {
    var map = this.map, kind = this.kind, found = null;
    msg.textContent = "";
    if (!code) return;
    if (!this.cfg.tiles) {
      this.parcels.eachLayer(function (l) { if (l.feature.properties.code === code) found = l; });
      if (found) { map.fitBounds(found.getBounds(), { maxZoom: 17 }); found.openPopup(); return; }
      msg.textContent = "未找到 " + code;
      return;
    }
    fetch(this.cfg.search_url + encodeURIComponent(code)).then(function (r) { return r.json(); }).then(function (fc) {
      if (!fc.features || !fc.features.length) { msg.textContent = "未找到 " + code; return; }
      var layer = L.geoJSON(fc.features[0]);
      map.fitBounds(layer.getBounds(), { maxZoom: 17 });
      L.popup().setLatLng(layer.getBounds().getCenter())
        .setContent(parcelPopup(fc.features[0].properties, kind)).openOn(map);
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
      onEachFeature: function (f, layer) { layer.bindPopup(parcelPopup(f.properties, cfg.view.kind)); untabbed(layer); }
    }).addTo(map);
    var links = L.layerGroup().addTo(map);
    data.links.forEach(function (l) { maxM2 = Math.max(maxM2, l.verified_m2); });
    data.links.forEach(function (l) {
      var a = centres[l.helper], b = centres[l.host];
      if (!a || !b) return;
      var w = 2 + 10 * l.verified_m2 / maxM2;
      var pts = curve(a, b);
      var text = esc(l.helper) + " → " + esc(l.host) + "：" + l.parcels + " 宗，已核验 " + amount(l.kind, l.verified_m2);
      L.polyline(pts, { className: "gs-link", color: "#6a1b9a", weight: w, opacity: 0.75 })
        .bindTooltip(text, { sticky: true }).addTo(links);
      L.polygon(arrowHead(pts[pts.length - 2], pts[pts.length - 1], 0.004 + w * 0.0004),
        { className: "gs-arrow", color: "#6a1b9a", weight: 1, fillOpacity: 0.9 }).addTo(links);
    });
    L.control.layers(null, { "支援关系": links, "支援项目地块": parcels }, { collapsed: false }).addTo(map);
    control("bottomright", "gs-legend",
      '<h4>跨界支援</h4><div><i class="gs-line"></i>支援方 → 属地乡镇，线宽 ∝ 共同完成的已核验面积</div>').addTo(map);
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
    L.control.layers(null, { "安置项目": this.sites, "乡镇 → 安置项目": this.links, "乡镇标注": this.labels },
      { collapsed: false, position: "topright" }).addTo(map);
    this.summary = control("topright", "gs-summary").addTo(map);
    var legend = "<h4>安置项目交房进度（已交房户数 ÷ 应回迁户数）</h4>";
    PROGRESS_BINS.forEach(function (b) {
      legend += '<div><i class="gs-swatch" style="background:' + b.color + '"></i>' + b.label + "</div>";
    });
    legend += '<div><i class="gs-swatch gs-swatch-none"></i>暂无回迁户</div>' +
      "<div>圆圈大小 ∝ 安置房套数</div>" +
      '<div><i class="gs-line gs-line-relocation"></i>乡镇 → 安置项目，线宽 ∝ 回迁户数</div>';
    control("bottomright", "gs-legend", legend).addTo(map);
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
      var text = esc(p.name) + (p.households ? "<br>" + fmt(p.handed_over) + " / " + fmt(p.households) + " 户" : "");
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
        .bindTooltip(esc(l.township) + " → " + esc(l.project) + "：" + fmt(l.households) + " 户，已交房 " +
          fmt(l.handed_over) + " 户", { sticky: true }).addTo(self.links);
    });
    data.sites.features.forEach(function (f) {
      var p = f.properties;
      var color = p.progress === null ? "#ffffff" : progressColor(p.progress);
      L.geoJSON(f, { style: { className: "gs-site", color: "#37474f", weight: 1.5, fillColor: color, fillOpacity: 0.9 } })
        .addTo(self.sites);
      var rows = [["项目", p.code + " " + p.name], ["服务乡镇", p.townships || "—"],
        ["回迁户", fmt(p.households_handed_over) + " / " + fmt(p.households) + " 户已交房"],
        ["安置房", fmt(p.flats_handed_over) + " 套已交房，" + fmt(p.flats_allocated) + " 套已分配，计划 " + fmt(p.flats_planned) + " 套"],
        ["交房进度", pct(p.progress)], ["计划竣工", p.planned_completion || "—"], ["实际竣工", p.actual_completion || "未竣工"]];
      var html = '<table class="gs-popup">' + rows.map(function (r) {
        return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
      }).join("") + "</table>";
      markers[p.code] = L.circleMarker([p.lat, p.lon], { className: "gs-site-marker", radius: 6 + 22 * Math.sqrt(p.flats_planned / maxFlats),
        color: "#37474f", weight: 2, fillColor: color, fillOpacity: 0.85 })
        .bindTooltip(esc(p.name) + " " + pct(p.progress)).bindPopup(html).addTo(self.sites);
      markers[p.code].gsDetail = "<h3>" + esc(p.name) + "</h3>" + html;
    });
    this.summary.getContainer().innerHTML = this.summaryHtml(data.summary);
    this.listSites(data, markers);
    this.token = data.token;
    this.updates += 1;
    document.body.setAttribute("data-gs-updates", String(this.updates));
    document.body.setAttribute("data-gs-households-handed-over", String(data.summary.households_handed_over || 0));
  };

  RelocationMap.prototype.listSites = function (data, markers) {
    var rows = data.sites.features.map(function (f) {
      var p = f.properties;
      return {
        name: p.name,
        cells: [fmt(p.households_handed_over) + " / " + fmt(p.households) + " 户", pct(p.progress)],
        layer: function () { return markers[p.code]; },
        detail: function () { return markers[p.code].gsDetail; }
      };
    });
    var townships = data.townships.features.filter(function (f) { return f.properties.households; });
    var extra = townships.length ? "<h3>各乡镇回迁户（已交房 / 应回迁）</h3><table><tbody>" +
      townships.map(function (f) {
        var p = f.properties;
        return '<tr><th scope="row">' + esc(p.name) + "</th><td>" + fmt(p.handed_over) + " / " + fmt(p.households) + " 户</td></tr>";
      }).join("") + "</tbody></table>" : "";
    unitList(this.map, "安置项目交房进度", ["安置项目", "已交房 / 应回迁户", "交房进度"], rows, extra);
  };

  RelocationMap.prototype.summaryHtml = function (s) {
    function row(label, value, cls) {
      return "<tr><th>" + label + "</th><td" + (cls ? ' class="' + cls + '"' : "") + ">" + value + "</td></tr>";
    }
    function target(v, unit) { return v === null || v === undefined ? "未设" : fmt(v) + unit; }
    var when = s.as_of || (s.year + "年");
    return "<h3>" + esc(s.district) + " 回迁进度 <small>" + esc(when) + "</small></h3>" +
      '<table class="gs-figures">' +
      row("应回迁户数", fmt(s.households_planned) + " 户") +
      row("已交房户数", fmt(s.households_handed_over) + " 户") +
      row("年度目标", target(s.target_households, " 户")) +
      row("完成率", pct(s.progress), "gs-progress") +
      row("已交房套数", fmt(s.flats_handed_over) + " / " + fmt(s.flats_planned) + " 套") +
      row("已交房面积", fmt(s.m2_handed_over) + " / " + fmt(s.m2_planned) + " m²") +
      row("已办证户数", fmt(s.households_certified) + " 户") +
      row("回迁核验户数", fmt(s.households_verified) + " 户", "gs-verified") +
      row("逾期未回迁", fmt(s.overdue_handover) + " 户", "gs-overdue") +
      row("逾期未办证", fmt(s.overdue_title) + " 户", "gs-overdue") + "</table>" +
      '<div class="gs-kinds">' + ["land", "demolition"].map(function (x) {
        return '<a href="/maps/progress?district=' + encodeURIComponent(s.district) + "&kind=" + x + '">' +
          KIND_LABEL[x] + "</a>";
      }).join(" · ") + " · <b>回迁</b></div>";
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
      box.setAttribute("aria-label", (document.querySelector("h1") || document).textContent + " 地图");
      var page = new (MODES[cfg.mode] || ProgressMap)(map, cfg);
      window.geoServiceMaps.page = page;
      return page;
    }
  };
})();
