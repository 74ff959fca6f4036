/* The upload report: every problem on the map (its feature outlined in red, a numbered
   marker where the problem is), the table sortable by any column, and a row's button
   showing its problem on the map. */
(function () {
  "use strict";
  var box = document.getElementById("report-map");
  var table = document.getElementById("problems");
  var markers = {};
  var outlines = {};
  var map = null;

  if (box && window.L) {
    var data = JSON.parse(box.getAttribute("data-map"));
    var featureWord = box.dataset.featureWord || "";
    // Leaflet's zoom buttons are titled in English: give them the page's words (base.html).
    L.Control.Zoom.mergeOptions({ zoomInTitle: document.body.dataset.zoomIn, zoomOutTitle: document.body.dataset.zoomOut });
    map = L.map(box, { attributionControl: false, keyboard: true });
    L.control.scale({ imperial: false }).addTo(map);
    // Around the file: its township's boundary (dashed) and the stored parcels nearby,
    // those it overlaps in orange, so an overlap warning can be judged on the map.
    if (data.township) {
      L.geoJSON(data.township, {
        interactive: false,
        style: { color: "#37474f", weight: 2, dashArray: "6 4", fill: false }
      }).addTo(map);
      box.setAttribute("data-township-drawn", "1");
    }
    var stored = L.geoJSON(data.stored || { type: "FeatureCollection", features: [] }, {
      style: function (f) {
        return f.properties.overlapped
          ? { color: "#e65100", weight: 3, fillColor: "#ffb74d", fillOpacity: 0.35 }
          : { color: "#616161", weight: 1, fillColor: "#bdbdbd", fillOpacity: 0.25 };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(box.dataset.storedWord + " " + f.properties.code +
          (f.properties.overlapped ? "（" + box.dataset.overlappedWord + "）" : ""));
      }
    }).addTo(map);
    box.setAttribute("data-stored-drawn", String(stored.getLayers().length));
    var shapes = L.geoJSON(data.shapes, {
      style: function (f) {
        if (f.properties.as_read) {
          return { color: "#d32f2f", weight: 3, dashArray: "4 3", fillColor: "#ef5350", fillOpacity: 0.2 };
        }
        return f.properties.problem
          ? { color: "#d32f2f", weight: 3, fillColor: "#ef5350", fillOpacity: 0.35 }
          : { color: "#1f4e79", weight: 1, fillColor: "#90caf9", fillOpacity: 0.25 };
      },
      onEachFeature: function (f, layer) {
        outlines[f.properties.feature] = layer;
        layer.bindTooltip(featureWord + " " + f.properties.feature +
          (f.properties.as_read ? "（" + box.dataset.asReadWord + "）" : ""));
      }
    }).addTo(map);
    box.setAttribute("data-shapes-drawn", String(shapes.getLayers().length));
    var points = L.featureGroup().addTo(map);
    data.points.forEach(function (p) {
      if (!p.location) { return; }
      var colour = p.severity === "error" ? "#b00020" : "#8d5b00";
      var marker = L.circleMarker([p.location[1], p.location[0]], {
        radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 0.9
      }).bindTooltip(p.n + ". " + p.label + (p.code ? "（" + p.code + "）" : ""));
      marker.on("click", function () { select(p.n, false); });
      marker.addTo(points);
      markers[p.n] = marker;
    });
    var bounds = shapes.getBounds();
    if (points.getLayers().length) { bounds = bounds.isValid() ? bounds.extend(points.getBounds()) : points.getBounds(); }
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 }); }
    else { map.setView([26.08, 119.3], 10); }
    box.setAttribute("data-problems-drawn", String(Object.keys(markers).length));
    box.setAttribute("data-ready", "1");
  }

  var selected = null;
  function select(n, fromTable) {
    if (selected) { selected.classList.remove("selected"); }
    var row = table ? table.querySelector('tr[data-n="' + n + '"]') : null;
    if (row) {
      row.classList.add("selected");
      selected = row;
      if (!fromTable) { row.scrollIntoView({ block: "nearest" }); }
    }
    if (!map) { return; }
    var feature = row ? row.getAttribute("data-feature") : "";
    var outline = feature ? outlines[feature] : null;
    Object.keys(outlines).forEach(function (k) {
      outlines[k].setStyle({ weight: outlines[k].feature.properties.problem ? 3 : 1 });
    });
    if (outline) {
      outline.setStyle({ weight: 6 });
      outline.bringToFront();
      map.fitBounds(outline.getBounds(), { padding: [40, 40], maxZoom: 18 });
    } else if (markers[n]) {
      map.setView(markers[n].getLatLng(), Math.max(map.getZoom(), 16));
    }
    if (markers[n]) { markers[n].openTooltip(); }
  }

  document.querySelectorAll("form.store-form").forEach(function (store) {
    store.addEventListener("submit", function () {
      store.querySelector("button[type=submit]").disabled = true;
      store.querySelector(".store-status").textContent = store.dataset.storing;
    });
  });

  if (!table) { return; }
  table.addEventListener("click", function (e) {
    var show = e.target.closest("button.show");
    if (show) { select(show.closest("tr").getAttribute("data-n"), true); }
  });

  // Sorting: by the column's data attribute, as numbers or as text (Chinese collation).
  var collator = window.Intl ? new Intl.Collator("zh-CN", { numeric: true }) : null;
  table.querySelectorAll("th button[data-sort]").forEach(function (button) {
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-sort");
      var numeric = button.getAttribute("data-type") === "number";
      var ascending = button.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th button[data-sort]").forEach(function (b) { b.removeAttribute("aria-sort"); });
      button.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.getAttribute("data-" + key), y = b.getAttribute("data-" + key);
        var order;
        if (numeric) { order = (x === "" ? -1 : Number(x)) - (y === "" ? -1 : Number(y)); }
        else { order = collator ? collator.compare(x, y) : (x < y ? -1 : x > y ? 1 : 0); }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });

}());
