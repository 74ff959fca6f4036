/* The parcel page's and the parcel list's map's map: the parcel highlighted, its neighbours coloured by status. */
(function () {
  "use strict";
  var STATUS = { planned: "#9e9e9e", in_progress: "#42a5f5", delivered: "#ff9800",
                 demolished: "#ff9800", verified: "#1b5e20", disputed: "#d32f2f" };
  var box = document.getElementById("parcel-map");
  if (!box || !window.L) { return; }
  var shapes = JSON.parse(box.getAttribute("data-shapes"));
  var map = L.map(box, { attributionControl: false });
  L.control.scale({ imperial: false }).addTo(map);
  var self = null;
  var all = L.geoJSON(shapes, {
    style: function (f) {
      var mine = f.properties.self;
      return { color: mine ? "#0d47a1" : STATUS[f.properties.status] || "#9e9e9e",
               weight: mine ? 4 : 1, fillOpacity: mine ? 0.5 : 0.25,
               fillColor: STATUS[f.properties.status] || "#9e9e9e" };
    },
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
}());
