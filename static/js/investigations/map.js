/* Investigation request map: the filed place with its search radius, the located shot
 * when there is one and, on the reviewer's page, the agency's sensors inside the radius.
 * Data comes from the page (json_script, strict CSP); no tiles unless MAP_TILE_URL is set. */
(function () {
  "use strict";
  var element = document.getElementById("inv-map");
  var dataNode = document.getElementById("inv-map-data");
  if (!element || !dataNode) { return; }
  try {
    var data = JSON.parse(dataNode.textContent);
    var tiles = data.tiles || {};
    var place = L.latLng(data.place.lat, data.place.lon);
    var map = L.map(element, { zoomControl: true, attributionControl: !!tiles.url, scrollWheelZoom: false, zoomSnap: 0.25 });
    if (tiles.url) {
      L.tileLayer(tiles.url, { attribution: tiles.attribution || "", maxZoom: 19 }).addTo(map);
    } else {
      element.classList.add("no-tiles");
    }
    // The view first: Leaflet places vector layers only on a map that has one.
    var bounds = place.toBounds(2.3 * data.place.radius_m);
    (data.sensors || []).forEach(function (s) { bounds.extend([s.lat, s.lon]); });
    if (data.located) { bounds.extend([data.located.lat, data.located.lon]); }
    map.fitBounds(bounds, { padding: [12, 12], maxZoom: 18 });
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

    var radius = Math.round(data.place.radius_m);
    var circle = L.circle(place, { radius: data.place.radius_m, className: "inv-radius", color: "#1f4e79", weight: 2, dashArray: "6 4", fillColor: "#1f4e79", fillOpacity: 0.08 })
      .bindTooltip("Search radius " + radius + " m", { sticky: true }).addTo(map);
    L.circleMarker(place, { radius: 6, className: "inv-place", color: "#fff", weight: 2, fillColor: "#1f4e79", fillOpacity: 1 })
      .bindTooltip("Requested place: " + data.place.label).addTo(map);
    var many = (data.sensors || []).length > 12;
    (data.sensors || []).forEach(function (s) {
      L.circleMarker([s.lat, s.lon], { radius: 5, className: "inv-sensor", color: "#2e7d32", weight: 2, fillColor: "#fff", fillOpacity: 1 })
        .bindTooltip(s.serial + " · " + s.distance_m + " m", { permanent: !many, direction: "right", className: "inv-map-label", offset: [6, 0] })
        .addTo(map);
    });
    if (data.located) {
      L.circleMarker([data.located.lat, data.located.lon], { radius: 7, className: "inv-located", color: "#fff", weight: 2, fillColor: "#b3261e", fillOpacity: 1 })
        .bindTooltip("Located shot", { permanent: true, direction: "left", className: "inv-map-label located", offset: [-6, 0] }).addTo(map);
    }
    window.investigationMap = { map: map, circle: circle };
    element.dataset.ready = "1";
  } catch (error) {
    element.textContent = "The map could not be drawn: " + error.message;
  }
})();
