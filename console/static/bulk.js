// rosterd console: the users page's selection. The box in the table's
// header checks or clears every row of the page; "Select all N
// matching" is offered once every row is checked (without this script
// the page shows it always), and is cleared when a row is cleared.
(function () {
  var form = document.getElementById("bulk");
  if (!form) return;
  var rows = form.querySelectorAll("tbody input[type=checkbox][name=id]");
  var page = document.getElementById("select-page");
  var offer = document.getElementById("select-all");
  var all = document.getElementById("all-matching");
  function update() {
    var n = 0;
    rows.forEach(function (b) { if (b.checked) n++; });
    var every = rows.length > 0 && n === rows.length;
    if (page) {
      page.checked = every;
      page.indeterminate = n > 0 && !every;
    }
    if (offer) {
      offer.hidden = !every;
      if (!every && all) all.checked = false;
    }
  }
  if (page && rows.length > 0) {
    page.hidden = false;
    page.addEventListener("change", function () {
      rows.forEach(function (b) { b.checked = page.checked; });
      update();
    });
  }
  form.addEventListener("change", function (ev) {
    if (ev.target !== page && ev.target !== all) update();
  });
  update();
})();
