/* Review stream client: /ws/review/ with catch-up (?after=<last id>) and reconnect backoff.
 * ReviewStream({path, after, onEvent(message), onStatus(state)}); states: connecting, live,
 * reconnecting, polling, closed (the server refused the session: log in again).
 *
 * "polling": the websocket kept failing (DEGRADE_AFTER_FAILURES closes without a link that
 * held STABLE_MS, or no link for DEGRADE_AFTER_MS), so events are fetched every POLL_MS from
 * /live/review/events?after=<last id> (the same stream and checks) until the socket is back. */
(function () {
  "use strict";
  var DEGRADE_AFTER_FAILURES = 3;
  var DEGRADE_AFTER_MS = 15000;
  var STABLE_MS = 10000;
  var POLL_MS = 10000;

  function ReviewStream(options) {
    this.path = options.path || "/ws/review/";
    this.pollPath = options.pollPath || this.path.replace(/^\/ws\//, "/live/") + "events";
    this.lastId = parseInt(options.after, 10) || 0;
    this.onEvent = options.onEvent || function () {};
    this.onStatus = options.onStatus || function () {};
    this.backoff = 1000;
    this.socket = null;
    this.stopped = false;
    this.failures = 0;
    this.outageSince = Date.now();
    this.polling = false;
    this.pollTimer = null;
    this.pollInFlight = false;
    var self = this;
    // A connection attempt that hangs produces no close event for a long time.
    window.setInterval(function () { self.checkDegraded(); }, 1000);
    document.addEventListener("visibilitychange", function () {
      // A tab that slept may have missed pushes; ask for everything after the last id.
      if (document.visibilityState === "visible") { self.catchUp(); }
    });
    this.connect();
  }

  ReviewStream.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + this.path + "?after=" + this.lastId;
    if (!this.polling) { this.onStatus(this.socket ? "reconnecting" : "connecting"); }
    var socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = function () {
      self.outageSince = 0;
      self.stopPolling(); // the socket's catch-up (?after=lastId) covers the gap
      self.onStatus("live");
      // A link that drops again at once counts as failing: reset only once it held.
      self.stableTimer = window.setTimeout(function () { self.backoff = 1000; self.failures = 0; }, STABLE_MS);
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      self.deliver(data);
    };
    socket.onclose = function (event) {
      if (self.stableTimer) { window.clearTimeout(self.stableTimer); self.stableTimer = null; }
      if (self.stopped) { return; }
      if (event.code === 4401 || event.code === 4403) {
        self.stopped = true; // refused for who the user is: neither reconnecting nor polling helps
        self.stopPolling();
        self.onStatus("closed");
        return;
      }
      self.failures += 1;
      if (!self.outageSince) { self.outageSince = Date.now(); }
      self.checkDegraded();
      if (!self.polling) { self.onStatus("reconnecting"); }
      var wait = self.backoff + Math.floor(Math.random() * 400);
      self.backoff = Math.min(self.backoff * 2, 30000);
      window.setTimeout(function () { self.connect(); }, wait);
    };
  };

  // One way in for every event, whether it came by websocket or by polling.
  ReviewStream.prototype.deliver = function (data) {
    if (!data || data.type !== "event" || typeof data.id !== "number") { return; }
    if (data.id <= this.lastId) { return; }
    this.lastId = data.id;
    this.onEvent(data);
  };

  ReviewStream.prototype.checkDegraded = function () {
    if (this.polling || this.stopped || (this.socket && this.socket.readyState === WebSocket.OPEN)) { return; }
    if (this.failures >= DEGRADE_AFTER_FAILURES || (this.outageSince && Date.now() - this.outageSince >= DEGRADE_AFTER_MS)) {
      this.polling = true;
      this.onStatus("polling");
      this.poll();
    }
  };

  ReviewStream.prototype.stopPolling = function () {
    this.polling = false;
    if (this.pollTimer) { window.clearTimeout(this.pollTimer); this.pollTimer = null; }
  };

  ReviewStream.prototype.poll = function () {
    var self = this;
    self.pollTimer = null;
    if (!self.polling || self.pollInFlight) { return; }
    self.pollInFlight = true;
    function again(delay) {
      self.pollInFlight = false;
      if (self.polling) { self.pollTimer = window.setTimeout(function () { self.poll(); }, delay); }
    }
    fetch(self.pollPath + "?after=" + encodeURIComponent(self.lastId), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.redirected || response.status === 401 || response.status === 403) {
        self.pollInFlight = false;
        self.stop();
        self.onStatus("closed");
        return null;
      }
      if (!response.ok) { throw new Error("poll " + response.status); }
      return response.json().then(function (body) {
        (body.events || []).forEach(function (data) { self.deliver(data); });
        again(body.more ? 0 : POLL_MS);
      });
    }).catch(function () { again(POLL_MS); });
  };

  ReviewStream.prototype.catchUp = function () {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "catch_up", after: this.lastId }));
    }
  };

  ReviewStream.prototype.stop = function () {
    this.stopped = true;
    this.stopPolling();
    if (this.socket) { this.socket.close(); }
  };

  var STATUS_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    polling: "Live updates interrupted – checking every " + POLL_MS / 1000 + " s",
    closed: "Disconnected — log in again"
  };

  window.ReviewStream = ReviewStream;
  window.ReviewStream.statusText = STATUS_TEXT;

  /* Running timers: elements with data-age (seconds at render) and data-target. */
  window.ReviewTimers = {
    format: function (seconds) {
      seconds = Math.max(0, Math.floor(seconds));
      if (seconds < 60) { return seconds + " s"; }
      var m = Math.floor(seconds / 60), s = seconds % 60;
      if (m < 60) { return m + ":" + (s < 10 ? "0" : "") + s; }
      var h = Math.floor(m / 60);
      m = m % 60;
      return h + " h " + (m < 10 ? "0" : "") + m + " min";
    }
  };
})();
