// Scan screens: a keyboard-wedge scanner types into the focused field and ends with Enter;
// the phone's camera decodes with the browser's BarcodeDetector or, where there is none,
// the vendored ZXing polyfill. Each scan is checked by the server at once, in the order
// scanned, and answered with a colour, a sound (and a vibration where refused); accepted
// scans go into the form's list of codes, which the Book button posts.
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form) { return; }
  var box = form.querySelector("[data-scanbox]");
  var field = document.getElementById("scan");
  var status = document.getElementById("scan-status");
  var codes = document.getElementById("codes");
  var lines = document.getElementById("scan-lines");
  var csrf = form.querySelector("input[name=csrf]").value;
  var VENDOR = "/static/vendor/barcode-detector-3.2.2/";
  box.hidden = false;
  form.querySelector("[data-codes-box]").removeAttribute("open");
  field.focus();

  var audio = null;
  function beep(outcome) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain(), t = audio.currentTime;
      osc.type = outcome === "accepted" ? "sine" : "square";
      osc.frequency.value = { accepted: 1200, duplicate: 600, refused: 220 }[outcome] || 220;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + (outcome === "accepted" ? 0.08 : 0.35));
    } catch (e) { /* no audio: the colour and the text still say it */ }
  }

  function show(outcome, text) {
    box.dataset.outcome = outcome;
    status.textContent = text;
    beep(outcome);
    if (outcome !== "accepted" && navigator.vibrate) { navigator.vibrate(250); }
  }

  // scans are checked one after another: each check sees the codes accepted before it
  var queue = Promise.resolve();
  function scan(code) {
    queue = queue.then(function () { return check(code); }).catch(function () {
      show("refused", status.dataset.offline || "—");
    });
  }

  function check(code) {
    var body = new FormData(form);
    body.delete("action");
    body.set("code", code);
    return fetch(field.dataset.check, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.outcome === "accepted") {
          var list = codes.value.replace(/\n*$/, "");
          codes.value = (list ? list + "\n" : "") + code + "\n";
        }
        if (typeof data.html === "string") { lines.innerHTML = data.html; }
        show(data.outcome, (data.label ? data.label + ": " : "") + data.message);
      });
  }

  field.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey && (ev.key === "]" || ev.code === "BracketRight")) {
      // many scanners send the GS1 separator (GS, 0x1D) as Ctrl+]
      ev.preventDefault();
      var at = field.selectionStart || field.value.length;
      field.value = field.value.slice(0, at) + "\u001d" + field.value.slice(at);
      return;
    }
    if (ev.key === "Enter") {
      ev.preventDefault();  // Enter ends a scan, it does not submit the form
      var code = field.value;
      field.value = "";
      if (code.trim()) { scan(code); }
    }
  });

  // write a tag (serialised) or print a label on the configured RFID label printer
  lines.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-label]");
    if (!button) { return; }
    var body = new FormData();
    body.set("csrf", csrf);
    body.set("code", button.dataset.label);
    button.disabled = true;
    fetch("/ui/scan-label", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        show(data.ok ? "accepted" : "refused", data.message);
        button.disabled = false;
        field.focus();
      });
  });

  // --- the camera ---------------------------------------------------------------------
  var FORMATS = ["data_matrix", "qr_code", "code_128", "code_39", "ean_13", "ean_8", "upc_a",
                 "upc_e", "databar", "databar_expanded", "itf"];

  function loadPolyfill() {
    return new Promise(function (resolve, reject) {
      if (window.BarcodeDetectionAPI) { resolve(window.BarcodeDetectionAPI); return; }
      var s = document.createElement("script");
      s.src = VENDOR + "ponyfill.js";
      s.onload = function () {
        var api = window.BarcodeDetectionAPI;
        api.prepareZXingModule({ overrides: { locateFile: function (path, prefix) {
          return path.endsWith(".wasm") ? VENDOR + path : prefix + path;
        } } });
        resolve(api);
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  // the browser's own detector when it reads DataMatrix, else the vendored one
  function detector() {
    var native = window.BarcodeDetector;
    var own = native && native.getSupportedFormats ? native.getSupportedFormats() : Promise.resolve([]);
    return own.then(function (formats) {
      if (formats.indexOf("data_matrix") >= 0) {
        return new native({ formats: FORMATS.filter(function (f) { return formats.indexOf(f) >= 0; }) });
      }
      return loadPolyfill().then(function (api) { return new api.BarcodeDetector({ formats: FORMATS }); });
    });
  }
  window.hwmsDetector = detector;  // for checking the decoder on a still image

  var camera = form.querySelector("[data-camera]");
  var video = form.querySelector("[data-video]");
  var stream = null;
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) { camera.hidden = false; }
  camera.addEventListener("click", function () {
    if (stream) { stop(); return; }
    Promise.all([detector(), navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })])
      .then(function (both) {
        var reader = both[0];
        stream = both[1];
        video.srcObject = stream;
        video.hidden = false;
        camera.setAttribute("aria-pressed", "true");
        return video.play().then(function () { watch(reader); });
      })
      .catch(function (e) { show("refused", String(e && e.message || e)); });
  });

  function stop() {
    stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
    camera.setAttribute("aria-pressed", "false");
  }

  function watch(reader) {
    // a code held in view is one scan: the same code again counts once it left the view
    var last = "", seenAt = 0;
    function tick() {
      if (!stream) { return; }
      reader.detect(video).then(function (found) {
        var now = Date.now();
        if (found.length) {
          var value = found[0].rawValue;
          if (value !== last || now - seenAt > 1500) { scan(value); }
          last = value;
          seenAt = now;
        }
      }).catch(function () { /* a frame that could not be read */ })
        .then(function () { setTimeout(tick, 200); });
    }
    tick();
  }
})();
