/* Plays stored incident audio. Pressing play is one audited playback: a POST (CSRF) to the
   clip's playback URL writes the audit event and answers a short-lived, single-use URL the
   <audio> element fetches (Range requests included). Playing again asks for a new one. */
(function () {
  "use strict";

  function authorize(url, csrf) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.url) {
          throw new Error(body.detail || body.title || ("HTTP " + response.status));
        }
        return body;
      });
    });
  }

  // Authorise, point the element at the playback URL, resolve once its duration is known.
  function load(audio, playUrl, csrf) {
    return authorize(playUrl, csrf).then(function (grant) {
      return new Promise(function (resolve, reject) {
        function settle(error) {
          audio.removeEventListener("loadedmetadata", loaded);
          audio.removeEventListener("error", failed);
          if (error) { reject(error); } else { resolve(audio); }
        }
        function loaded() { settle(null); }
        function failed() { settle(new Error("the clip could not be loaded")); }
        audio.addEventListener("loadedmetadata", loaded);
        audio.addEventListener("error", failed);
        audio.src = grant.url;
        audio.load();
      });
    });
  }

  window.EvidencePlayback = { load: load };

  /* Portal players: <div class="evidence-player" data-play-url data-csrf> with a .play
     button, a .play-state and an <audio>. Delegated: details panes are re-rendered live. */
  function setState(player, playing, text) {
    player.classList.toggle("playing", playing);
    player.querySelector(".play").textContent = playing ? "■ Stop" : "▶ Play";
    player.querySelector(".play-state").textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".evidence-player .play");
    if (!button) { return; }
    var player = button.closest(".evidence-player");
    var audio = player.querySelector("audio");
    if (player.classList.contains("playing")) {
      audio.pause();
      setState(player, false, "stopped");
      return;
    }
    player.querySelector(".play-state").textContent = "loading…";
    load(audio, player.getAttribute("data-play-url"), player.getAttribute("data-csrf")).then(function () {
      return audio.play();
    }).then(function () {
      setState(player, true, "playing (logged)");
    }).catch(function (error) {
      setState(player, false, "cannot play: " + error.message.slice(0, 200));
    });
  });

  document.addEventListener("ended", function (event) {
    var player = event.target.closest && event.target.closest(".evidence-player");
    if (player) { setState(player, false, "played"); }
  }, true);
})();
