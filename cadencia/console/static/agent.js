// The screen pop: the server pushes this agent's events (server-sent events);
// on a connect, complete, open or unreached the customer panel is fetched again
// and swapped in.
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
    var states = { connect: "talking", complete: "wrap", open: "preview", unreached: "preview" };
    var state = states[event.type] || event.state;
    if (state) { stateBox.textContent = state; bar.dataset.state = state; }
    if (states[event.type]) { refresh(); }
  });
  // A supervisor decided one of this agent's offers: the desktop's list of them, afresh.
  source.addEventListener("offer", function () {
    fetch("/agent", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("offer-requests");
        if (fresh) { document.getElementById("offer-requests").innerHTML = fresh.innerHTML; }
      })
      .catch(function () { /* a reload shows it */ });
  });
  // The session ended (revoked by an administrator, or expired): to the login.
  source.addEventListener("logout", function () {
    source.close();
    window.location.assign("/login");
  });
  // After a reconnect (a network blip, a server restart) events may have been
  // missed: fetch the panel again rather than trust the page.
  var opened = false;
  source.addEventListener("open", function () {
    if (opened) { refresh(); }
    opened = true;
    bar.dataset.live = "yes";
  });
  wire();
})();
