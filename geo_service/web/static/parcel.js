/* The parcel page's and the parcel list's map: the parcel highlighted, its neighbours
 * coloured by status. Drawn at once as a plain SVG outline; Leaflet (pan, zoom, scale,
 * tooltips) is fetched only after the page has loaded, so on a slow phone the facts and
 * the actions come first (the map library is most of the page's weight). */
(function () {
  "use strict";
  var STATUS = { planned: "#9e9e9e", in_progress: "#42a5f5", delivered: "#ff9800",
                 demolished: "#ff9800", verified: "#1b5e20", disputed: "#d32f2f" };
  var SVG = "http://www.w3.org/2000/svg";
  var box = document.getElementById("parcel-map");
  if (!box) { return; }
  var shapes = JSON.parse(box.getAttribute("data-shapes"));

  function style(p) {
    var mine = p.self;
    return { color: mine ? "#0d47a1" : STATUS[p.status] || "#9e9e9e",
             weight: mine ? 4 : 1, fillOpacity: mine ? 0.5 : 0.25,
             fillColor: STATUS[p.status] || "#9e9e9e" };
  }
  function rings(geometry) {
    if (!geometry) { return []; }
    if (geometry.type === "Polygon") { return geometry.coordinates; }
    if (geometry.type === "MultiPolygon") { return [].concat.apply([], geometry.coordinates); }
    return [];
  }

  /* The outline: longitude scaled by the cosine of the latitude (true shape at a parcel's
     size), framed on the parcel and some of its surroundings as the map will be. */
  function outline() {
    var features = shapes.features || [];
    var framed = features.filter(function (f) { return f.properties.self; });
    var frame = bounds(framed.length ? framed : features);
    if (!frame) { return; }
    var k = Math.cos((frame[1] + frame[3]) / 2 * Math.PI / 180);
    var pad = framed.length ? 0.6 : 0.05;
    var w = (frame[2] - frame[0]) * k, h = frame[3] - frame[1], m = Math.max(w, h) * pad || 1e-4;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "gs-outline");
    svg.setAttribute("viewBox", [frame[0] * k - m, -frame[3] - m, w + 2 * m, h + 2 * m].join(" "));
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    features.forEach(function (f) {
      var d = rings(f.geometry).map(function (ring) {
        return "M" + ring.map(function (c) { return (c[0] * k) + " " + (-c[1]); }).join("L") + "Z";
      }).join("");
      var s = style(f.properties), path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      path.setAttribute("fill", s.fillColor);
      path.setAttribute("fill-opacity", s.fillOpacity);
      path.setAttribute("stroke", s.color);
      path.setAttribute("stroke-width", s.weight);
      path.setAttribute("vector-effect", "non-scaling-stroke");
      svg.appendChild(path);
    });
    box.appendChild(svg);
  }
  function bounds(features) {
    var b = null;
    features.forEach(function (f) {
      rings(f.geometry).forEach(function (ring) {
        ring.forEach(function (c) {
          b = b ? [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])]
                : [c[0], c[1], c[0], c[1]];
        });
      });
    });
    return b;
  }

  function withLeaflet(done) {
    if (window.L) { done(); return; }
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = box.getAttribute("data-leaflet-css");
    document.head.appendChild(css);
    var js = document.createElement("script");
    js.src = box.getAttribute("data-leaflet-js");
    js.onload = done;
    document.head.appendChild(js);
  }

  function interactive() {
    box.textContent = "";
    // Leaflet's zoom buttons are titled in English: give them the page's words (base.html).
    L.Control.Zoom.mergeOptions({ zoomInTitle: document.body.dataset.zoomIn, zoomOutTitle: document.body.dataset.zoomOut });
    var map = L.map(box, { attributionControl: false });
    L.control.scale({ imperial: false }).addTo(map);
    var self = null;
    var all = L.geoJSON(shapes, {
      style: function (f) { return style(f.properties); },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(f.properties.code);
        if (f.properties.self) { self = layer; }
        if (f.properties.id) {
          layer.on("click", function () { window.location = "/parcels/%23" + f.properties.id; });
        }
      }
    }).addTo(map);
    if (self) { map.fitBounds(self.getBounds(), { padding: [60, 60], maxZoom: 18 }); }
    else if (shapes.features.length) { map.fitBounds(all.getBounds(), { maxZoom: 17 }); }
    else { map.setView([26.08, 119.3], 12); }
    box.setAttribute("data-ready", "1");
  }

  outline();
  function start() { withLeaflet(interactive); }
  if (document.readyState === "complete") { start(); } else { window.addEventListener("load", start); }
}());
