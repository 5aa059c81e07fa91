// The operator's pages, kept current: every second the list of stations (or this station's
// row) is fetched again from /stations.json with the page's filters and the table redrawn.
// No inline code (CSP); DOM built with textContent only, never HTML from data.
"use strict";
(function () {
  const body = document.body;
  const verdicts = JSON.parse(body.dataset.verdicts || "{}");
  const only = body.dataset.station || null;
  const POLL_MS = 1000;

  function utc(t) {
    if (t === null || t === undefined || t === "") return "";
    return new Date(Number(t) * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  function cell(text, field, cls) {
    const td = document.createElement("td");
    td.dataset.field = field;
    if (cls) td.className = cls;
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  function verdictCell(s) {
    const td = document.createElement("td");
    const span = document.createElement("span");
    span.className = "verdict " + s.verdict;
    span.dataset.field = "verdict";
    span.textContent = verdicts[s.verdict] || s.verdict;
    td.appendChild(span);
    return td;
  }

  function row(s) {
    const tr = document.createElement("tr");
    tr.dataset.station = s.station_id;
    tr.dataset.verdict = s.verdict;
    const first = document.createElement("td");
    const a = document.createElement("a");
    a.href = "/stations/" + encodeURIComponent(s.station_id);
    a.textContent = s.station_id;
    first.appendChild(a);
    const hb = s.heartbeat;
    tr.append(first, verdictCell(s), cell(utc(s.last_seen), "last_seen"),
      cell(hb ? hb.pending : "", "pending"),
      cell(hb && hb.oldest_pending_age_s !== null ? Math.round(hb.oldest_pending_age_s) : "", "oldest"),
      cell(hb ? hb.alarms.join("; ") : "", "alarms"),
      cell(s.cert_days_left === null ? "" : Math.round(s.cert_days_left), "cert",
           s.flags.includes("cert-expiring") ? "warn" : ""),
      cell(hb && hb.version ? hb.version : "", "version"),
      cell(s.revoked_at || "", "revoked"));
    return tr;
  }

  function showList(data) {
    const tbody = document.querySelector("#stations tbody");
    if (!tbody) return;
    tbody.replaceChildren(...data.stations.map(row));
    const none = document.getElementById("none");
    if (none) none.hidden = data.stations.length > 0;
  }

  function showStation(data) {
    const s = data.stations.find(x => x.station_id === only);
    const v = document.getElementById("verdict");
    if (!s || !v) return;
    v.className = "verdict " + s.verdict;
    v.dataset.verdict = s.verdict;
    v.textContent = verdicts[s.verdict] || s.verdict;
    const seen = document.querySelector('#summary [data-field="last_seen"]');
    if (seen) seen.textContent = utc(s.last_seen);
  }

  async function poll() {
    try {
      const r = await fetch("/stations.json" + (only ? "" : window.location.search),
                            {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (r.ok) {
        const data = await r.json();
        (only ? showStation : showList)(data);
        body.dataset.live = "1";
      }
    } catch (e) {
      body.dataset.live = "0";
    }
    window.setTimeout(poll, POLL_MS);
  }
  poll();
})();
