// The opportunities table: patched one <tr> at a time from the server's row diffs (never redrawn whole).
// Sorting and filtering happen here: a sort moves only the rows that are out of place, a filter hides rows.
"use strict";

(function () {
  const LEVEL_ORDER = { FUERTE: 3, ALTA: 2, MEDIA: 1, BAJA: 0, DESCARTADA: -1 };
  const tbody = document.querySelector("#opportunities tbody");
  const empty = document.getElementById("empty");
  const rows = new Map();   // key -> {row, tr}
  const stats = { snapshots: 0, upserts: 0, removes: 0, created: 0, moved: 0 };
  let sortKey = "level";
  let sortDir = -1;         // -1: descending
  window.csTable = stats;   // read by the browser test

  const CELLS = [
    ["rank", (r) => String(r.rank)],
    ["symbol", null],
    ["venue", (r) => r.venue],
    ["price", (r) => CS.price(r.price)],
    ["momentum", (r) => CS.num(r.momentum, 0) + "/100"],
    ["probability", (r) => CS.num(r.probability, 1) + " %"],
    ["level", (r) => r.level],
    ["volume", (r) => CS.volume(r.volume)],
    ["updated_ms", (r) => CS.time(r.updated_ms)],
  ];

  function makeRow(row) {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    for (const [name] of CELLS) {
      const td = document.createElement("td");
      td.dataset.col = name;
      if (["rank", "price", "momentum", "probability", "volume", "updated_ms"].includes(name)) td.className = "num";
      if (name === "symbol") {
        const a = document.createElement("a");
        td.appendChild(a);
      }
      tr.appendChild(td);
    }
    stats.created += 1;
    return tr;
  }

  function fill(tr, row) {
    tr.className = "lvl-" + row.level;
    tr.dataset.level = row.level;
    tr.dataset.venue = row.venue;
    tr.dataset.symbol = row.symbol;
    CELLS.forEach(([name, fmt], i) => {
      const td = tr.children[i];
      if (name === "symbol") {
        const a = td.firstChild;
        if (a.textContent !== row.symbol) {
          a.textContent = row.symbol;
          a.href = CS.pairHref(row.venue, row.symbol);
        }
        return;
      }
      const text = fmt(row);
      if (td.textContent !== text) {
        td.textContent = text;
        td.classList.remove("flash");
        void td.offsetWidth;  // restart the highlight animation
        td.classList.add("flash");
      }
    });
  }

  function upsert(row) {
    let entry = rows.get(row.key);
    if (!entry) {
      entry = { row, tr: makeRow(row) };
      rows.set(row.key, entry);
      tbody.appendChild(entry.tr);
    }
    entry.row = row;
    fill(entry.tr, row);
    applyFilter(entry);
    stats.upserts += 1;
  }

  function remove(key) {
    const entry = rows.get(key);
    if (!entry) return;
    entry.tr.remove();
    rows.delete(key);
    stats.removes += 1;
  }

  function value(row, key) {
    if (key === "level") return LEVEL_ORDER[row.level] * 1e6 - row.rank;  // level, then rank
    const v = row[key];
    return v === null || v === undefined ? -Infinity : v;
  }

  function compare(a, b) {
    const va = value(a.row, sortKey), vb = value(b.row, sortKey);
    if (va < vb) return -sortDir;
    if (va > vb) return sortDir;
    return a.row.rank - b.row.rank;
  }

  function resort() {
    const wanted = Array.from(rows.values()).sort(compare);
    wanted.forEach((entry, i) => {
      if (tbody.children[i] !== entry.tr) {
        tbody.insertBefore(entry.tr, tbody.children[i] || null);
        stats.moved += 1;
      }
    });
  }

  function applyFilter(entry) {
    const text = document.getElementById("filter").value.trim().toUpperCase();
    const levels = new Set(Array.from(document.querySelectorAll(".level-filter:checked")).map((x) => x.value));
    const venue = document.getElementById("venue-filter").value;
    const r = entry.row;
    entry.tr.hidden = !(levels.has(r.level) && (!venue || r.venue === venue) && (!text || r.symbol.includes(text)));
  }

  function refreshEmpty(meta) {
    const shown = Array.from(rows.values()).some((e) => !e.tr.hidden);
    empty.hidden = shown;
    if (meta) empty.textContent = CS.t("no_rows");
  }

  function setMeta(meta) {
    if (!meta) return;
    for (const level of ["FUERTE", "ALTA", "MEDIA"]) {
      const el = document.getElementById("count-" + level);
      if (el) el.textContent = meta.counts[level] || 0;
    }
    document.getElementById("st-scan").textContent = CS.time(meta.ts_ms);
  }

  function setStatus(s) {
    const byState = Object.entries(s.connections).map(([k, v]) => v + " " + k).join(", ") || "-";
    document.getElementById("st-connections").textContent = byState;
    document.getElementById("st-pairs").textContent =
      Object.entries(s.pairs).map(([k, v]) => k + " " + v).join(", ") || "-";
    document.getElementById("st-msgs").textContent = Math.round(s.messages_per_s).toLocaleString("en-US");
    document.getElementById("st-lag").textContent =
      s.lag_ms_p50 === null ? "-" : "p50 " + Math.round(s.lag_ms_p50) + " ms, p99 " + Math.round(s.lag_ms_p99) + " ms";
    document.getElementById("st-reconnects").textContent = s.reconnects;
    document.getElementById("st-clients").textContent = s.clients;
    document.getElementById("st-dropped").textContent = s.dropped_clients;
    if (s.scan_ts_ms) document.getElementById("st-scan").textContent = CS.time(s.scan_ts_ms);
  }

  function onMessage(doc) {
    if (doc.type === "snapshot") {
      stats.snapshots += 1;
      const keep = new Set(doc.rows.map((r) => r.key));
      for (const key of Array.from(rows.keys())) if (!keep.has(key)) remove(key);
      doc.rows.forEach(upsert);
      setMeta(doc.meta);
      setStatus(doc.status);
      if (doc.tracking) CSTracking.render(doc.tracking);
      resort();
      refreshEmpty(doc.meta);
    } else if (doc.type === "rows") {
      doc.remove.forEach(remove);
      doc.upsert.forEach(upsert);
      setMeta(doc.meta);
      resort();
      refreshEmpty(doc.meta);
    } else if (doc.type === "status") {
      setStatus(doc);
    } else if (doc.type === "tracking") {
      CSTracking.render(doc);
    }
  }

  document.querySelectorAll("#opportunities th[data-sort]").forEach((th) => {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      sortDir = key === sortKey ? -sortDir : (key === "symbol" || key === "venue" || key === "rank" ? 1 : -1);
      sortKey = key;
      document.querySelectorAll("#opportunities th").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      resort();
    });
  });
  const refilter = () => { rows.forEach(applyFilter); refreshEmpty(true); };
  document.getElementById("filter").addEventListener("input", refilter);
  document.getElementById("venue-filter").addEventListener("change", refilter);
  document.querySelectorAll(".level-filter").forEach((x) => x.addEventListener("change", refilter));

  CS.connect("/ws", onMessage);
})();
