// Kaptain console: htmx settings. Error responses (403, 409) of the approve/reject buttons
// carry the re-rendered row with the reason, so swap them too; 401 carries HX-Redirect.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "(403|404|409|503)", swap: true, error: true },
    { code: "[45]..", swap: false, error: true },
  ];
});

// The chat box: after an answer arrives, empty the question field for the next one.
document.addEventListener("htmx:afterRequest", function (e) {
  const form = e.detail.elt;
  if (form && form.matches && form.matches("form.ask") && e.detail.successful) {
    form.reset();
    const q = form.querySelector("input[name=q]");
    if (q) { q.value = ""; q.focus(); }
  }
});
