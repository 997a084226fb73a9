// Live order page: the server sends the order JSON whenever it changes; the page re-renders its own section
// from the server's HTML, so there is one way the page is drawn (the first event too: a change may have come
// between drawing and connecting). Without JavaScript, <noscript> refreshes the page every 5 s.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("order", function () {
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { live.innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* the next change tries again */ });
  });
})();
