"""The report dict as one HTML page with plotly figures, offline: ``plotly.min.js`` is copied from the installed
plotly package next to the page (no CDN), and every figure is a ``<div>`` drawn by it."""

from __future__ import annotations

import html
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly  # type: ignore[import-untyped]
import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.io as pio  # type: ignore[import-untyped]
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
COLORS = {"FUERTE": "#c0392b", "ALTA": "#e67e22", "MEDIA": "#f1c40f", "BAJA": "#7f8c8d", "DESCARTADA": "#bdc3c7",
          "all": "#2c3e50", "upgrades": "#8e44ad"}  # fmt: skip


def write_assets(out_dir: Path) -> None:
    """Copy plotly.min.js beside the page (the page loads it by a relative path)."""
    shutil.copyfile(PLOTLY_JS, out_dir / "plotly.min.js")


def _v(e: dict[str, Any] | None, key: str = "value") -> float | None:
    return None if e is None else e.get(key)


def _err(e: dict[str, Any]) -> tuple[float, float]:
    v, lo, hi = e.get("value"), e.get("lo"), e.get("hi")
    if v is None or lo is None or hi is None:
        return 0.0, 0.0
    return hi - v, v - lo


def _groups_figure(groups: dict[str, Any], horizons: list[str], what: str, title: str) -> go.Figure:
    """Per group and horizon: ``what`` (precision or lift_matched) with its interval, and the base rates."""
    fig = make_subplots(rows=1, cols=len(horizons), subplot_titles=[f"within {h}" for h in horizons])
    names = [n for n, g in groups.items() if g["count"]]
    for c, h in enumerate(horizons, start=1):
        vals = [groups[n][h][what] for n in names]
        fig.add_trace(go.Bar(x=names, y=[_v(e) for e in vals], name=what, showlegend=c == 1,
                             marker_color=[COLORS.get(n, "#34495e") for n in names],
                             error_y={"type": "data", "symmetric": False, "array": [_err(e)[0] for e in vals],
                                      "arrayminus": [_err(e)[1] for e in vals]},
                             text=[f"n={groups[n][h]['resolved']}" for n in names]), row=1, col=c)  # fmt: skip
        if what == "precision":
            mb = [groups[n][h]["matched_base_rate"] for n in names]
            fig.add_trace(go.Scatter(x=names, y=[_v(e) for e in mb], mode="markers", name="volatility-matched base",
                                     marker={"symbol": "diamond", "size": 11, "color": "black"}, showlegend=c == 1,
                                     error_y={"type": "data", "symmetric": False, "array": [_err(e)[0] for e in mb],
                                              "arrayminus": [_err(e)[1] for e in mb]}), row=1, col=c)  # fmt: skip
            base = next((_v(groups[n][h]["base_rate"]) for n in names), None)
            if base is not None:
                fig.add_hline(y=base, line_dash="dash", annotation_text=f"all pairs {base:.1%}", row=1, col=c)
        else:
            fig.add_hline(y=1.0, line_dash="dash", row=1, col=c)
    fig.update_layout(title=title, height=420, barmode="group")
    return fig


def _reliability_figure(prob: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "grey"}))
    for name, m in prob.get("models", {}).items():
        r = m["reliability"]
        pts = [(p, o, n) for p, o, n in zip(r["predicted"], r["observed"], r["count"], strict=True) if n]
        if not pts:
            continue
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name,
                                 text=[f"n={p[2]}" for p in pts],
                                 marker={"size": [6 + 10 * (p[2] / max(q[2] for q in pts)) ** 0.5 for p in pts]}))
    oos = "out of sample, walk-forward" if prob.get("walk_forward") else "in sample"
    fig.update_layout(title=f"Reliability: +target within {prob.get('horizon_h'):g} h ({oos})", height=460,
                      xaxis_title="predicted probability", yaxis_title="observed frequency",
                      xaxis_range=[0, 1], yaxis_range=[0, 1])  # fmt: skip
    return fig


def _weekly_figure(weekly: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for h, w in weekly.items():
        x = [datetime.fromtimestamp(t / 1000, UTC) for t in w["week_start_ms"]]
        fig.add_trace(go.Scatter(x=x, y=w["base_rate"], mode="lines", name=f"all pairs, {h}"))
        fig.add_trace(go.Scatter(x=x, y=w["alert_precision"], mode="markers+lines", name=f"alerts, {h}",
                                 text=[f"{n} alerts" for n in w["alerts"]], line={"dash": "dot"}))  # fmt: skip
    fig.update_layout(title="Hit rate by week", height=380, yaxis_title="share reaching the target")
    return fig


def _fmt(e: Any, pct: bool = True) -> str:
    if isinstance(e, dict):
        v, lo, hi = e.get("value"), e.get("lo"), e.get("hi")
        if v is None:
            return "–"
        spec = ".1%" if pct else ".2f"
        return f"{v:{spec}} ({lo:{spec}}–{hi:{spec}})" if lo is not None and hi is not None else f"{v:{spec}}"
    if e is None:
        return "–"
    return f"{e:.4f}" if isinstance(e, float) else html.escape(str(e))


def _group_table(groups: dict[str, Any], horizons: list[str]) -> str:
    per = "".join(f"<th>precision {h}</th><th>base {h}</th><th>matched base {h}</th><th>lift {h}</th>"
                  f"<th>lift matched {h}</th>" for h in horizons)  # fmt: skip
    tail = "<th>median max gain %</th><th>median drawdown before hit %</th><th>median h to hit</th></tr>"
    head = f"<tr><th>group</th><th>count</th>{per}{tail}"
    rows = []
    for name, g in groups.items():
        cells = [html.escape(name), str(g["count"])]
        for h in horizons:
            x = g[h]
            cells += [_fmt(x["precision"]), _fmt(x["base_rate"]), _fmt(x["matched_base_rate"]),
                      _fmt(x["lift"], False), _fmt(x["lift_matched"], False)]  # fmt: skip
        cells += [_fmt(g["median_max_gain_pct"]), _fmt(g["median_drawdown_before_hit_pct"]),
                  _fmt(g["median_hours_to_hit"])]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _prob_table(prob: dict[str, Any]) -> str:
    keys = ("brier", "brier_skill", "brier_skill_vs_heuristic", "auc", "ece")
    head = "<tr><th>model</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>"
    rows = "".join("<tr><td>" + html.escape(n) + "</td>" + "".join(f"<td>{_fmt(m.get(k))}</td>" for k in keys)
                   + "</tr>" for n, m in prob.get("models", {}).items())  # fmt: skip
    return f"<table>{head}{rows}</table>"


def _weights_table(prob: dict[str, Any]) -> str:
    parts = []
    for model, ws in prob.get("feature_weights", {}).items():
        if ws:
            cells = "".join(f"<tr><td>{html.escape(w['feature'])}</td><td>{w['coef']:+.3f}</td></tr>" for w in ws)
            parts.append(f"<h3>{html.escape(model)} (last fold)</h3><table><tr><th>feature</th>"
                         f"<th>standardized coefficient</th></tr>{cells}</table>")  # fmt: skip
    return "".join(parts)


def _top_section(report: dict[str, Any]) -> str:
    top = report.get("top_probability", {})
    groups = top.get("groups")
    if not groups:
        return ""
    horizons = [f"{h:g}h" for h in report["meta"]["horizons_h"]]
    return (f"<h3>Top {top['share']:.0%} of rows by each model's out-of-sample probability</h3><p class='note'>Does "
            "the ranking add anything beyond volatility? Compare precision with the volatility-matched base.</p>"
            + _group_table(groups, horizons))  # fmt: skip


def _div(fig: go.Figure) -> str:
    out: str = pio.to_html(fig, include_plotlyjs=False, full_html=False)
    return out


CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;"
       "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
       "td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:13px}")  # fmt: skip


def _day(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M") if ms else "–"


def render_html(report: dict[str, Any]) -> str:
    meta, prob = report["meta"], report["probability"]
    horizons = [f"{h:g}h" for h in meta["horizons_h"]]
    verdict = ""
    if prob.get("walk_forward"):
        oos = prob["model"].get("out_of_sample", {})
        kind, default = html.escape(str(prob.get("fitted_kind"))), html.escape(str(prob.get("default")))
        verdict = (f"<p>Fitted model: <b>{kind}</b>, Brier {_fmt(oos.get('brier'))} vs heuristic "
                   f"{_fmt(oos.get('heuristic_brier'))} vs base rate {_fmt(oos.get('base_rate_brier'))} out of "
                   f"sample; recommended default: <b>{default}</b>.</p>")  # fmt: skip
    boot = meta["bootstrap"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>cryptoscan backtest</title>
<script src="plotly.min.js"></script><style>{CSS}</style></head><body>
<h1>cryptoscan backtest: +{meta['target_pct']:g} % within {', '.join(horizons)}</h1>
<p>{meta['venue']} {meta['interval']}, {meta['symbols']} pairs, decisions {_day(meta['first_decision_ms'])} to
{_day(meta['last_decision_ms'])} UTC; {meta['scored_rows']} scored rows, {meta['eligible_rows']} eligible
(the universe), {meta['alerts']} alerts.</p>
<p class="note">Intervals on fewer than 30 rows are shown but mean little.
Intervals: {html.escape(boot['method'])}, blocks of {boot['block_hours']:g} h ({boot['blocks']}
blocks), {boot['resamples']} resamples, {boot['interval']}. Matched base rate: {html.escape(meta['volatility_matching']
['rule'])} ({meta['volatility_matching']['bins']} bins of {html.escape(meta['volatility_matching']['by'])}).
Horizon: {html.escape(meta['horizon_rule'])}. Rows whose horizon runs past the data are unresolved, not misses.</p>
<h2>Alerts</h2>{_group_table(report['alerts'], horizons)}
{_div(_groups_figure(report['alerts'], horizons, 'precision', 'Alert precision vs base rates'))}
<h2>Scored rows by level</h2>{_group_table(report['levels'], horizons)}
{_div(_groups_figure(report['levels'], horizons, 'precision', 'Precision by level vs base rates'))}
{_div(_groups_figure(report['levels'], horizons, 'lift_matched', 'Lift over the volatility-matched base rate'))}
{_div(_weekly_figure(report['weekly']))}
<h2>Probability</h2>{verdict}<p class="note">{html.escape(str(prob.get('note', '')))}</p>{_prob_table(prob)}
{_div(_reliability_figure(prob))}
{_top_section(report)}
{_weights_table(prob)}
</body></html>
"""
