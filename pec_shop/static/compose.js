// Compose form helpers: the running total of the ratios, a button to make it 100%, a new ingredient row taking
// what is left, and the price. The server checks every rule again.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  if (!form) { return; }
  var rows = Array.prototype.slice.call(form.querySelectorAll(".mix-row"));
  var totalOut = document.getElementById("ratio-total");
  var balance = document.getElementById("balance");
  var priceOut = document.getElementById("order-total");

  function ratioOf(row) { var v = parseInt(row.querySelector("input").value, 10); return isNaN(v) ? 0 : v; }
  function used(row) { return row.querySelector("select").value !== ""; }
  function total() { return rows.filter(used).reduce(function (s, r) { return s + ratioOf(r); }, 0); }

  function refresh() {
    var t = total();
    totalOut.textContent = t + "%";
    totalOut.className = t === 100 ? "ok" : "off";
    balance.hidden = t === 100 || !rows.some(used);
    var size = form.querySelector("input[name=bottle_size_ml]:checked");
    var qty = parseInt(form.quantity.value, 10);
    priceOut.textContent = size && qty > 0 ? "MYR " + (parseFloat(size.dataset.price) * qty).toFixed(2) : "–";
  }

  rows.forEach(function (row) {
    var select = row.querySelector("select"), input = row.querySelector("input");
    select.addEventListener("change", function () {
      if (select.value && !input.value) { input.value = Math.max(0, 100 - total()); }
      if (!select.value) { input.value = ""; }
      refresh();
    });
    input.addEventListener("input", refresh);
  });
  balance.addEventListener("click", function () {
    var last = rows.filter(used).pop();
    if (last) { last.querySelector("input").value = Math.max(1, ratioOf(last) + 100 - total()); }
    refresh();
  });
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();
})();
