// The wallboard: poll the figures every two seconds and rewrite the tables (text only).
(function () {
  "use strict";
  function clock(s) {
    if (s === null || s === undefined) { return "—"; }
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function rows(table, items) {
    var empty = table.rows.length === 2 && table.rows[1].cells.length === 1 ? table.rows[1] : null;
    while (table.rows.length > 1) { table.deleteRow(1); }
    if (!items.length && empty) { table.tBodies[0].appendChild(empty); return; }
    items.forEach(function (cells) {
      var tr = table.insertRow(-1);
      cells.forEach(function (c) {
        var td = tr.insertCell(-1);
        td.textContent = c.text;
        if (c.num) { td.className = "num"; }
        if (c.over) { td.className += " over"; }
      });
    });
  }
  function num(text, over) { return { text: String(text), num: true, over: !!over }; }
  function txt(text) { return { text: text === null || text === undefined ? "" : String(text) }; }
  function update(data) {
    rows(document.getElementById("wall-campaigns"), data.campaigns.map(function (c) {
      return [txt(c.campaign), txt(c.state_text || c.state), num(c.ringing), num(c.waiting),
        num(clock(c.longest_wait_s)), num(c.leads_left === null ? "—" : c.leads_left),
        num((c.abandon_pct === null ? "—" : c.abandon_pct) + "%", c.over_budget),
        num(c.abandon_target_pct + "%"), num(c.callbacks.overdue), num(c.callbacks.next_hour)];
    }));
    rows(document.getElementById("wall-inbound"), data.inbound.map(function (q) {
      return [txt(q.queue), num(q.waiting), num(clock(q.longest_wait_s))];
    }));
    rows(document.getElementById("wall-agents"), data.agents.map(function (a) {
      return [txt(a.agent), txt(a.state_text || a.state), txt(a.reason_text), txt(a.campaign),
        num(clock(a.seconds_in_state))];
    }));
  }
  function poll() {
    fetch("/wallboard/data.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(update)
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
