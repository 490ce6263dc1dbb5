// Petition page and "check your email" page: small enhancements; everything works without them.
(function () {
  "use strict";

  // "Copy embed code" buttons (the code can be selected and copied without them).
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

  // The phone's own share sheet, where the browser has one; the plain share links stay beside it.
  // Its row is as tall as the button, so showing it moves nothing on the page.
  if (navigator.share) {
    document.querySelectorAll("button.web-share").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.share({ title: button.dataset.title, url: button.dataset.url }).catch(function () {
          // Closed without sharing, or not allowed: the links below still work.
        });
      });
    });
  }

  // "Sign this petition" links to #name; browsers that scroll to a fragment without focusing it get focus too.
  document.querySelectorAll("a[data-focus]").forEach(function (link) {
    link.addEventListener("click", function () {
      var target = document.getElementById(link.dataset.focus);
      if (target) window.setTimeout(function () { target.focus(); }, 0);
    });
  });
})();
