// rosterd console: the copy buttons. A button with data-copy="ID" copies
// the value of the element ID to the clipboard and says so in its
// status (aria-live), for keyboard and screen-reader users alike.
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  var field = document.getElementById(btn.getAttribute("data-copy"));
  var status = document.getElementById(btn.getAttribute("data-copy") + "-status");
  if (!field) return;
  var text = field.value !== undefined ? field.value : field.textContent;
  var done = function (msg) { if (status) status.textContent = msg; };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(function () { done("Copied."); }, function () {
      field.select && field.select();
      done("Copy failed: the text is selected, press Ctrl+C.");
    });
  } else {
    field.select && field.select();
    done("The text is selected, press Ctrl+C.");
  }
});
