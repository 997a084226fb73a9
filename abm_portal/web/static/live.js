// Live refresh of "My subscriptions" (progressive enhancement: the page works fully without it).
// Polls a small JSON fingerprint; when it changes, fetches the page again and swaps the live region.
(function () {
  "use strict";
  var region = document.getElementById("live-region");
  var status = document.getElementById("live-status");
  if (!region || !window.fetch || !window.DOMParser) { return; }
  var url = region.getAttribute("data-live-url");
  var interval = 2000;
  var busy = false;

  function say(text) { if (status) { status.textContent = text; } }

  function hasFocusInside() { return region.contains(document.activeElement) && document.activeElement !== region; }

  function swap() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Live-Refresh": "1" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live-region");
        if (!fresh) { return; }
        region.innerHTML = fresh.innerHTML;
        region.setAttribute("data-live-version", fresh.getAttribute("data-live-version"));
        // The server's time, written as every time in the portal (UTC), never the browser's clock or zone.
        say("Updated " + fresh.getAttribute("data-updated-at"));
      });
  }

  function tick() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (body) {
        // Do not pull the page from under someone who is typing or about to press a button in it.
        if (body.version !== region.getAttribute("data-live-version") && !hasFocusInside()) { return swap(); }
      })
      .catch(function () { say("Live updates paused; reload the page to see the latest state."); })
      .then(function () { busy = false; });
  }

  say("Live updates on");
  window.setInterval(tick, interval);
}());
