/* The upload form: a file dropped on the zone goes into the file input; the dry run is sent
   with XMLHttpRequest so a large file shows its progress. The server answers as for a plain
   form (a redirect to the report, or the form again with the refusal in words), so the page
   works without this script too. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("upload-file");
  var shown = document.getElementById("drop-name");
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var button = document.getElementById("check-button");

  function showName() {
    shown.textContent = input.files.length ? form.dataset.chosen + " " + input.files[0].name : "";
  }
  input.addEventListener("change", showName);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      showName();
    }
  });

  function showError(message) {
    var box = document.getElementById("upload-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "upload-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      form.parentNode.insertBefore(box, form);
    }
    box.textContent = message;
  }

  form.addEventListener("submit", function (e) {
    if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }
    e.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (p) {
      if (p.lengthComputable) {
        bar.value = Math.round(100 * p.loaded / p.total);
        status.textContent = form.dataset.uploading + " " + bar.value + "%";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value");  // indeterminate while the server checks
      status.textContent = form.dataset.checking;
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 && xhr.responseURL && xhr.responseURL.indexOf("/uploads/pending/") >= 0) {
        window.location.assign(xhr.responseURL);
        return;
      }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var error = doc.querySelector(".error");
      finish();
      showError(error ? error.textContent : form.dataset.unfinished.replace("%(status)s", xhr.status));
    });
    xhr.addEventListener("error", function () {
      finish();
      showError(form.dataset.broken);
    });
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.textContent = form.dataset.uploading;
    xhr.send(new FormData(form));
  });

  function finish() {
    button.disabled = false;
    bar.hidden = true;
    status.textContent = "";
  }
}());
