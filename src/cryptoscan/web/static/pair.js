// One pair's page: candles with volume, RSI 14 and MACD (plotly.js, served locally), the score breakdown and
// the alert history, all updated from the pair's WebSocket channel.
"use strict";

(function () {
  const cfg = CS.cfg;
  const venue = cfg.venue, symbol = cfg.symbol;
  const COLS = ["t", "o", "h", "l", "c", "v", "rsi", "macd", "signal", "hist"];
  const MAX_BARS = 400;
  const series = Object.fromEntries(COLS.map((k) => [k, []]));
  const stats = { frames: 0, bars: 0, rows: 0, alerts: 0, plotted: 0 };
  window.csPair = stats;  // read by the browser test
  let plotted = false;

  function merge(bars) {
    if (bars.full) COLS.forEach((k) => { series[k] = []; });
    bars.t.forEach((t, i) => {
      const n = series.t.length;
      let at = n;
      if (n && series.t[n - 1] === t) at = n - 1;          // the forming bar again, or it closed
      else if (n && series.t[n - 1] > t) return;           // older than what we hold
      COLS.forEach((k) => { series[k][at] = bars[k][i]; });
    });
    const extra = series.t.length - MAX_BARS;
    if (extra > 0) COLS.forEach((k) => series[k].splice(0, extra));
    stats.bars = series.t.length;
  }

  function traces() {
    const x = series.t;
    return [
      { type: "candlestick", name: symbol, x, open: series.o, high: series.h, low: series.l, close: series.c,
        xaxis: "x", yaxis: "y", showlegend: false },
      { type: "bar", name: "volume", x, y: series.v, yaxis: "y2", marker: { color: "#8aa4c8" }, showlegend: false },
      { type: "scatter", mode: "lines", name: "RSI 14", x, y: series.rsi, yaxis: "y3", line: { color: "#7b3fa0" } },
      { type: "bar", name: "MACD hist", x, y: series.hist, yaxis: "y4", marker: { color: "#b0b0b0" } },
      { type: "scatter", mode: "lines", name: "MACD", x, y: series.macd, yaxis: "y4", line: { color: "#1f77b4" } },
      { type: "scatter", mode: "lines", name: "signal", x, y: series.signal, yaxis: "y4", line: { color: "#ff7f0e" } },
    ];
  }

  const layout = {
    margin: { l: 60, r: 20, t: 10, b: 30 }, height: 640, showlegend: true, legend: { orientation: "h", y: -0.06 },
    xaxis: { type: "date", rangeslider: { visible: false }, anchor: "y4" },
    yaxis: { domain: [0.47, 1], title: { text: CS.t("price") } },
    yaxis2: { domain: [0.33, 0.45], title: { text: "vol" } },
    yaxis3: { domain: [0.17, 0.31], range: [0, 100], title: { text: "RSI" } },
    yaxis4: { domain: [0, 0.15], title: { text: "MACD" } },
    shapes: [30, 70].map((y) => ({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y3", y0: y, y1: y,
                                     line: { dash: "dot", width: 1, color: "#999" } })),
  };

  function draw() {
    if (!window.Plotly) return;
    const div = document.getElementById("chart");
    if (!plotted) {
      Plotly.newPlot(div, traces(), layout, { responsive: true, displaylogo: false });
      plotted = true;
    } else {
      Plotly.react(div, traces(), layout);
    }
    stats.plotted += 1;
  }

  function tableRows(id, entries, fmt) {
    const tbody = document.querySelector("#" + id + " tbody");
    const seen = new Set();
    for (const [name, value] of entries) {
      seen.add(name);
      let tr = tbody.querySelector('tr[data-name="' + name + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.name = name;
        tr.innerHTML = "<th></th><td class='num'></td>";
        tr.firstChild.textContent = CS.t(id === "components" ? "part." + name : id === "factors" ? "factor." + name : name);
        tbody.appendChild(tr);
      }
      const text = fmt(value);
      if (tr.lastChild.textContent !== text) tr.lastChild.textContent = text;
    }
    tbody.querySelectorAll("tr").forEach((tr) => { if (!seen.has(tr.dataset.name)) tr.remove(); });
  }

  function setRow(found) {
    if (!found) return;
    const r = found.row;
    stats.rows += 1;
    const badge = document.getElementById("pair-level");
    badge.textContent = r.level;
    badge.className = "badge lvl-" + r.level;
    document.getElementById("sum-price").textContent = CS.price(r.price);
    document.getElementById("sum-momentum").textContent = CS.num(r.momentum, 0) + "/100";
    document.getElementById("sum-probability").textContent = CS.num(r.probability, 1) + " %";
    document.getElementById("sum-rank").textContent = found.ranked ? String(r.rank) : CS.t("not_ranked");
    document.getElementById("sum-updated").textContent = CS.time(r.updated_ms);
    tableRows("components", Object.entries(r.components), (v) => CS.num(v, 1));
    tableRows("factors", Object.entries(r.factors), (v) => CS.num(v, 2));
    tableRows("indicators", Object.entries(r.indicators), (v) => (v === null ? "-" : Number(v).toPrecision(5)));
  }

  function setAlerts(alerts) {
    stats.alerts = alerts.length;
    const tbody = document.querySelector("#alerts tbody");
    tbody.replaceChildren(...alerts.map((a) => {
      const tr = document.createElement("tr");
      tr.className = "lvl-" + a.level;
      const sent = a.delivered + a.failed ? a.delivered + " ok / " + a.failed + " failed" : a.delivery;
      for (const text of [CS.time(a.ts_ms), a.level, a.kind, sent, a.title]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tr.title = a.message;
      return tr;
    }));
    document.getElementById("no-alerts").hidden = alerts.length > 0;
  }

  function onMessage(doc) {
    stats.frames += 1;
    if (doc.type === "pair") {
      merge(doc.bars);
      setRow(doc.row);
      setAlerts(doc.alerts);
      draw();
    } else if (doc.type === "bars") {
      merge(doc.bars);
      draw();
    } else if (doc.type === "row") {
      setRow(doc.row);
    } else if (doc.type === "alerts") {
      setAlerts(doc.alerts);
    }
  }

  CS.connect("/ws/pairs/" + venue + "/" + symbol, onMessage);
})();
