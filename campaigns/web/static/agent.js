// The screen pop: the server pushes this agent's events (server-sent events);
// on a connect or complete the customer panel is fetched again and swapped in.
(function () {
  "use strict";
  var box = document.getElementById("customer");
  var stateBox = document.getElementById("agent-state");
  var bar = document.getElementById("statebar");
  function refresh() {
    fetch("/agent/panel", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; wire(); })
      .catch(function () { /* the next event or a reload retries */ });
  }
  function wire() {
    var result = document.getElementById("result");
    if (!result) { return; }
    var show = function () {
      document.querySelectorAll(".when-promise").forEach(function (el) {
        el.hidden = result.value !== "promise";
      });
      document.querySelectorAll(".when-callback").forEach(function (el) {
        el.hidden = result.value !== "callback";
      });
    };
    result.addEventListener("change", show);
    show();
  }
  var source = new EventSource("/agent/events");
  source.addEventListener("agent", function (message) {
    var event = JSON.parse(message.data);
    var state = event.type === "connect" ? "talking" : event.type === "complete" ? "wrap" : event.state;
    if (state) { stateBox.textContent = state; bar.dataset.state = state; }
    if (event.type === "connect" || event.type === "complete") { refresh(); }
  });
  source.addEventListener("open", function () { bar.dataset.live = "yes"; });
  wire();
})();
