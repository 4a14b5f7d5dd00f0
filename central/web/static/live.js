// Live screens: an element with data-events and data-partial is refreshed from its partial
// whenever the server's event stream says something changed (EventSource reconnects alone).
(function () {
  document.querySelectorAll("[data-events][data-partial]").forEach(function (el) {
    var source = new EventSource(el.dataset.events);
    source.addEventListener("change", function () {
      // someone typing in the region (a comment) keeps it: the next change refreshes it
      if (el.contains(document.activeElement) && document.activeElement !== el) { return; }
      fetch(el.dataset.partial, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { el.innerHTML = html; } });
    });
  });
})();

// Print buttons (no inline handlers: the Content-Security-Policy forbids them).
document.querySelectorAll("[data-print]").forEach(function (b) {
  b.addEventListener("click", function () { window.print(); });
});
