// Petition page: a "copy embed code" button (the code can be selected and copied without it).
(function () {
  "use strict";
  document.querySelectorAll("button.copy").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    var status = button.nextElementSibling;
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.value).then(function () {
        if (status) status.textContent = status.dataset.copied || "Copied.";
      });
    });
  });
})();
