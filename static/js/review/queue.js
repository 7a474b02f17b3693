/* The live queue: rows re-rendered by the server whenever a review event arrives. */
(function () {
  "use strict";
  var root = document.getElementById("queue");
  if (!root) { return; }
  var body = document.getElementById("queue-rows");
  var count = document.getElementById("queue-count");
  var status = document.getElementById("live-status");
  var rowsUrl = root.getAttribute("data-rows-url");
  var target = parseFloat(root.getAttribute("data-target")) || 60;
  var loadedAt = performance.now();
  var pending = null;
  var fresh = {};
  var streamState = "connecting";

  function showStatus(text) {
    status.className = "live-status " + streamState;
    status.textContent = text || window.ReviewStream.statusText[streamState] || streamState;
  }

  function tick() {
    var elapsedSinceLoad = (performance.now() - loadedAt) / 1000;
    var rows = body.querySelectorAll("tr.queue-row");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var age = parseFloat(row.getAttribute("data-age")) + elapsedSinceLoad;
      var cell = row.querySelector(".elapsed");
      if (cell) { cell.textContent = window.ReviewTimers.format(age); }
      row.classList.toggle("overdue", age > target);
      row.classList.toggle("warn", age <= target && age >= 0.75 * target);
    }
  }

  function refresh() {
    pending = null;
    fetch(rowsUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("queue " + response.status); }
        return response.text();
      })
      .then(function (html) {
        body.innerHTML = html;
        loadedAt = performance.now();
        var rows = body.querySelectorAll("tr.queue-row");
        count.textContent = rows.length;
        for (var i = 0; i < rows.length; i++) {
          if (fresh[rows[i].getAttribute("data-incident")]) { rows[i].classList.add("fresh"); }
        }
        fresh = {};
        showStatus();
        tick();
      })
      .catch(function () {
        // While the stream is down its own state says more (reconnecting or polling);
        // only a refresh failing over a live link needs its own message.
        if (streamState === "live") { showStatus("Queue refresh failed — retrying"); }
        schedule(3000);
      });
  }

  function schedule(delay) {
    if (pending) { return; }
    pending = window.setTimeout(refresh, delay);
  }

  new window.ReviewStream({
    path: root.getAttribute("data-ws-path"),
    after: root.getAttribute("data-last-event"),
    onEvent: function (message) {
      if (message.kind.indexOf("review.") !== 0) { return; }
      if (message.kind === "review.queued" && message.incident_id) { fresh[message.incident_id] = true; }
      schedule(120);
    },
    onStatus: function (state) {
      streamState = state;
      showStatus();
      // After a reconnect the catch-up replays missed events; refresh once anyway.
      if (state === "live") { schedule(50); }
    }
  });

  tick();
  window.setInterval(tick, 1000);
  // Safety net: re-read the queue now and then even without events (an incident whose
  // announcement was lost still shows up within this time).
  window.setInterval(function () { schedule(0); }, 30000);
})();
