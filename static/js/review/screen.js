/* The review screen: map, audio players (audited playback), keyboard decisions, claim
 * keep-alive and live notices about this incident. */
(function () {
  "use strict";
  var screen = document.getElementById("screen");
  if (!screen) { return; }
  var incidentId = parseInt(screen.getAttribute("data-incident"), 10);
  var canDecide = screen.getAttribute("data-can-decide") === "1";
  var csrfInput = document.querySelector("#csrf-holder input[name=csrfmiddlewaretoken]");
  var csrf = csrfInput ? csrfInput.value : "";
  var notice = document.getElementById("screen-notice");

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  /* --- Head timer --------------------------------------------------------------------------- */
  var headTimer = document.querySelector(".head-timer");
  var loadedAt = performance.now();
  function tick() {
    if (!headTimer) { return; }
    var target = parseFloat(headTimer.getAttribute("data-target")) || 60;
    var age = parseFloat(headTimer.getAttribute("data-age")) + (performance.now() - loadedAt) / 1000;
    headTimer.querySelector(".elapsed").textContent = window.ReviewTimers.format(age);
    var open = screen.getAttribute("data-status") === "pending_review";
    headTimer.classList.toggle("overdue", open && age > target);
    headTimer.classList.toggle("warn", open && age <= target && age >= 0.75 * target);
  }
  tick();
  window.setInterval(tick, 1000);

  /* --- Map ------------------------------------------------------------------------------------ */
  var moveMarker = null;
  var moveMode = false;
  var map = null;
  var dataNode = document.getElementById("map-data");
  function drawMap(data) {
    map = L.map("map", { zoomControl: true, attributionControl: false, scrollWheelZoom: false });
    var tiles = screen.getAttribute("data-tile-url");
    if (tiles) { L.tileLayer(tiles, { maxZoom: 19 }).addTo(map); }
    // The view first: Leaflet cannot place vector layers on a map without one.
    var bounds = data.incident.ellipse.slice();
    data.sensors.forEach(function (s) { bounds.push([s.lat, s.lon]); });
    var fitAll = function () {
      map.fitBounds(bounds, { paddingTopLeft: [24, 34], paddingBottomRight: [120, 24], maxZoom: 18 });
    };
    fitAll();
    document.querySelectorAll(".map-zoom").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.getAttribute("data-zoom") === "ellipse") {
          map.fitBounds(data.incident.ellipse, { padding: [40, 40], maxZoom: 19 });
        } else {
          fitAll();
        }
      });
    });
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    if (data.area) {
      L.geoJSON(data.area, { style: { color: "#79aec8", weight: 1, fill: false, dashArray: "4 4" }, interactive: false }).addTo(map);
    }
    var source = [data.incident.lat, data.incident.lon];
    // Only the nearest sensor with audio keeps its name on the map: several permanent labels
    // around one source overlapped into an unreadable pile. The others show theirs on hover.
    var labelled = null;
    data.sensors.forEach(function (s) {
      if (s.clip && (labelled === null || s.distance_m < labelled.distance_m)) { labelled = s; }
    });
    data.sensors.forEach(function (s) {
      var at = [s.lat, s.lon];
      L.polyline([source, at], { color: "#417690", weight: 1, opacity: 0.5, dashArray: "3 4", interactive: false }).addTo(map);
      L.circleMarker(at, {
        radius: s.clip ? 7 : 5, color: s.clip ? "#0d3b66" : "#417690", weight: s.clip ? 3 : 1,
        fillColor: "#79aec8", fillOpacity: 0.9
      }).addTo(map).bindTooltip(s.serial + " · " + s.distance_m + " m", { permanent: s === labelled, direction: "right", className: "map-label", offset: [6, 0] });
    });
    data.nearby.forEach(function (n) {
      L.circleMarker([n.lat, n.lon], { radius: 5, color: "#777", weight: 1, fillColor: "#bbb", fillOpacity: 0.8 })
        .addTo(map).bindTooltip(n.reference + " · " + n.label);
    });
    if (data.shots.length > 1) {
      data.shots.forEach(function (s) {
        L.polygon(s.ellipse, { color: "#e57373", weight: 1, fill: false, interactive: false }).addTo(map);
      });
    }
    L.polygon(data.incident.ellipse, { color: "#b3261e", weight: 2, fillColor: "#e53935", fillOpacity: 0.25 })
      .addTo(map).bindTooltip("95% ellipse " + data.incident.major_m + " × " + data.incident.minor_m + " m");
    L.circleMarker(source, { radius: 5, color: "#fff", weight: 2, fillColor: "#b3261e", fillOpacity: 1 })
      .addTo(map).bindTooltip(data.incident.reference);
    map.on("click", function (event) {
      if (!moveMode) { return; }
      var lat = document.getElementById("id_latitude");
      var lon = document.getElementById("id_longitude");
      if (!lat || !lon) { return; }
      lat.value = event.latlng.lat.toFixed(6);
      lon.value = event.latlng.lng.toFixed(6);
      if (moveMarker) { moveMarker.setLatLng(event.latlng); } else {
        moveMarker = L.circleMarker(event.latlng, { radius: 7, color: "#6b3fa0", weight: 3, fillOpacity: 0.2 }).addTo(map);
      }
    });
  }
  if (dataNode && window.L) {
    try {
      drawMap(JSON.parse(dataNode.textContent));
    } catch (error) {
      // A map problem must never take the players and the decision keys with it.
      document.getElementById("map").textContent = "The map could not be drawn: " + error.message;
    }
  }

  /* --- Audio players ---------------------------------------------------------------------------- */
  var players = Array.prototype.slice.call(document.querySelectorAll(".player"));
  players.forEach(function (player) {
    var duration = parseFloat(player.getAttribute("data-duration")) || 1;
    player.querySelectorAll(".mark").forEach(function (mark) {
      var offset = parseFloat(mark.getAttribute("data-offset"));
      mark.style.left = Math.max(0, Math.min(100, (offset / duration) * 100)) + "%";
    });
    var audio = player.querySelector("audio");
    var button = player.querySelector(".play");
    var state = player.querySelector(".play-state");
    var heads = player.querySelectorAll(".playhead");
    var frame = null;
    var startAt = 0;

    function draw() {
      var fraction = audio.duration ? audio.currentTime / audio.duration : 0;
      heads.forEach(function (h) { h.style.left = (fraction * 100) + "%"; });
      if (!audio.paused) { frame = window.requestAnimationFrame(draw); }
    }

    function stop() {
      audio.pause();
      player.classList.remove("playing");
      button.textContent = "▶ Play";
    }

    function play(fromFraction) {
      // Each press is one audited playback (apps/evidence); the element fetches its bytes.
      state.textContent = "loading…";
      startAt = fromFraction || 0;
      window.EvidencePlayback.load(audio, player.getAttribute("data-play-url"), csrf).then(function () {
        if (startAt) { audio.currentTime = startAt * audio.duration; }
        return audio.play();
      }).then(function () {
        player.classList.add("playing");
        player.classList.remove("paused");
        button.textContent = "■ Stop";
        state.textContent = "playing (logged)";
        draw();
      }).catch(function (error) {
        state.textContent = "cannot play: " + error.message.slice(0, 200);
      });
    }

    audio.addEventListener("ended", function () {
      player.classList.remove("playing");
      player.classList.add("paused");
      button.textContent = "▶ Play";
      state.textContent = "played";
      heads.forEach(function (h) { h.style.left = "100%"; });
    });

    button.addEventListener("click", function () {
      if (player.classList.contains("playing")) { stop(); state.textContent = "stopped"; return; }
      play(0);
    });
    player.querySelectorAll(".track").forEach(function (track) {
      track.addEventListener("click", function (event) {
        var rect = track.getBoundingClientRect();
        var fraction = Math.max(0, Math.min(1, (event.clientX - rect.left) / rect.width));
        if (player.classList.contains("playing") && audio.duration) {
          audio.currentTime = fraction * audio.duration;
        } else {
          play(fraction);
        }
      });
    });
    player.togglePlay = function () { button.click(); };
  });

  /* --- Decision by keyboard ----------------------------------------------------------------- */
  var form = document.getElementById("decision-form");
  var summary = document.getElementById("decision-summary");
  var rounds = document.getElementById("id_rounds");
  var reasons = document.getElementById("reasons");
  var machineRounds = parseInt(screen.getAttribute("data-rounds"), 10) || 1;

  function checked(name) {
    var input = form && form.querySelector("input[name=" + name + "]:checked");
    return input ? input : null;
  }

  function labelOf(input) {
    return input ? input.parentNode.textContent.replace(/^\s*\S+\s*/, "").trim() : "";
  }

  function refreshForm() {
    if (!form) { return; }
    form.querySelectorAll("label.choice").forEach(function (label) {
      label.classList.toggle("selected", label.querySelector("input").checked);
    });
    var decision = checked("decision");
    var notGunfire = decision && decision.value === "not_gunfire";
    reasons.classList.toggle("shown", !!notGunfire);
    if (!notGunfire) {
      form.querySelectorAll("input[name=not_gunfire_reason]").forEach(function (r) { r.checked = false; });
    }
    summary.classList.remove("ready");
    if (!decision) {
      summary.innerHTML = "Choose a type: <kbd>1</kbd> <kbd>2</kbd> <kbd>3</kbd> or <kbd>0</kbd>.";
      return;
    }
    if (notGunfire) {
      var reason = checked("not_gunfire_reason");
      if (!reason) {
        summary.innerHTML = "Not gunfire — what was it? <kbd>F</kbd> <kbd>K</kbd> <kbd>B</kbd> <kbd>N</kbd> <kbd>O</kbd>";
        return;
      }
      summary.textContent = "Not gunfire (" + labelOf(reason) + "): press P to confirm and dismiss.";
    } else {
      summary.textContent = labelOf(decision) + ", " + rounds.value + " round" +
        (rounds.value === "1" ? "" : "s") + ": press P to publish to the agency.";
    }
    summary.classList.add("ready");
  }

  function choose(name, value) {
    var input = form.querySelector("input[name=" + name + "][value=" + value + "]");
    if (input) { input.checked = true; }
    if (name === "decision") {
      if (value === "single_gunshot") { rounds.value = 1; }
      if (value === "multiple_gunshots" && parseInt(rounds.value, 10) < 2) { rounds.value = Math.max(2, machineRounds); }
    }
    refreshForm();
  }

  if (form) {
    form.addEventListener("change", refreshForm);
    refreshForm();
  }

  var DECISION_KEYS = { "1": "single_gunshot", "2": "multiple_gunshots", "3": "possible_gunfire", "0": "not_gunfire" };
  var REASON_KEYS = { f: "firework", k: "firecracker", b: "backfire", n: "construction", o: "other" };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" &&
      ["text", "number", "search"].indexOf(target.type) >= 0));
    if (event.key === "Escape") {
      if (typing) { target.blur(); return; }
      if (form) {
        form.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = false; });
        rounds.value = machineRounds;
        refreshForm();
      }
      moveMode = false;
      players.forEach(function (p) { if (p.classList.contains("playing")) { p.togglePlay(); } });
      return;
    }
    if (typing) { return; }
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === " " && players.length) {
      event.preventDefault();
      players[0].togglePlay();
      return;
    }
    if (!form || !canDecide) { return; }
    if (DECISION_KEYS[key]) { event.preventDefault(); choose("decision", DECISION_KEYS[key]); return; }
    var decision = checked("decision");
    if (decision && decision.value === "not_gunfire" && REASON_KEYS[key]) {
      event.preventDefault();
      choose("not_gunfire_reason", REASON_KEYS[key]);
      return;
    }
    if (key === "c") { event.preventDefault(); document.getElementById("id_comment").focus(); return; }
    if (key === "m") {
      event.preventDefault();
      moveMode = true;
      form.querySelector("details.move").open = true;
      showNotice("Move mode: click the map where the shots more likely came from, then add a note.");
      return;
    }
    if (key === "p") {
      event.preventDefault();
      if (!decision) { summary.textContent = "Choose a type first (1, 2, 3 or 0)."; return; }
      if (decision.value === "not_gunfire" && !checked("not_gunfire_reason")) { refreshForm(); return; }
      form.requestSubmit();
    }
  });

  /* --- Claim keep-alive and live notices ---------------------------------------------------- */
  // Keep the claim only while the reviewer is actually working on it: an unattended
  // screen stops touching, so the claim idles out and returns to the queue.
  var lastActivity = Date.now();
  ["keydown", "mousedown", "mousemove", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { lastActivity = Date.now(); }, { passive: true });
  });
  if (canDecide) {
    window.setInterval(function () {
      var playing = players.some(function (p) { return p.classList.contains("playing"); });
      if (!playing && Date.now() - lastActivity > 30000) { return; }
      fetch(screen.getAttribute("data-touch-url"), {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }
      }).then(function (response) {
        if (response.status === 409) {
          showNotice("You no longer hold this incident (released after inactivity or taken over). Reload before deciding.");
        }
      }).catch(function () {});
    }, 30000);
  }

  if (window.ReviewStream) {
    new window.ReviewStream({
      path: screen.getAttribute("data-ws-path"),
      after: screen.getAttribute("data-last-event"),
      onEvent: function (message) {
        if (message.incident_id !== incidentId) { return; }
        var who = (message.payload && message.payload.claimed_by) || "another reviewer";
        if (message.kind === "review.refined") {
          showNotice("The pipeline refined this incident (new shots or location). Reload to see them.");
        } else if (message.kind === "review.decided" && !canDecide) {
          showNotice("This incident has been decided. Reload to see the decision.");
        } else if (message.kind === "review.claimed" && !canDecide) {
          showNotice("Now held by " + who + ".");
        } else if (message.kind === "review.released" && !canDecide) {
          showNotice("Released back to the queue: you may claim it.");
        }
      }
    });
  }
})();
