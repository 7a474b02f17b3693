/* Review stream client: /ws/review/ with catch-up (?after=<last id>) and reconnect backoff.
 * ReviewStream({path, after, onEvent(message), onStatus(state)}); states: connecting, live,
 * reconnecting, closed (the server refused the session: log in again). */
(function () {
  "use strict";

  function ReviewStream(options) {
    this.path = options.path || "/ws/review/";
    this.lastId = parseInt(options.after, 10) || 0;
    this.onEvent = options.onEvent || function () {};
    this.onStatus = options.onStatus || function () {};
    this.backoff = 1000;
    this.socket = null;
    this.stopped = false;
    var self = this;
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
    this.onStatus(this.socket ? "reconnecting" : "connecting");
    var socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = function () {
      self.backoff = 1000;
      self.onStatus("live");
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (!data || data.type !== "event" || typeof data.id !== "number") { return; }
      if (data.id <= self.lastId) { return; }
      self.lastId = data.id;
      self.onEvent(data);
    };
    socket.onclose = function (event) {
      if (self.stopped) { return; }
      if (event.code === 4401 || event.code === 4403) {
        self.onStatus("closed");
        return;
      }
      self.onStatus("reconnecting");
      var wait = self.backoff + Math.floor(Math.random() * 400);
      self.backoff = Math.min(self.backoff * 2, 30000);
      window.setTimeout(function () { self.connect(); }, wait);
    };
  };

  ReviewStream.prototype.catchUp = function () {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "catch_up", after: this.lastId }));
    }
  };

  ReviewStream.prototype.stop = function () {
    this.stopped = true;
    if (this.socket) { this.socket.close(); }
  };

  var STATUS_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
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
