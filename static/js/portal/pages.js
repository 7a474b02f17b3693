/* Wires a portal page: the map, live list and details updates, sounds, copy link. */
(function () {
  "use strict";
  var UPDATE_KINDS = ["incident.comment", "incident.reclassified", "incident.location_moved", "incident.cancelled"];
  var root = document.getElementById("portal");
  if (!root) { return; }

  // --- Sounds (a blocked autoplay asks for one click, then works) ------------------------------
  var sounds = {
    blocked: false,
    played: { reminder: 0, gong: 0 },
    play: function (name) {
      var src = name === "gong" ? root.dataset.soundGong : root.dataset.soundReminder;
      var audio = new Audio(src);
      var self = this;
      self.played[name] += 1;
      root.dataset["played" + name.charAt(0).toUpperCase() + name.slice(1)] = String(self.played[name]);
      var promise = audio.play();
      if (promise && promise.catch) {
        promise.catch(function () {
          if (self.blocked) { return; }
          self.blocked = true;
          var b = document.createElement("button");
          b.type = "button"; b.id = "enable-sound"; b.className = "enable-sound";
          b.textContent = "Click to enable alert sounds";
          b.addEventListener("click", function () { self.blocked = false; b.remove(); new Audio(src).play().catch(function () {}); });
          document.body.appendChild(b);
        });
      }
    },
  };

  // --- Map ------------------------------------------------------------------------------------
  var data = {};
  var dataNode = document.getElementById("map-data");
  if (dataNode) { try { data = JSON.parse(dataNode.textContent) || {}; } catch (e) { data = {}; } }
  var mapElement = document.getElementById("map");
  var portalMap = mapElement && window.L ? window.PortalMap.init(mapElement, data) : null;
  window.portalMap = portalMap;

  function markersFromRows() {
    var rows = document.querySelectorAll("#incident-rows tr.incident-row");
    return Array.prototype.map.call(rows, function (row) { return JSON.parse(row.dataset.marker); });
  }

  // --- Copy secure link -----------------------------------------------------------------------
  document.addEventListener("click", function (e) {
    var b = e.target.closest ? e.target.closest(".copy-link") : null;
    if (!b) { return; }
    var link = b.dataset.link;
    var out = b.parentNode.querySelector(".copy-result");
    function done(ok) {
      out.textContent = ok ? "Copied: " + link : "Copy this link: " + link;
      root.dataset.copiedLink = ok ? link : "";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(function () { done(true); }, function () { done(false); });
    } else {
      var area = document.createElement("textarea");
      area.value = link; area.setAttribute("readonly", ""); area.className = "offscreen";
      document.body.appendChild(area); area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      area.remove();
      done(ok);
    }
  });

  // --- In-place updates -----------------------------------------------------------------------
  function fetchFragment(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    });
  }

  var refreshingList = null;
  function refreshList() {
    var tbody = document.getElementById("incident-rows");
    if (!tbody || root.dataset.page !== "list") { return; }
    refreshingList = fetchFragment(root.dataset.fragmentUrl).then(function (html) {
      tbody.innerHTML = html;
      if (portalMap) { portalMap.setIncidents(markersFromRows()); }
      root.dataset.listVersion = String(parseInt(root.dataset.listVersion || "0", 10) + 1);
    }).catch(function () {});
  }

  function refreshDetails(flash) {
    var box = document.getElementById("incident-details");
    return fetchFragment(root.dataset.fragmentUrl).then(function (html) {
      box.innerHTML = html;
      var facts = document.getElementById("incident-facts");
      if (portalMap && facts && data.focus) {
        data.focus.lat = parseFloat(facts.dataset.lat);
        data.focus.lon = parseFloat(facts.dataset.lon);
        data.focus.ellipse = { major_m: parseFloat(facts.dataset.ellipseMajor), minor_m: parseFloat(facts.dataset.ellipseMinor), azimuth_deg: parseFloat(facts.dataset.ellipseAzimuth) };
        portalMap.setFocus(data.focus);
      }
      if (flash) {
        box.classList.remove("updated"); void box.offsetWidth; box.classList.add("updated");
      }
      root.dataset.detailsVersion = String(parseInt(root.dataset.detailsVersion || "0", 10) + 1);
    }).catch(function () {});
  }

  var toasters = root.dataset.toasters === "1" ? new window.PortalToasters(root, sounds) : null;
  window.portalToasters = toasters;

  document.addEventListener("portal:event", function (e) {
    var msg = e.detail;
    var pageIncident = parseInt(root.dataset.incidentId || "0", 10);
    if (msg.kind === "incident.published") {
      if (toasters) { toasters.published(msg); }
      refreshList();
    } else if (msg.kind === "incident.opened") {
      if (toasters) { toasters.opened(msg); }
      var row = document.querySelector('#incident-rows tr[data-incident-id="' + msg.incident_id + '"]');
      if (row) { row.classList.remove("unopened"); row.classList.add("opened"); }
      if (pageIncident && msg.incident_id === pageIncident) { refreshDetails(false); }
    } else if (UPDATE_KINDS.indexOf(msg.kind) >= 0) {
      if (msg.kind === "incident.cancelled" && toasters) { toasters.cancelled(msg); }
      if (pageIncident && msg.incident_id === pageIncident) {
        refreshDetails(true);
        sounds.play("gong");
      } else if (root.dataset.page === "list" && document.querySelector('#incident-rows tr[data-incident-id="' + msg.incident_id + '"]')) {
        refreshList();
        sounds.play("gong");
      }
    }
  });

  window.portalLive = window.PortalLive.start(root);

  // Without live access (an Investigator Portal user without Alert Console or Siren), an
  // open incident still updates in place: poll its details now and then.
  var POLL_MS = 20000;
  function signature() {
    var facts = document.getElementById("incident-facts");
    return facts ? facts.dataset.signature : "";
  }
  window.portalPoll = function () {
    var before = signature();
    return refreshDetails(false).then(function () {
      if (signature() !== before) {
        var box = document.getElementById("incident-details");
        box.classList.remove("updated"); void box.offsetWidth; box.classList.add("updated");
        sounds.play("gong");
      }
    });
  };
  if (!window.portalLive && root.dataset.page === "details") {
    setInterval(window.portalPoll, POLL_MS);
  }
})();
