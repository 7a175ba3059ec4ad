// mediator UI: live updates. An element with data-live="URL" gets its
// children replaced by the HTML of each "html" event of that URL's
// server-sent event stream (rendered and escaped by the daemon's
// templates); the event's announce text goes to the page's aria-live
// region. An "end" event closes the stream. Without JavaScript the page
// still works: it is the same HTML, current when loaded.
"use strict";
(function () {
  function announce(text) {
    var region = document.getElementById("announce");
    if (region && text) {
      region.textContent = text;
    }
  }
  function follow(el) {
    var source = new EventSource(el.getAttribute("data-live"));
    el.setAttribute("aria-busy", "false");
    source.addEventListener("html", function (ev) {
      var msg = JSON.parse(ev.data);
      if (typeof msg.html === "string") {
        var t = document.createElement("template");
        t.innerHTML = msg.html;
        el.replaceChildren(t.content);
      }
      announce(msg.announce);
    });
    source.addEventListener("end", function (ev) {
      source.close();
      try {
        announce(JSON.parse(ev.data).announce);
      } catch (e) {
        // an end without data
      }
    });
  }
  function start() {
    var els = document.querySelectorAll("[data-live]");
    for (var i = 0; i < els.length; i++) {
      follow(els[i]);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
