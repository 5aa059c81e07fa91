// The desk view: readings arrive as server-sent events ("reading"), each shown as a card with
// its badge, photo and fields until it expires or the clerk closes it. No inline code (CSP);
// DOM built with textContent only, never HTML from data.
//
// Fill hand-off: the "fill" button copies every field ("label<TAB>value" lines) to the
// clipboard and, for each origin in data-origins, posts to window.opener and window.parent:
//   {type: "station.desk.fill", version: 1, record_id, station_id, outcome, badge,
//    fields: {name: value, ...}}
// A desk application that opened or frames this page listens with
//   window.addEventListener("message", e => { if (e.origin === CONSOLE_ORIGIN && e.data.type === "station.desk.fill") ... })
"use strict";
(function () {
  const body = document.body;
  const list = document.getElementById("readings");
  const waiting = document.getElementById("waiting");
  if (!list || !waiting) return;
  const origins = (body.dataset.origins || "").split(" ").filter(Boolean);
  const closed = new Set(JSON.parse(sessionStorage.getItem("station.closed") || "[]"));
  const shown = new Map();

  function refresh() { waiting.hidden = shown.size > 0; }

  function remove(id, byClerk) {
    const card = shown.get(id);
    if (card) { card.remove(); shown.delete(id); }
    if (byClerk) {
      closed.add(id);
      sessionStorage.setItem("station.closed", JSON.stringify([...closed].slice(-200)));
    }
    refresh();
  }

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function copy(text, b) {
    const done = () => { b.textContent = body.dataset.copied; setTimeout(() => { b.textContent = body.dataset.copy; }, 1500); };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
  }

  function fill(r, b) {
    const text = r.fields.map(f => f.label + "\t" + f.value).join("\n");
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    const message = {type: "station.desk.fill", version: 1, record_id: r.record_id,
      station_id: r.station_id, outcome: r.outcome, badge: r.badge,
      fields: Object.fromEntries(r.fields.map(f => [f.name, f.value]))};
    const targets = [window.opener, window.parent !== window ? window.parent : null].filter(Boolean);
    for (const t of targets) for (const o of origins) t.postMessage(message, o);
    b.classList.add("done");
  }

  function show(r) {
    if (shown.has(r.record_id) || closed.has(r.record_id) || r.expires_in_s <= 0) return;
    const card = document.createElement("article");
    card.className = "reading"; card.dataset.record = r.record_id; card.dataset.badge = r.badge;
    card.dataset.shownAt = String(Date.now());
    const head = document.createElement("div"); head.className = "head";
    const badge = document.createElement("span");
    badge.className = "badge " + r.badge; badge.textContent = r.badge_text;
    const desk = document.createElement("span"); desk.className = "station"; desk.textContent = r.station_id;
    head.append(badge, desk, button(body.dataset.close, "close", () => remove(r.record_id, true)));
    card.append(head);
    if (r.badge === "not_genuine") {
      const note = document.createElement("p"); note.className = "refused"; note.textContent = body.dataset.refused;
      card.append(note);
    }
    const content = document.createElement("div"); content.className = "content";
    if (r.photo) {
      const img = document.createElement("img"); img.className = "photo"; img.alt = ""; img.src = r.photo;
      content.append(img);
    }
    const dl = document.createElement("dl");
    for (const f of r.fields) {
      const row = document.createElement("div"); row.className = "field"; row.dataset.field = f.name;
      const dt = document.createElement("dt"); dt.textContent = f.label;
      const dd = document.createElement("dd"); dd.textContent = f.value;
      const b = button(body.dataset.copy, "copy", () => copy(f.value, b));
      row.append(dt, dd, b); dl.append(row);
    }
    content.append(dl); card.append(content);
    if (r.fields.length) {
      const b = button(body.dataset.fill, "fill", () => fill(r, b));
      card.append(b);
    }
    list.prepend(card); shown.set(r.record_id, card);
    setTimeout(() => remove(r.record_id, false), r.expires_in_s * 1000);
    refresh();
  }

  const source = new EventSource("/desk/events");
  source.addEventListener("reading", e => show(JSON.parse(e.data)));
  source.addEventListener("open", () => { body.dataset.live = "1"; });
  source.addEventListener("error", () => { body.dataset.live = "0"; });
  refresh();
})();
