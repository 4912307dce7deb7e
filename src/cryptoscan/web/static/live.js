// cryptoscan dashboard: the WebSocket link shared by every page, and small formatters.
// The server pushes; the page never polls. On a drop the link reconnects with jittered, capped backoff and the
// server starts it again from a fresh snapshot.
"use strict";

window.CS = (function () {
  const cfg = window.CS_CONFIG || { t: {}, token: null };
  const t = (key) => (cfg.t && cfg.t[key]) || key;

  function wsUrl(path) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const q = cfg.token ? "?token=" + encodeURIComponent(cfg.token) : "";
    return scheme + "://" + location.host + path + q;
  }

  function setState(state) {
    const el = document.getElementById("ws-state");
    if (!el) return;
    el.dataset.state = state;
    el.className = "ws-state " + state;
    el.textContent = t(state);
  }

  // connect(path, onMessage): keeps one socket open to `path`; onMessage(doc) for every JSON frame.
  function connect(path, onMessage) {
    let delay = 500;
    let socket = null;
    const stats = { frames: 0, bytes: 0, opens: 0 };
    function open() {
      setState(stats.opens ? "reconnecting" : "connecting");
      socket = new WebSocket(wsUrl(path));
      socket.onopen = () => { stats.opens += 1; };
      socket.onmessage = (ev) => {
        delay = 500;
        stats.frames += 1;
        stats.bytes += ev.data.length;
        setState("live");
        let doc;
        try { doc = JSON.parse(ev.data); } catch (e) { return; }
        onMessage(doc);
      };
      socket.onclose = (ev) => {
        if (ev.code === 4404) { setState("reconnecting"); return; }  // the pair is not scanned: no retry
        setState("reconnecting");
        const wait = delay * (0.5 + Math.random());
        delay = Math.min(delay * 2, 10000);
        setTimeout(open, wait);
      };
    }
    open();
    return stats;
  }

  function price(p) {
    if (p === null || p === undefined) return "-";
    const d = p >= 100 ? 2 : p >= 1 ? 4 : p >= 0.01 ? 6 : 8;
    return p.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }

  function volume(v) {
    if (v === null || v === undefined) return "-";
    for (const [unit, size] of [["B", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (v >= size) return (v / size).toFixed(2) + unit;
    }
    return v.toFixed(0);
  }

  function num(x, digits) {
    return x === null || x === undefined ? "-" : Number(x).toFixed(digits);
  }

  function time(ms) {
    if (!ms) return "-";
    return new Date(ms).toISOString().substring(11, 19);
  }

  function pairHref(venue, symbol) {
    const q = cfg.token ? "?token=" + encodeURIComponent(cfg.token) : "";
    return "/pairs/" + venue + "/" + symbol + q;
  }

  return { cfg, t, connect, price, volume, num, time, pairHref, setState };
})();
