/* Alert Console toasters: a published incident pops up from the lower right. The red
 * border blinks until the toaster is closed or another user of the agency opens the
 * incident (the toaster then stays, naming who opened it); a reminder tone repeats until
 * the incident is opened. Opening the incident yourself, by any route (View Incident, the
 * list, a link, another of your consoles), closes the toaster: you have seen the alert,
 * and it would only cover the map and the nearby incidents. State survives page changes
 * within the tab (sessionStorage). */
(function () {
  "use strict";
  var STORE = "portal.toasts";
  var REMINDER_MS = 15000;
  var SNOOZE_MS = 120000;
  var FRESH_MS = 30 * 60 * 1000; // older published events (a long catch-up) do not toast

  function Toasters(root, sounds) {
    this.root = root;
    this.sounds = sounds;
    this.me = parseInt(root.dataset.userId, 10);
    this.urlTemplate = root.dataset.incidentUrlTemplate;
    this.box = document.getElementById("toasters");
    this.reminderMs = parseInt(root.dataset.reminderMs || "", 10) || REMINDER_MS;
    this.snoozeMs = parseInt(root.dataset.snoozeMs || "", 10) || SNOOZE_MS;
    try { this.state = JSON.parse(sessionStorage.getItem(STORE) || "{}"); } catch (e) { this.state = {}; }
    var self = this;
    Object.keys(this.state).forEach(function (id) { self.render(id); });
    // Alerts published before this console opened that nobody has opened yet.
    var pending = document.getElementById("pending-alerts");
    var waiting = [];
    try { waiting = pending ? JSON.parse(pending.textContent) : []; } catch (e) { waiting = []; }
    waiting.forEach(function (alert) {
      self.published({ incident_id: alert.payload.incident_id, created_at: alert.published_at, payload: alert.payload });
    });
    window.addEventListener("resize", function () { self.arrange(); });
    setInterval(function () { self.remind(); }, this.reminderMs);
    setInterval(function () { self.wake(); }, 1000);
  }

  Toasters.prototype.save = function () { sessionStorage.setItem(STORE, JSON.stringify(this.state)); };

  Toasters.prototype.url = function (p) {
    return this.urlTemplate.replace("{system_id}", encodeURIComponent(p.system_id)).replace("{number}", encodeURIComponent(p.number));
  };

  Toasters.prototype.published = function (msg) {
    var p = msg.payload || {};
    var id = String(msg.incident_id || p.incident_id || p.id);
    if (!id || this.state[id]) { return; }
    if (Date.now() - Date.parse(msg.created_at) > FRESH_MS) { return; }
    this.state[id] = { payload: p, status: "active", opened: false, openedBy: "", snoozeUntil: 0 };
    this.save();
    this.render(id);
    this.sounds.play("reminder");
  };

  Toasters.prototype.opened = function (msg) {
    var p = msg.payload || {};
    var id = String(msg.incident_id || p.incident_id);
    var t = this.state[id];
    var mine = p.user_id === this.me;
    // Every user's first opening is announced: yours closes the toaster even when a
    // colleague opened the incident before you.
    if (!t || (t.opened && !mine)) { return; }
    if (!t.opened) {
      t.opened = true;
      t.openedBy = mine ? "you" : (p.user || "another user");
    }
    if (mine) { t.status = "dismissed"; }
    this.save();
    this.render(id);
  };

  // A withdrawn alert (reclassified as not gunfire) needs no more attention.
  Toasters.prototype.cancelled = function (msg) {
    var id = String(msg.incident_id);
    var t = this.state[id];
    if (!t || t.opened) { return; }
    t.opened = true;
    t.cancelled = true;
    this.save();
    this.render(id);
  };

  Toasters.prototype.remind = function () {
    var now = Date.now(), self = this;
    var due = Object.keys(this.state).some(function (id) {
      var t = self.state[id];
      return !t.opened && t.status !== "dismissed" && !(t.status === "snoozed" && t.snoozeUntil > now);
    });
    if (due) { this.sounds.play("reminder"); }
  };

  Toasters.prototype.wake = function () {
    var now = Date.now(), self = this;
    Object.keys(this.state).forEach(function (id) {
      var t = self.state[id];
      if (t.status === "snoozed" && t.snoozeUntil <= now) { t.status = "active"; self.save(); self.render(id); }
    });
  };

  function line(parent, label, value, cls) {
    if (value === null || value === undefined || value === "") { return; }
    var dt = document.createElement("dt"); dt.textContent = label;
    var dd = document.createElement("dd"); dd.textContent = value; dd.className = cls;
    parent.appendChild(dt); parent.appendChild(dd);
  }

  function formatTime(iso, tz) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    try {
      return d.toLocaleString([], { timeZone: tz || undefined, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
    } catch (e) { return d.toLocaleString(); }
  }

  Toasters.prototype.render = function (id) {
    var t = this.state[id], self = this;
    var el = this.box.querySelector('[data-incident-id="' + id + '"]');
    if (!t || t.status === "dismissed" || (t.status === "snoozed" && t.snoozeUntil > Date.now())) {
      if (el) { el.remove(); this.arrange(); }
      return;
    }
    var p = t.payload;
    if (!el) {
      el = document.createElement("section");
      el.className = "toaster";
      el.dataset.incidentId = id;
      el.setAttribute("role", "alertdialog");
      el.setAttribute("aria-label", "Gunfire alert");
      var h = document.createElement("h2");
      h.textContent = (p.type_label || p.type || "Gunfire") + " · " + (p.system_id ? p.system_id + "-" + p.number : "");
      el.appendChild(h);
      var dl = document.createElement("dl");
      line(dl, "Time", formatTime(p.time || p.first_shot_at, this.root.dataset.timeZone), "t-time");
      line(dl, "Coverage area", p.coverage_area, "t-area");
      line(dl, "Type", p.type_label || p.type, "t-type");
      line(dl, "Rounds", p.rounds, "t-rounds");
      line(dl, "Nearest address", p.nearest_address, "t-address");
      line(dl, "Beat", p.beat, "t-beat");
      line(dl, "District", p.district, "t-district");
      el.appendChild(dl);
      var note = document.createElement("p"); note.className = "t-opened"; el.appendChild(note);
      var actions = document.createElement("div"); actions.className = "t-actions";
      var view = document.createElement("a");
      view.className = "button view"; view.textContent = "View Incident"; view.href = this.url(p);
      view.addEventListener("click", function () { t.status = "dismissed"; self.save(); });
      var dismiss = document.createElement("button");
      dismiss.type = "button"; dismiss.className = "secondary dismiss"; dismiss.textContent = "Dismiss";
      dismiss.addEventListener("click", function () { t.status = "dismissed"; self.save(); self.render(id); });
      var snooze = document.createElement("button");
      snooze.type = "button"; snooze.className = "secondary snooze"; snooze.textContent = "Snooze";
      snooze.addEventListener("click", function () { t.status = "snoozed"; t.snoozeUntil = Date.now() + self.snoozeMs; self.save(); self.render(id); });
      actions.appendChild(view); actions.appendChild(dismiss); actions.appendChild(snooze);
      el.appendChild(actions);
      this.box.appendChild(el);
    }
    el.classList.toggle("blinking", !t.opened);
    el.querySelector(".t-opened").textContent = t.cancelled ? "Cancelled by the review center." :
      (t.opened ? "Opened by " + t.openedBy + "." : "Not opened yet.");
    this.arrange();
  };

  // The newest toaster sits in the corner, in full; older ones shrink to time and address.
  // Nothing scrolls inside the stack: the oldest toasters that do not fit on the screen
  // are hidden (they come back when newer ones are closed) and counted above the rest.
  Toasters.prototype.arrange = function () {
    var all = this.box.querySelectorAll(".toaster");
    var more = this.box.querySelector(".toasters-more");
    var i;
    for (i = 0; i < all.length; i++) {
      all[i].classList.toggle("compact", i < all.length - 1);
      all[i].hidden = false;
    }
    if (more) { more.hidden = true; }
    var hidden = 0;
    var limit = parseFloat(getComputedStyle(this.box).maxHeight) || window.innerHeight;
    while (hidden < all.length - 1 && this.box.scrollHeight > limit) {
      all[hidden].hidden = true;
      hidden += 1;
      if (!more) {
        more = document.createElement("p");
        more.className = "toasters-more";
        more.setAttribute("role", "status");
        this.box.insertBefore(more, this.box.firstChild);
      }
      more.textContent = "+" + hidden + " older alert" + (hidden === 1 ? "" : "s") + " (see the list)";
      more.hidden = false;
    }
  };

  window.PortalToasters = Toasters;
})();
