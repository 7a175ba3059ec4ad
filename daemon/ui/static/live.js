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
  // patch replaces only the child elements that changed, so that the
  // keyboard focus and the screen reader's place stay where they are in
  // the parts that did not.
  function patch(el, fresh) {
    var olds = Array.prototype.slice.call(el.children);
    var news = Array.prototype.slice.call(fresh.children);
    for (var i = 0; i < news.length; i++) {
      if (i >= olds.length) {
        el.appendChild(news[i]);
      } else if (!olds[i].isEqualNode(news[i])) {
        el.replaceChild(news[i], olds[i]);
      }
    }
    for (var j = news.length; j < olds.length; j++) {
      el.removeChild(olds[j]);
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
        patch(el, t.content);
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
