/* The agency event stream: one websocket, reconnect with backoff, catch-up by event id.
 * Every event is dispatched once as a "portal:event" DOM event on document.
 *
 * Degraded mode: when the websocket keeps failing (DEGRADE_AFTER_FAILURES closes without a
 * connection that lasted STABLE_MS, or no live connection for DEGRADE_AFTER_MS), a banner
 * says so and the page polls root.dataset.pollUrl (?after=<last id>) every POLL_MS, feeding
 * the same dispatch. Reconnecting goes on meanwhile; once the socket is open again the
 * polling stops and the banner goes. */
(function () {
  "use strict";
  var STORE = "portal.lastEventId";
  var MAX_BACKOFF_MS = 30000;
  var RESYNC_MS = 30000; // ask for a catch-up now and then: a lost push is never lost for long
  var DEGRADE_AFTER_FAILURES = 3;
  var DEGRADE_AFTER_MS = 15000;
  var STABLE_MS = 10000;
  var POLL_MS = 10000;

  function start(root) {
    if (root.dataset.live !== "1") { return null; }
    var pageId = parseInt(root.dataset.lastEventId || "0", 10);
    var stored = parseInt(sessionStorage.getItem(STORE) || "0", 10);
    // Within one tab, continue from the last event seen on the previous page.
    var lastId = stored > 0 && stored <= pageId ? stored : pageId;
    var attempt = 0, socket = null, stopped = false, timer = null;
    var failures = 0, outageSince = Date.now(), stableTimer = null;
    var polling = false, pollTimer = null, pollInFlight = false;
    var status = document.getElementById("connection");
    var banner = document.getElementById("live-degraded");

    function showStatus(text) {
      if (!status) { return; }
      // While the degraded banner is up it says it all; one notice at a time.
      status.hidden = !text || polling;
      status.textContent = text || "";
    }

    function remember(id) {
      if (id > lastId) { lastId = id; sessionStorage.setItem(STORE, String(lastId)); }
    }

    // One way in for every event, whether it came by websocket or by polling.
    function deliver(msg) {
      if (!msg || msg.type !== "event" || typeof msg.id !== "number" || msg.id <= lastId) { return; }
      remember(msg.id);
      document.dispatchEvent(new CustomEvent("portal:event", { detail: msg }));
    }

    // --- Degraded mode: poll until the socket is back ----------------------------------------
    function showBanner(text) {
      if (!banner) { return; }
      banner.textContent = text;
      banner.hidden = false;
    }

    function startPolling() {
      if (polling || stopped || !root.dataset.pollUrl) { return; }
      polling = true;
      root.dataset.polling = "1";
      if (status) { status.hidden = true; }
      showBanner("Live updates interrupted – checking every " + Math.round(POLL_MS / 1000) + " s.");
      poll();
    }

    function stopPolling() {
      if (!polling) { return; }
      polling = false;
      root.dataset.polling = "0";
      if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
      if (banner) { banner.hidden = true; banner.textContent = ""; }
    }

    function schedulePoll(delay) {
      if (pollTimer) { clearTimeout(pollTimer); }
      pollTimer = polling ? setTimeout(poll, delay) : null;
    }

    function poll() {
      pollTimer = null;
      if (!polling || pollInFlight) { return; }
      pollInFlight = true;
      root.dataset.polls = String(parseInt(root.dataset.polls || "0", 10) + 1);
      var url = root.dataset.pollUrl + "?after=" + encodeURIComponent(lastId);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
        // A refused handshake reaches the browser only as 1006; the poll says why.
        if (r.redirected || r.status === 401 || r.status === 403) {
          var ended = new Error("refused"); ended.refused = r.status === 403 ? "access" : "session"; throw ended;
        }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (body) {
        pollInFlight = false;
        (body.events || []).forEach(deliver);
        schedulePoll(body.more ? 0 : POLL_MS);
      }).catch(function (err) {
        pollInFlight = false;
        if (err && err.refused) {
          stopPolling();
          stopped = true;
          if (socket) { socket.close(); }
          showBanner(err.refused === "access" ? "Live alerts need Alert Console or Siren access." :
            "Your session ended. Log in again to receive alerts.");
          return;
        }
        schedulePoll(POLL_MS);
      });
    }

    function checkDegraded() {
      if (polling || stopped || (socket && socket.readyState === WebSocket.OPEN)) { return; }
      if (failures >= DEGRADE_AFTER_FAILURES || (outageSince && Date.now() - outageSince >= DEGRADE_AFTER_MS)) {
        startPolling();
      }
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + root.dataset.wsPath + "?after=" + lastId);
      socket.onopen = function () {
        outageSince = 0;
        showStatus("");
        stopPolling(); // the socket's catch-up (?after=lastId) covers the gap
        root.dataset.connected = "1";
        // A link that drops again at once counts as failing: reset only once it held.
        stableTimer = setTimeout(function () { attempt = 0; failures = 0; }, STABLE_MS);
      };
      socket.onmessage = function (e) {
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        deliver(msg);
      };
      socket.onclose = function (e) {
        root.dataset.connected = "0";
        if (stableTimer) { clearTimeout(stableTimer); stableTimer = null; }
        if (stopped) { return; }
        // Refused for who the user is: neither reconnecting nor polling would help.
        if (e.code === 4401 || e.code === 4403) { stopped = true; stopPolling(); }
        if (e.code === 4401) { showStatus("Your session ended. Log in again to receive alerts."); return; }
        if (e.code === 4403) { showStatus("Live alerts need Alert Console or Siren access."); return; }
        attempt += 1;
        failures += 1;
        if (!outageSince) { outageSince = Date.now(); }
        checkDegraded();
        var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
        showStatus("Connection lost. Reconnecting in " + Math.round(delay / 1000) + " s…");
        timer = setTimeout(connect, delay);
      };
    }

    // A connection attempt that hangs produces no close event for a long time.
    setInterval(checkDegraded, 1000);

    setInterval(function () {
      if (socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "catch_up", after: lastId }));
      }
    }, RESYNC_MS);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "catch_up", after: lastId }));
      }
    });
    window.addEventListener("beforeunload", function () {
      stopped = true;
      if (timer) { clearTimeout(timer); }
      if (pollTimer) { clearTimeout(pollTimer); }
    });
    connect();
    return {
      lastId: function () { return lastId; },
      polling: function () { return polling; },
      drop: function () { if (socket) { socket.close(); } }, // for tests: simulate a dropped link
    };
  }

  window.PortalLive = { start: start };
})();
