// The picture form: a file over the size limit is refused before it is sent, with the server's own words
// (data-too-large). Without this script the server refuses it the same way, after the upload.
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    var note = document.createElement("p");
    note.className = "error";
    note.id = input.id + "-size";
    note.setAttribute("role", "alert");
    note.hidden = true;
    input.parentNode.insertBefore(note, input);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var tooLarge = Boolean(file) && file.size > Number(input.dataset.maxBytes);
      note.hidden = !tooLarge;
      note.textContent = tooLarge ? input.dataset.tooLarge : "";
      if (tooLarge) {
        input.value = "";
        input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + note.id).trim());
      }
    });
  });
})();
