// Compose form helpers: the running total of the ratios, a button to make it 100%, a new ingredient row taking
// what is left, the price, and a check of the label image before it is sent (size and type, with the message the
// server would give). The server checks every rule again; without JavaScript the form works the same.
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

  var image = document.getElementById("label_image");

  function sizeText(n) {  // as the shop writes sizes: MiB from 1 MiB, KiB below
    if (n >= 1048576) { return (n / 1048576).toFixed(1) + " MiB"; }
    if (n >= 1024) { return (n / 1024).toFixed(1) + " KiB"; }
    return n.toLocaleString("en") + " bytes";
  }

  function imageProblem() {
    var file = image.files && image.files[0];
    if (!file) { return ""; }
    if (file.size > parseInt(image.getAttribute("data-max-bytes"), 10)) {
      return "The image is " + sizeText(file.size) + " (" + file.size.toLocaleString("en") + " bytes); choose one " +
        "of at most " + image.getAttribute("data-max-text") + ".";
    }
    var known = file.type ? /^image\/(png|jpeg)$/.test(file.type) : /\.(png|jpe?g)$/i.test(file.name);
    return known ? "" : "The file is " + (file.type || "of an unknown type") + "; choose a PNG or JPEG image.";
  }

  function showImageProblem(text) {
    var box = document.getElementById("label_image-error");
    if (!box && text) {
      box = document.createElement("div");
      box.className = "error";
      box.id = "label_image-error";
      image.parentNode.appendChild(box);
    }
    if (box) { box.textContent = text; box.hidden = !text; }
    image.parentNode.classList.toggle("invalid", !!text);
    if (text) {
      image.setAttribute("aria-invalid", "true");
      image.setAttribute("aria-describedby", "label_image-error");
    } else {
      image.removeAttribute("aria-invalid");
    }
  }

  image.addEventListener("change", function () { showImageProblem(imageProblem()); });
  form.addEventListener("submit", function (event) {
    var problem = imageProblem();
    if (problem) {
      event.preventDefault();
      showImageProblem(problem);
      image.focus();
    }
  });
})();
