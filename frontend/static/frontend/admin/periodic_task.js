// The periodic-task admin form: show the chosen crontab in words under the
// crontab field (django-celery-beat's inline script, as a static file so the
// CSP allows it). Text is set with textContent: schedule names are data.
(function () {
  "use strict";
  function start() {
    const data = document.getElementById("readable-crontabs");
    const select = document.getElementById("id_crontab");
    if (!data || !select) return;
    const readable = JSON.parse(data.textContent);
    const help = document.querySelector(".field-crontab .help");
    const original = help ? help.textContent : "";
    const translation = document.querySelector(".field-crontab_translation");
    if (translation) translation.hidden = true;
    select.addEventListener("change", function () {
      if (!help) return;
      help.textContent = original;
      const words = readable[select.value];
      if (words) {
        help.appendChild(document.createElement("br"));
        help.appendChild(document.createTextNode("Translation: " + words));
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
