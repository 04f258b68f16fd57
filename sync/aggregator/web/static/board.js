// Live board: tiles replaced as the server sends them (server-sent events), durations
// ticking every second, and in TV/andon mode the areas shown in turn.
(function () {
  "use strict";
  function fmt(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + " min";
    return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-since]").forEach(function (el) { el.textContent = fmt(now - parseFloat(el.dataset.since)); });
  }
  setInterval(tick, 1000);
  var live = document.getElementById("live");
  if (window.EventSource && document.querySelector(".tile")) {
    var es = new EventSource("/events");
    es.addEventListener("tiles", function (ev) {
      JSON.parse(ev.data).forEach(function (d) {
        document.querySelectorAll('.tile[data-line="' + CSS.escape(d.line) + '"]').forEach(function (el) {
          el.outerHTML = d.html;
        });
      });
      tick();
    });
    es.onopen = function () { if (live) { live.textContent = "live"; live.classList.remove("down"); } };
    es.onerror = function () {
      if (live) { live.textContent = "reconnecting…"; live.classList.add("down"); }
      // The server refused the stream (the session ended): the page again, which asks
      // for a login when it must. A server away for a moment is retried by the browser.
      if (es.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 3000);
    };
  }
  var rotate = window.LINESIDE_ROTATE_S;
  if (rotate) {
    var areas = Array.prototype.slice.call(document.querySelectorAll("section.area"));
    var i = 0;
    if (areas.length > 1) setInterval(function () {
      areas[i].classList.remove("shown");
      i = (i + 1) % areas.length;
      areas[i].classList.add("shown");
    }, rotate * 1000);
    if (document.documentElement.requestFullscreen) {
      document.addEventListener("click", function () { document.documentElement.requestFullscreen().catch(function () {}); }, { once: true });
    }
  }
})();
