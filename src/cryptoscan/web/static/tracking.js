// The live precision panel: per level and horizon, live 7 d | live 30 d | backtest. Drawn from the "tracking"
// object of the snapshot and from each "tracking" frame the server pushes when the figures change (no polling).
// The table is tiny and changes at most once a market minute, so it is redrawn whole.
"use strict";

window.CSTracking = (function () {
  const table = document.getElementById("tracking-table");
  const stats = { frames: 0 };
  window.csTracking = stats;  // read by the browser test

  function pct(x) { return Math.round(x * 100) + " %"; }

  function live(cell) {
    return cell.alerts ? pct(cell.precision) + " (" + cell.hits + "/" + cell.alerts + ")" : "-";
  }

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    return e;
  }

  function render(frame) {
    if (!table) return;
    stats.frames += 1;
    const withBacktest = frame.backtest_report !== null;
    const horizons = [];
    frame.rows.forEach((r) => { if (!horizons.includes(r.horizon_h)) horizons.push(r.horizon_h); });
    const kinds = withBacktest ? ["live_7d", "live_30d", "backtest"] : ["live_7d", "live_30d"];

    const head = document.createElement("thead");
    const top = el("tr");
    top.appendChild(el("th", CS.t("level"), { rowspan: "2" }));
    horizons.forEach((h) => top.appendChild(el("th", h + " h", { colspan: String(kinds.length), "data-h": h })));
    const sub = el("tr");
    horizons.forEach(() => kinds.forEach((k) => sub.appendChild(el("th", CS.t(k), { class: "num" }))));
    head.append(top, sub);

    const body = document.createElement("tbody");
    const byLevel = new Map();
    frame.rows.forEach((r) => {
      if (!byLevel.has(r.level)) byLevel.set(r.level, new Map());
      byLevel.get(r.level).set(r.horizon_h, r);
    });
    byLevel.forEach((perH, level) => {
      const tr = el("tr", undefined, { "data-level": level });
      tr.appendChild(el("th", level, { class: "lvl-" + level }));
      horizons.forEach((h) => {
        const r = perH.get(h);
        kinds.forEach((k) => {
          const td = el("td", "-", { class: "num", "data-h": h, "data-kind": k });
          if (r && k !== "backtest") td.textContent = live(r[k]);
          if (r && k === "backtest" && r.backtest) {
            td.textContent = pct(r.backtest.value);
            if (r.backtest.lo !== null && r.backtest.hi !== null) {
              td.title = "95 %: " + pct(r.backtest.lo) + " – " + pct(r.backtest.hi);
            }
          }
          tr.appendChild(td);
        });
      });
      body.appendChild(tr);
    });
    table.replaceChild(head, table.tHead);
    table.replaceChild(body, table.tBodies[0]);

    const counts = document.getElementById("tracking-counts");
    counts.textContent = frame.enabled
      ? CS.t("pending_alerts") + ": " + frame.pending + " · " + CS.t("untracked_alerts") + ": " + frame.dropped
      : CS.t("tracking_off");
    counts.dataset.pending = frame.pending;
  }

  return { render, stats };
})();
