/* Photos taken on site, made ready on the phone and sent to POST /api/parcels/{id}/photos.

   window.geoFieldPhotos = {
     prepare(file, {maxEdge, quality = 0.85, keepOriginal = false})
       -> Promise<{photo: Blob, original: Blob|null, takenAt: string|null, lon, lat}>
     upload(parcelId, prepared, {version, accuracy_m, fetch}) -> Promise<Response>
   }

   The camera's EXIF (time, GPS) is read with exifr BEFORE the photo is resized on a
   canvas: a canvas keeps pixels only, so the resized JPEG carries no EXIF, and what it
   said travels as form fields instead. maxEdge defaults to the page's
   <meta name="geo-photo-max-edge"> (the service's PHOTO_DISPLAY_EDGE), else 1600 px.
   The page loads exifr's lite build (/static/vendor/exifr/dist/lite.umd.js) first; without
   it the photo is still resized and sent, with no time or position of its own.
   A photo is taken with <input type="file" accept="image/*" capture="environment">. */
(function () {
  "use strict";

  var DEFAULT_EDGE = 1600;

  function pageEdge() {
    var meta = document.querySelector('meta[name="geo-photo-max-edge"]');
    var edge = meta ? parseInt(meta.getAttribute("content"), 10) : NaN;
    return edge > 0 ? edge : DEFAULT_EDGE;
  }

  /* EXIF's "YYYY:MM:DD HH:MM:SS" as ISO; without an offset the service reads it as China
     time, as it reads a camera's clock. */
  function isoTime(raw, offset) {
    var match = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(String(raw || ""));
    if (!match) return null;
    var iso = match[1] + "-" + match[2] + "-" + match[3] + "T" +
      match[4] + ":" + match[5] + ":" + match[6];
    return /^[+-]\d{2}:\d{2}$/.test(String(offset || "")) ? iso + offset : iso;
  }

  function readExif(file) {
    var exifr = window.exifr;
    if (!exifr) return Promise.resolve({ takenAt: null, lon: null, lat: null });
    // Raw values (reviveValues: false): a revived date would be read in the phone's zone.
    // exifr's lite build fails on `pick`, so the whole (small) IFDs are read.
    var when = exifr.parse(file, { ifd0: true, exif: true, gps: false, reviveValues: false })
      .catch(function () { return null; });
    var where = exifr.gps(file).catch(function () { return null; });
    return Promise.all([when, where]).then(function (found) {
      var tags = found[0] || {};
      var gps = found[1] || {};
      var raw = tags.DateTimeOriginal || tags.CreateDate || tags.ModifyDate;
      var ok = isFinite(gps.latitude) && isFinite(gps.longitude) &&
        !(gps.latitude === 0 && gps.longitude === 0);
      return {
        takenAt: isoTime(raw, tags.OffsetTimeOriginal),
        lon: ok ? gps.longitude : null,
        lat: ok ? gps.latitude : null
      };
    });
  }

  /* The image decoded upright (browsers apply the EXIF orientation when decoding). */
  function decode(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).catch(function () {
        return decodeWithImg(file);
      });
    }
    return decodeWithImg(file);
  }

  function decodeWithImg(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () {
        URL.revokeObjectURL(url);
        reject(new Error("not an image the browser can read"));
      };
      img.src = url;
    });
  }

  function resized(file, maxEdge, quality) {
    return decode(file).then(function (image) {
      var width = image.naturalWidth || image.width;
      var height = image.naturalHeight || image.height;
      var scale = Math.min(1, maxEdge / Math.max(width, height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      var context = canvas.getContext("2d");
      context.imageSmoothingQuality = "high";
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      if (image.close) image.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob) resolve(blob); else reject(new Error("the photo could not be resized"));
        }, "image/jpeg", quality);
      });
    });
  }

  /* An iPhone's HEIC, which only some browsers can draw on a canvas. */
  function isHeic(file) {
    return /^image\/hei[cf]$/i.test(file.type || "") || /\.hei[cf]$/i.test(file.name || "");
  }

  function prepare(file, options) {
    options = options || {};
    var maxEdge = options.maxEdge > 0 ? options.maxEdge : pageEdge();
    var quality = options.quality > 0 && options.quality <= 1 ? options.quality : 0.85;
    return readExif(file).then(function (exif) {
      // A HEIC this browser cannot draw goes as taken: the service makes the display
      // JPEG from it and keeps it as the original.
      var made = resized(file, maxEdge, quality).catch(function (error) {
        if (isHeic(file)) return file;
        throw error;
      });
      return made.then(function (photo) {
        return {
          photo: photo,
          original: options.keepOriginal && photo !== file ? file : null,
          takenAt: exif.takenAt,
          lon: exif.lon,
          lat: exif.lat
        };
      });
    });
  }

  function setIf(form, name, value) {
    if (value !== null && value !== undefined && value !== "") form.append(name, String(value));
  }

  function upload(parcelId, prepared, options) {
    options = options || {};
    var send = options.fetch || window.fetch.bind(window);
    var form = new FormData();
    form.append("photo", prepared.photo, prepared.photo.name || "photo.jpg");
    if (prepared.original) {
      form.append("original", prepared.original, prepared.original.name || "original.jpg");
    }
    setIf(form, "taken_at", prepared.takenAt);
    setIf(form, "lon", prepared.lon);
    setIf(form, "lat", prepared.lat);
    var accuracy = options.accuracy_m !== undefined ? options.accuracy_m : prepared.accuracy_m;
    if (prepared.lon !== null && prepared.lon !== undefined) setIf(form, "accuracy_m", accuracy);
    setIf(form, "version", options.version);
    return send("/api/parcels/" + encodeURIComponent(parcelId) + "/photos", {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    });
  }

  window.geoFieldPhotos = { prepare: prepare, upload: upload, isoTime: isoTime };
})();
