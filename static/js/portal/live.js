/* The agency event stream: one websocket, reconnect with backoff, catch-up by event id.
 * Every event is dispatched once as a "portal:event" DOM event on document. */
(function () {
  "use strict";
  var STORE = "portal.lastEventId";
  var MAX_BACKOFF_MS = 30000;
  var RESYNC_MS = 30000; // ask for a catch-up now and then: a lost push is never lost for long

  function start(root) {
    if (root.dataset.live !== "1") { return null; }
    var pageId = parseInt(root.dataset.lastEventId || "0", 10);
    var stored = parseInt(sessionStorage.getItem(STORE) || "0", 10);
    // Within one tab, continue from the last event seen on the previous page.
    var lastId = stored > 0 && stored <= pageId ? stored : pageId;
    var attempt = 0, socket = null, stopped = false, timer = null;
    var status = document.getElementById("connection");

    function showStatus(text) {
      if (!status) { return; }
      status.hidden = !text;
      status.textContent = text || "";
    }

    function remember(id) {
      if (id > lastId) { lastId = id; sessionStorage.setItem(STORE, String(lastId)); }
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + root.dataset.wsPath + "?after=" + lastId);
      socket.onopen = function () {
        attempt = 0;
        showStatus("");
        root.dataset.connected = "1";
      };
      socket.onmessage = function (e) {
        var msg;
        try { msg = JSON.parse(e.data); } catch (err) { return; }
        if (msg.type !== "event" || typeof msg.id !== "number" || msg.id <= lastId) { return; }
        remember(msg.id);
        document.dispatchEvent(new CustomEvent("portal:event", { detail: msg }));
      };
      socket.onclose = function (e) {
        root.dataset.connected = "0";
        if (stopped) { return; }
        if (e.code === 4401) { showStatus("Your session ended. Log in again to receive alerts."); return; }
        if (e.code === 4403) { showStatus("Live alerts need Alert Console or Siren access."); return; }
        attempt += 1;
        var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
        showStatus("Connection lost. Reconnecting in " + Math.round(delay / 1000) + " s…");
        timer = setTimeout(connect, delay);
      };
    }

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
    window.addEventListener("beforeunload", function () { stopped = true; if (timer) { clearTimeout(timer); } });
    connect();
    return {
      lastId: function () { return lastId; },
      drop: function () { if (socket) { socket.close(); } }, // for tests: simulate a dropped link
    };
  }

  window.PortalLive = { start: start };
})();
