// Roster console: small enhancements over pages that work without script.
// Copy buttons, confirmation of destructive forms, and times in the reader's time zone.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  var field = document.querySelector(b.getAttribute("data-copy"));
  if (!field) return;
  field.select();
  var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, done); else { document.execCommand("copy"); done(); }
});
document.addEventListener("submit", function (e) {
  var by = e.submitter && e.submitter.getAttribute("data-confirm");
  var message = by || e.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) e.preventDefault();
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
  });
});
