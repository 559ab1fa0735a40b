// drover's page script: follows GET /v1/events (Server-Sent Events) and
// redraws the live part of the page when something happens, and sorts and
// filters the jobs table in place. The page is complete without it.
(function () {
  "use strict";

  // Which events change what the page shows.
  var redrawOn = /^(sync\.|rollout\.|rollback\.|job\.|state\.|leader\.|orphan\.|prune\.)/;

  var sortState = null; // {col, dir} chosen by the person; null: server order

  function cellValue(row, col) {
    var cell = row.cells[col];
    return cell ? (cell.getAttribute("data-v") || cell.textContent) : "";
  }

  function applySort(table) {
    if (!sortState || !table) return;
    var th = table.tHead.rows[0].cells[sortState.col];
    var numeric = th.getAttribute("data-sort") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
    rows.sort(function (a, b) {
      var x = cellValue(a, sortState.col), y = cellValue(b, sortState.col);
      var c = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return sortState.dir * c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h, i) {
      if (i === sortState.col) h.setAttribute("aria-sort", sortState.dir > 0 ? "ascending" : "descending");
      else h.removeAttribute("aria-sort");
    });
  }

  function applyFilter() {
    var table = document.getElementById("jobs");
    var q = document.getElementById("filter-q");
    var st = document.getElementById("filter-state");
    if (!table || !q || !st) return;
    var text = q.value.trim().toLowerCase(), state = st.value;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      if (r.cells.length < 2) return;
      var ok = (!state || r.getAttribute("data-status") === state) &&
        (!text || r.textContent.toLowerCase().indexOf(text) >= 0 ||
          (r.getAttribute("data-job") || "").toLowerCase().indexOf(text) >= 0);
      r.hidden = !ok;
    });
  }

  function setUpTable() {
    var table = document.getElementById("jobs");
    if (!table) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (!th.getAttribute("data-sort") || th.querySelector("button")) return;
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(b);
      b.addEventListener("click", function () {
        sortState = { col: i, dir: sortState && sortState.col === i ? -sortState.dir : 1 };
        applySort(table);
      });
    });
    applySort(table);
    applyFilter();
  }

  // redraw fetches the page again and swaps in its live part: the server
  // draws and escapes everything, the script only moves nodes.
  var pending = null, inFlight = false, again = false;
  function redraw() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok || r.status === 404 ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["live-top", "live"].forEach(function (id) {
          var fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(document.adoptNode(fresh));
        });
        setUpTable();
        document.documentElement.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () {})
      .then(function () {
        inFlight = false;
        if (again) { again = false; schedule(); }
      });
  }
  function schedule() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; redraw(); }, 250);
  }

  function follow() {
    if (!window.EventSource) return;
    var src = new EventSource("/v1/events?after=" + (document.documentElement.getAttribute("data-seq") || "0"));
    src.onopen = function () { document.documentElement.setAttribute("data-live", "on"); };
    src.onerror = function () { document.documentElement.setAttribute("data-live", "reconnecting"); };
    src.onmessage = function (m) {
      var e;
      try { e = JSON.parse(m.data); } catch (err) { return; }
      if (redrawOn.test(e.event || "")) schedule();
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var q = document.getElementById("filter-q"), st = document.getElementById("filter-state");
    if (q) q.addEventListener("input", applyFilter);
    if (st) st.addEventListener("change", applyFilter);
    var f = document.getElementById("filter");
    if (f) f.addEventListener("submit", function (ev) { ev.preventDefault(); applyFilter(); });
    setUpTable();
    follow();
  });
})();
