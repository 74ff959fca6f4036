/* The parcel page's photo form: the photo is made ready on the device (EXIF read, resized
   to the display size: field_photos.js) and sent through the API, as the field app sends
   it. Without this script the form sends the camera's file to the page, which does the
   same on the server. */
(function () {
  "use strict";
  var form = document.querySelector("form.photo-upload");
  if (!form || !window.geoFieldPhotos || !window.fetch) return;
  var input = form.querySelector("input[name=photo]");
  var keep = form.querySelector("input[name=keep_original]");
  var status = form.querySelector(".photo-status");
  var button = form.querySelector("button[type=submit]");
  var parcel = form.getAttribute("data-parcel");

  function failed(reason) {
    status.textContent = form.getAttribute("data-failed").replace("%(reason)s", reason);
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) return;
    event.preventDefault();
    button.disabled = true;
    status.textContent = form.getAttribute("data-sending");
    window.geoFieldPhotos.prepare(file, { keepOriginal: keep && keep.checked })
      .then(function (prepared) {
        return window.geoFieldPhotos.upload(parcel, prepared, {
          version: form.getAttribute("data-version")
        });
      })
      .then(function (response) {
        if (response.ok) {
          // Read to its end first: leaving the page mid-answer would abort the request.
          return response.text().then(function () {
            window.location = "/parcels/%23" + parcel + "?done=photo#photos";
          });
        }
        return response.json().then(function (body) {
          failed(body.words || body.detail || String(response.status));
        }, function () { failed(String(response.status)); });
      })
      .catch(function (error) { failed(error && error.message ? error.message : String(error)); });
  });
})();
