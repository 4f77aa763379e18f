// Live dashboard: poll the figures every two seconds and swap them in.
(function () {
  "use strict";
  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
  function rows(table, header, items) {
    table.innerHTML = "";
    table.appendChild(header);
    items.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) { tr.appendChild(cell(c)); });
      table.appendChild(tr);
    });
  }
  function update(data) {
    data.runs.forEach(function (run) {
      var box = document.querySelector('[data-run="' + run.id + '"]');
      if (!box) { location.reload(); return; }
      box.querySelector(".run-state").textContent = run.state_text || run.state;
      box.querySelectorAll(".actual").forEach(function (td) {
        td.textContent = run.actual[td.dataset.channel] || 0;
      });
      var ab = box.querySelector(".abandon");
      ab.textContent = (run.abandon_pct === null ? "—" : run.abandon_pct) + "%";
      ab.classList.toggle("over", run.over_budget);
      box.querySelector(".progress").src = "/dashboard/run/" + run.id + "/progress.png?t=" + Date.now();
    });
    var agents = document.getElementById("agents");
    rows(agents, agents.rows[0], data.agents.map(function (a) {
      return [a.agent, a.state_text || a.state, a.reason_text || "", a.customer || "", a.since_text || ""];
    }));
    var promises = document.getElementById("promises");
    rows(promises, promises.rows[0], Object.keys(data.promises).map(function (cur) {
      return [cur, String(data.promises[cur].count), data.promises[cur].amount_text || data.promises[cur].amount];
    }));
  }
  function poll() {
    fetch("/dashboard/data.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(update)
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
