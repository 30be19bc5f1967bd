// The "Start import" button disables itself on the first click, so a double
// click sends one request. (The server's import lock refuses a second launch
// anyway.)
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var form = document.getElementById("launch-import-form");
  var button = document.getElementById("launch-import-submit");
  if (!form || !button) {
    return;
  }
  form.addEventListener("submit", function (event) {
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    button.disabled = true;
    button.value = "Starting\u2026";
  });
});
