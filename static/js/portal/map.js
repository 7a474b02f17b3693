/* Incident map: coverage-area outline (toggle), districts, beats, incidents, the 95%
 * ellipse and a distance-measuring tool. Works without tiles (vector layers only). */
(function () {
  "use strict";
  var R = 6371008.8; // metres; the server's selectors.distance_m uses the same sphere

  function distance(a, b) {
    var p1 = a.lat * Math.PI / 180, p2 = b.lat * Math.PI / 180;
    var dp = p2 - p1, dl = (b.lng - a.lng) * Math.PI / 180;
    var h = Math.sin(dp / 2) * Math.sin(dp / 2) +
      Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) * Math.sin(dl / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function formatDistance(m) {
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(2) + " km";
  }

  function ellipsePoints(lat, lon, major, minor, azimuthDeg) {
    var th = azimuthDeg * Math.PI / 180, pts = [];
    for (var i = 0; i <= 64; i++) {
      var t = 2 * Math.PI * i / 64;
      var east = major * Math.cos(t) * Math.sin(th) + minor * Math.sin(t) * Math.cos(th);
      var north = major * Math.cos(t) * Math.cos(th) - minor * Math.sin(t) * Math.sin(th);
      pts.push([lat + (north / R) * 180 / Math.PI,
        lon + (east / (R * Math.cos(lat * Math.PI / 180))) * 180 / Math.PI]);
    }
    return pts;
  }

  function button(container, label, title, onClick) {
    var b = L.DomUtil.create("button", "map-tool", container);
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.setAttribute("aria-label", title);
    b.setAttribute("aria-pressed", "false");
    L.DomEvent.disableClickPropagation(b);
    L.DomEvent.on(b, "click", function (e) { L.DomEvent.preventDefault(e); onClick(b); });
    return b;
  }

  function init(element, data) {
    var map = L.map(element, { zoomControl: true, attributionControl: !!data.tiles.url });
    if (data.tiles && data.tiles.url) {
      L.tileLayer(data.tiles.url, { attribution: data.tiles.attribution || "", maxZoom: 19 }).addTo(map);
    } else {
      element.classList.add("no-tiles");
    }
    var geo = data.geography || { coverage: [], districts: [], beats: [] };
    function named(feature, layer) { layer.bindTooltip(feature.properties.name, { sticky: true }); }
    var layers = {
      coverage: L.geoJSON(geo.coverage, { style: { className: "coverage-outline", color: "#1f4e79", weight: 3, fill: false, dashArray: "6 4" }, onEachFeature: named }),
      districts: L.geoJSON(geo.districts, { style: { className: "district", color: "#6b4fa0", weight: 2, fillOpacity: 0.03 }, onEachFeature: named }),
      beats: L.geoJSON(geo.beats, { style: { className: "beat", color: "#7a8794", weight: 1, dashArray: "2 4", fillOpacity: 0 }, onEachFeature: named }),
    };
    layers.coverage.addTo(map);
    layers.districts.addTo(map);
    var incidentLayer = L.layerGroup().addTo(map);
    var focusLayer = L.layerGroup().addTo(map);

    // The toolbar: coverage-area outline, districts, beats, measure.
    var Toolbar = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var bar = L.DomUtil.create("div", "map-toolbar leaflet-bar");
        bar.setAttribute("role", "toolbar");
        bar.setAttribute("aria-label", "Map toolbar");
        function toggle(name, label, title) {
          var b = button(bar, label, title, function () {
            if (map.hasLayer(layers[name])) { map.removeLayer(layers[name]); } else { layers[name].addTo(map); }
            b.setAttribute("aria-pressed", map.hasLayer(layers[name]) ? "true" : "false");
          });
          b.id = "map-toggle-" + name;
          b.setAttribute("aria-pressed", map.hasLayer(layers[name]) ? "true" : "false");
        }
        toggle("coverage", "▭", "Coverage area outline");
        toggle("districts", "D", "Districts");
        toggle("beats", "B", "Beats");
        var measureButton = button(bar, "↔", "Measure distance", function () { measure.toggle(); });
        measureButton.id = "map-measure";
        measure.button = measureButton;
        return bar;
      },
    });

    var measure = {
      active: false, points: [], line: null, label: null, button: null,
      toggle: function () {
        this.active = !this.active;
        this.button.setAttribute("aria-pressed", this.active ? "true" : "false");
        element.classList.toggle("measuring", this.active);
        this.clear();
        if (this.active) { this.show("Click points on the map; double-click to finish."); }
      },
      clear: function () {
        this.points = [];
        if (this.line) { map.removeLayer(this.line); this.line = null; }
        if (this.label) { this.label.remove(); this.label = null; }
      },
      show: function (text) {
        if (!this.label) {
          this.label = L.DomUtil.create("div", "measure-result", element.parentNode);
          this.label.setAttribute("role", "status");
        }
        this.label.textContent = text;
      },
      add: function (latlng) {
        this.points.push(latlng);
        if (!this.line) { this.line = L.polyline([], { className: "measure-line", color: "#d35400", weight: 3, dashArray: "4 4" }).addTo(map); }
        this.line.setLatLngs(this.points);
        var total = 0;
        for (var i = 1; i < this.points.length; i++) { total += distance(this.points[i - 1], this.points[i]); }
        this.show("Distance: " + formatDistance(total));
      },
    };
    map.on("click", function (e) { if (measure.active) { measure.add(e.latlng); } });
    map.on("dblclick", function (e) { if (measure.active) { L.DomEvent.stop(e); measure.active = false; measure.button.setAttribute("aria-pressed", "false"); element.classList.remove("measuring"); } });
    new Toolbar().addTo(map);

    function popupFor(m) {
      var div = document.createElement("div");
      div.className = "map-popup";
      var a = document.createElement("a");
      a.href = m.url; a.textContent = m.ref;
      div.appendChild(a);
      div.appendChild(document.createTextNode(" " + m.type + (m.address ? " · " + m.address : "")));
      return div;
    }

    function setIncidents(markers) {
      incidentLayer.clearLayers();
      (markers || []).forEach(function (m) {
        L.circleMarker([m.lat, m.lon], { radius: 6, className: "incident-marker" + (m.opened ? " opened" : ""), color: "#b3261e", weight: 2, fillOpacity: 0.6 })
          .bindPopup(popupFor(m)).bindTooltip(m.ref).addTo(incidentLayer);
      });
    }

    function setFocus(f) {
      focusLayer.clearLayers();
      if (!f) { return; }
      L.polygon(ellipsePoints(f.lat, f.lon, f.ellipse.major_m, f.ellipse.minor_m, f.ellipse.azimuth_deg), { className: "incident-ellipse", color: "#b3261e", weight: 2, fillOpacity: 0.15 }).addTo(focusLayer);
      L.circleMarker([f.lat, f.lon], { radius: 9, className: "incident-focus", color: "#fff", weight: 3, fillColor: "#b3261e", fillOpacity: 1 }).bindTooltip(f.ref).addTo(focusLayer);
    }

    setIncidents(data.incidents);
    setFocus(data.focus);
    if (data.focus) {
      map.setView([data.focus.lat, data.focus.lon], 16);
    } else {
      var bounds = layers.coverage.getBounds();
      (data.incidents || []).forEach(function (m) { bounds.extend([m.lat, m.lon]); });
      if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); } else { map.setView([39.8, -98.6], 4); }
    }
    return { map: map, setIncidents: setIncidents, setFocus: setFocus, layers: layers, distance: distance };
  }

  window.PortalMap = { init: init, distance: distance, ellipsePoints: ellipsePoints };
})();
