"""The replay: no lookahead (a cut history replays the full run's prefix bit for bit), a universe built from the
past only, agreement with the live scanner path, real data, and the alert rules over the replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from cryptoscan.alerts.rules import AlertRules, SendNow
from cryptoscan.alerts.service import alert_rows
from cryptoscan.backtest.alert_replay import replay_alerts
from cryptoscan.backtest.frame import ScoredBars
from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.backtest.load import save_history
from cryptoscan.backtest.replay import replay
from cryptoscan.backtest.run import load_history, run_backtest
from cryptoscan.config_scanner import LevelRules, ScannerConfig
from cryptoscan.events import Kline, MiniTicker
from cryptoscan.market.snapshot import KlineWindow
from cryptoscan.scanner.engine import Scanner
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.probability import HeuristicProbability, ProbabilityInputs, ProbabilityOutput
from cryptoscan.scanner.result import INDICATORS
from cryptoscan.scanner.score import PARTS

H = 3_600_000
DAY = 24 * H
T0 = 1_700_000_000_000 // H * H
DATA = Path("/work/shared/data/binance/klines/freqtrade_json_1h_2021H1")
CFG = ScannerConfig(interval="1h", max_price=1e6)
LOW_LEVELS = ScannerConfig(interval="1h", max_price=1e6, levels=LevelRules(fuerte=65, alta=45, media=35, baja=20))
COLUMNS = ("time_ms", "symbol_idx", "bar_index", "close", "momentum", "level", "probability", "composite", "eligible",
           "quote_volume_24h")  # fmt: skip


def bars(n: int, seed: int, *, start: float = 2.0, first: int = 0, qv: bool = True, vol: float = 2e4) -> np.ndarray:
    """``n`` 1h bars from bar ``first`` on: a random walk with pumps (a big green bar on a volume spike)."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 0.008, n)
    pump = rng.random(n) < 0.03
    r[pump] += 0.04
    c = start * np.exp(np.cumsum(r))
    o = np.r_[start, c[:-1]]
    out = np.full((9, n), np.nan)
    out[0] = T0 + (first + np.arange(n)) * H
    out[1], out[4] = o, c
    out[2] = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.003, n)))
    out[3] = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.003, n)))
    out[5] = vol * rng.lognormal(0, 0.4, n) * np.where(pump, 6.0, 1.0)
    out[6] = out[5] * (o + c) / 2 if qv else np.nan
    out[7] = 100.0
    return out


def synthetic(n: int = 520) -> History:  # n > 400
    """BTC and five pairs: one listed late, one with a hole, one that stops, one without quote volume."""
    gap = bars(n, 4, start=0.5)
    return History("spot", "1h", {
        "BTCUSDT": bars(n, 1, start=30_000.0, vol=2_000.0),
        "AUSDT": bars(n, 2, start=3.0),
        "BUSDT": bars(n - 260, 3, start=1.0, first=260),  # listed at bar 260
        "CUSDT": np.delete(gap, np.s_[300:306], axis=1),  # six hours without a bar
        "DUSDT": bars(400, 5, start=8.0),  # stops trading at bar 400
        "EUSDT": bars(n, 6, start=0.2, qv=False, vol=150_000.0),  # freqtrade-like: no quote volume
    })  # fmt: skip


def real(symbols: tuple[str, ...], start_ms: int | None = None, n: int | None = None) -> History:
    h = load_history(DATA, symbols=symbols)
    out = {}
    for s, b in h.bars.items():
        keep = b[:, b[0] >= start_ms] if start_ms is not None else b
        out[s] = keep[:, :n] if n is not None else keep
    return History(h.venue, h.interval, {s: b for s, b in out.items() if b.shape[1]})


def cut(h: History, until_ms: int) -> History:
    return History(h.venue, h.interval, {s: b[:, b[0] + H <= until_ms] for s, b in h.bars.items()
                                         if (b[0] + H <= until_ms).any()})  # fmt: skip


def assert_same(a: ScoredBars, b: ScoredBars) -> None:
    """Every column equal, bit for bit (NaN equals NaN)."""
    assert len(a) == len(b)
    assert a.symbols[: len(b.symbols)] == b.symbols or b.symbols[: len(a.symbols)] == a.symbols
    for name in COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    for group in ("components", "factors", "indicators"):
        da, db = getattr(a, group), getattr(b, group)
        assert da.keys() == db.keys()
        for k in da:
            assert np.array_equal(da[k], db[k], equal_nan=True), f"{group}.{k}"


@pytest.mark.parametrize("source", ["synthetic", "real"])
def test_a_cut_history_replays_the_prefix_of_the_full_run_bit_for_bit(source: str) -> None:
    """Freqtrade's lookahead analysis, strictly: rows up to T from history cut at T, from the full history, from
    the full history with ``until_ms=T``, and from a history whose future was rewritten are all the same; so are
    the alerts of those rows."""
    if source == "synthetic":
        h = synthetic()
        cuts = [T0 + 200 * H, T0 + 262 * H, T0 + 303 * H, T0 + 450 * H]  # before B's listing, after, in C's hole
    else:  # ALICE lists on 2021-03-15 14:00 inside this window
        h = real(("BTCUSDT", "ETHUSDT", "ALICEUSDT", "DENTUSDT", "SOLUSDT"), start_ms=1_614_556_800_000, n=420)
        cuts = [1_615_780_800_000, 1_615_795_200_000, 1_615_939_200_000]
    cfg = LOW_LEVELS  # low thresholds: alerts to compare too
    full = replay(h, cfg)
    full_alerts = replay_alerts(full)
    assert len(full) > 1000 and (full.level >= Level.ALTA).any() and full.eligible.any()
    for t in cuts:
        prefix = full.take(full.time_ms <= t)
        assert len(prefix) and len(prefix) < len(full)
        truncated = replay(cut(h, t), cfg)
        assert_same(truncated, prefix)
        assert_same(replay(h, cfg, until_ms=t), prefix)
        got, want = replay_alerts(truncated), full_alerts
        early = full.time_ms[want.rows] <= t
        assert np.array_equal(got.rows, want.rows[early]) and np.array_equal(got.level, want.level[early])
    assert (full.time_ms[full_alerts.rows] <= cuts[-1]).sum() >= 2
    t = cuts[1]
    rng = np.random.default_rng(9)
    future = {s: b.copy() for s, b in h.bars.items()}
    for b in future.values():
        late = b[0] + H > t
        b[1:7, late] *= rng.uniform(0.5, 2.0, (6, int(late.sum())))
    assert_same(replay(History(h.venue, h.interval, future), cfg).take(full.time_ms <= t), full.take(full.time_ms <= t))


def test_universe_is_built_from_the_past_only() -> None:
    """A pair exists from its first bar; its 24 h volume sums only bars already closed; eligibility flips exactly
    when that sum crosses the filter, never earlier."""
    n = 400
    ramp = bars(n, 11, start=1.0, vol=1_000.0)
    ramp[5, 200:] *= 40.0  # thin until bar 200, liquid after
    ramp[6] = ramp[5] * ramp[4]
    h = History("spot", "1h", {"BTCUSDT": bars(n, 1, start=30_000.0, vol=2_000.0), "RAMPUSDT": ramp,
                               "NEWUSDT": bars(100, 12, start=1.0, first=300, vol=200_000.0)})  # fmt: skip
    sb = replay(h, CFG, warmup_bars=50)
    assert sb.symbols == ["BTCUSDT", "RAMPUSDT", "NEWUSDT"]  # in order of listing
    assert np.all(np.diff(sb.time_ms) >= 0) and np.array_equal(sb.scan_ms, T0 + np.arange(51, n + 1) * H)
    for s, b in h.bars.items():
        rows = sb.take(sb.symbol_idx == sb.symbols.index(s))
        expect = [sum(b[6, j] for j in range(b.shape[1]) if t - DAY <= b[0, j] and b[0, j] + H <= t)
                  for t in rows.time_ms.tolist()]  # fmt: skip
        np.testing.assert_allclose(rows.quote_volume_24h, expect, rtol=1e-9)
        np.testing.assert_array_equal(rows.time_ms, b[0, rows.bar_index] + H)  # scored at its close, not before
    new = sb.take(sb.symbol_idx == 2)
    assert new.time_ms[0] == T0 + 301 * H and new.bar_index[0] == 0  # first row: the close of its first bar
    assert new.quote_volume_24h[0] == h.bars["NEWUSDT"][6, 0]  # a day's volume needs a day of trading
    r = sb.take(sb.symbol_idx == 1)
    liquid = r.quote_volume_24h >= CFG.min_volume_usd
    np.testing.assert_array_equal(r.eligible, liquid & (r.close >= CFG.min_price) & (r.close <= CFG.max_price))
    flip = int(np.argmax(r.eligible))
    assert not r.eligible[:flip].any() and r.eligible[flip:].all()
    assert r.bar_index[flip] >= 200 and r.quote_volume_24h[flip - 1] < CFG.min_volume_usd  # after the volume came
    btc = sb.take(sb.symbol_idx == 0)
    assert btc.eligible.all()  # max_price raised: BTC ranks too


LiveRows = dict[tuple[int, str], tuple[float, ...]]


def live_path(h: History, cfg: ScannerConfig, warm_bars: int, rules: AlertRules
              ) -> tuple[LiveRows, list[tuple[int, str, str]]]:  # fmt: skip
    """The live scanner's way: warm each pair from history, then klines one by one (a young forming bar beside
    each closed one, closed bars in scrambled order), a 24 h mini ticker per pair, one scan per close; alerts from
    ``alerts.service.alert_rows`` of each pass."""
    s = Scanner(cfg, capacity=16)
    s.warm((h.venue, sym, KlineWindow(b[:, :warm_bars].copy())) for sym, b in h.bars.items() if b[0, 0] < T0 + H)
    times = np.unique(np.concatenate([b[0] for b in h.bars.values()]))
    out: LiveRows = {}
    sent: list[tuple[int, str, str]] = []
    rng = np.random.default_rng(3)
    for t in times[warm_bars:].tolist():
        now = int(t) + H
        batch = [(sym, b, int(np.searchsorted(b[0], t))) for sym, b in h.bars.items() if t in b[0]]
        for k in rng.permutation(len(batch)):
            sym, b, j = batch[k]
            if (h.venue, sym) not in s.rows:
                s.add(h.venue, sym)  # LiveScanner: a new pair is warmed from (no) history, then streamed
            o, hi, lo, c, v, q = (float(x) for x in b[1:7, j])
            q = q if np.isfinite(q) else c * v
            s.on_kline(Kline(h.venue, sym, "1h", now, now + H - 1, c, c, c, c, 1.0, c, 1, 0.5, c, False, 0, 0,
                             now + 60_000, now + 60_000))  # the next bar, one minute old: too young to score
            s.on_kline(Kline(h.venue, sym, "1h", int(t), now - 1, o, hi, lo, c, v, q, 5, v / 2, q / 2, True, 0, 0,
                             now, now))  # fmt: skip
            qv = b[5, : j + 1] * b[4, : j + 1] if not np.isfinite(b[6, 0]) else b[6, : j + 1]
            day = float(qv[b[0, : j + 1] >= now - DAY].sum())
            s.on_ticker(MiniTicker(h.venue, sym, c, o, hi, lo, 0.0, day, now, now))
        r = s.scan(now)
        order = set(r.order.tolist())
        for sym, _, _ in batch:
            i = s.rows[(h.venue, sym)]
            out[(now, sym)] = (
                r.components.total[i], r.levels[i], r.probability.probability[i], r.composite[i], i in order,
                *(getattr(r.components, p)[i] for p in PARTS), *(f[i] for f in r.probability.factors.values()),
                *(getattr(r.values, name)[i] for name in INDICATORS),
            )  # fmt: skip
        for action in rules.on_scan(alert_rows(r), now):
            assert isinstance(action, SendNow)
            sent.append((action.alert.ts_ms, action.alert.symbol, action.alert.level))
    return out, sent


def test_replay_agrees_with_the_live_scanner_path() -> None:
    """The same klines through the live path (warm, on_kline, on_ticker, scan) give the same rows at the same times,
    and the live alert service's rows through the same rules give the same alerts."""
    h = synthetic(420)
    warm = 150
    live, live_alerts = live_path(h, LOW_LEVELS, warm, AlertRules(digest_s=0))
    sb = replay(h, LOW_LEVELS, warmup_bars=warm)
    assert len(sb) == len(live) > 1000
    for i in range(len(sb)):
        key = (int(sb.time_ms[i]), sb.symbols[int(sb.symbol_idx[i])])
        got = (sb.momentum[i], sb.level[i], sb.probability[i], sb.composite[i], bool(sb.eligible[i]),
               *(sb.components[p][i] for p in PARTS), *(f[i] for f in sb.factors.values()),
               *(sb.indicators[name][i] for name in INDICATORS))  # fmt: skip
        # 1e-12, not bit for bit: rows are allocated in another order here (realized volatility re-sums its window
        # at a bar that depends on the row) and the ticker volume is summed directly, not as a running sum.
        np.testing.assert_allclose(np.array(got, float), np.array(live[key], float), rtol=1e-12, atol=1e-12,
                                   err_msg=str(key))  # fmt: skip
    alerts = replay_alerts(sb, AlertRules(digest_s=0))
    ours = [(int(sb.time_ms[r]), sb.symbols[int(sb.symbol_idx[r])], Level(int(lv)).name)
            for r, lv in zip(alerts.rows, alerts.level, strict=True)]  # fmt: skip
    assert len(live_alerts) >= 5 and sorted(ours) == sorted(live_alerts)
    np.testing.assert_array_equal(alerts.sent_ms, sb.time_ms[alerts.rows])  # digest_s=0: sent at once


def test_real_data_smoke(tmp_path: Path) -> None:
    """Four real pairs over 2021-03..06 from the freqtrade files, and bars through a DuckDB store file."""
    symbols = ("BTCUSDT", "ETHUSDT", "ALICEUSDT", "DENTUSDT")
    h = real(symbols, start_ms=1_614_556_800_000)  # 2021-03-01 to 2021-06-20; ALICE lists on 2021-03-15
    run = run_backtest(h, CFG)
    sb = run.scored
    holes = sum(int((np.diff(b[0]) != H).sum()) for b in h.bars.values())  # Binance's maintenance hours
    assert run.stats["closed"] == h.total_bars() and run.stats["gaps"] == holes > 0
    first = h.bars["BTCUSDT"][0, 150] + H  # warm-up: 150 bars, then the next one is the first scored
    assert sb.scan_ms[0] == first and sorted(sb.symbols) == sorted(symbols)
    assert len(sb) == sum(int((b[0] + H >= first).sum()) for b in h.bars.values())
    alice = sb.take(sb.symbol_idx == sb.symbols.index("ALICEUSDT"))
    assert alice.time_ms[0] == h.bars["ALICEUSDT"][0, 0] + H and alice.bar_index[0] == 0  # from its listing on
    assert np.isfinite(sb.momentum).all() and 0.05 < sb.eligible.mean() <= 1.0
    assert set(np.unique(sb.level)) >= {Level.DESCARTADA, Level.BAJA, Level.MEDIA}
    assert np.isfinite(sb.indicators["rsi14"][sb.bar_index >= 20]).all()
    assert (run.alerts.level >= Level.ALTA).all() and sb.eligible[run.alerts.rows].all()
    # The store: the same bars saved by the importer's path, loaded and replayed, give the same rows.
    path = tmp_path / "store.duckdb"
    sub = History("spot", "1h", {s: h.bars[s][:, :400] for s in ("BTCUSDT", "ALICEUSDT")})
    assert asyncio.run(save_history(sub, path)) == {"ALICEUSDT": 400, "BTCUSDT": 400}
    back = load_history(path, symbols=["BTCUSDT", "ALICEUSDT"])
    assert sorted(back.bars) == ["ALICEUSDT", "BTCUSDT"]
    np.testing.assert_array_equal(back.bars["BTCUSDT"], sub.bars["BTCUSDT"])
    assert_same(run_backtest(path, CFG).scored, replay(sub, CFG))
    cut_at = int(sub.bars["BTCUSDT"][0, 300]) + H
    assert_same(run_backtest(path, CFG, until_ms=cut_at).scored, replay(sub, CFG, until_ms=cut_at))


def scored_frame(levels: dict[str, list[int]], eligible: dict[str, list[bool]] | None = None) -> ScoredBars:
    """A hand-made replay: one row per symbol per scan (level -1: no bar that scan)."""
    syms = list(levels)
    rows = [(t, i, lv) for t in range(len(levels[syms[0]])) for i, s in enumerate(syms) if (lv := levels[s][t]) >= 0]
    n = len(rows)
    el = eligible or {}
    return ScoredBars(
        symbols=syms, time_ms=np.array([T0 + (t + 1) * H for t, _, _ in rows], np.int64),
        symbol_idx=np.array([i for _, i, _ in rows], np.int32), bar_index=np.array([t for t, _, _ in rows], np.int32),
        close=np.ones(n), momentum=np.array([20.0 * lv for _, _, lv in rows]),
        level=np.array([lv for _, _, lv in rows], np.int8), probability=np.full(n, 40.0),
        composite=np.array([12.0 * lv + i for _, i, lv in rows]),
        eligible=np.array([el.get(syms[i], [True] * 99)[t] for t, i, _ in rows], np.bool_),
        quote_volume_24h=np.full(n, 5e6), components={p: np.zeros(n) for p in PARTS},
        indicators={k: np.full(n, np.nan) for k in INDICATORS},
        scan_ms=T0 + (np.arange(len(levels[syms[0]])) + 1) * H,
    )  # fmt: skip


def test_alert_replay_follows_the_live_rules() -> None:
    """Hold two scans, FUERTE at once, ALTA in a digest sent when its window closes, a missing bar or a failed
    filter breaks a run, an ALTA alert upgraded by a held FUERTE, a digest still open at the end sent."""
    A, F, M = int(Level.ALTA), int(Level.FUERTE), int(Level.MEDIA)
    sb = scored_frame({
        "AUSDT": [A, A, A, M, M, M, M, M],  # ALTA held at scan 1: digest, sent 120 s later
        "BUSDT": [F, -1, F, F, M, M, M, M],  # no bar at scan 1 breaks the run; FUERTE held at scan 3: at once
        "CUSDT": [A, A, F, F, M, M, M, M],  # ALTA at scan 1 (digest), then a held FUERTE: upgrade at scan 3
        "DUSDT": [A, A, A, A, M, M, M, M],  # never eligible: no alert
        "EUSDT": [M, M, M, M, M, M, A, A],  # ALTA held at the last scan: its digest goes out after the end
    }, eligible={"DUSDT": [False] * 8})  # fmt: skip
    got = replay_alerts(sb, AlertRules(hold_scans=2, cooldown_s=300, digest_s=120))
    table = [(sb.symbols[int(sb.symbol_idx[r])], int(sb.bar_index[r]), int(lv), int(ms - T0), bool(u))
             for r, lv, ms, u in zip(got.rows, got.level, got.sent_ms, got.upgrade, strict=True)]  # fmt: skip
    assert table == [
        ("AUSDT", 1, A, 2 * H + 120_000, False),
        ("CUSDT", 1, A, 2 * H + 120_000, False),
        ("BUSDT", 3, F, 4 * H, False),
        ("CUSDT", 3, F, 4 * H, True),
        ("EUSDT", 7, A, 8 * H + 120_000, False),
    ]
    assert len(replay_alerts(sb.take(sb.level < A))) == 0


def test_bad_input_is_a_clear_error() -> None:
    h = History("spot", "1h", {"AUSDT": bars(60, 2)})
    with pytest.raises(HistoryError, match=r"1h bars but scanner\.interval is 1m"):
        replay(h, ScannerConfig(interval="1m"))
    with pytest.raises(HistoryError, match="futures"):
        replay(History("futures", "1h", h.bars), ScannerConfig(interval="1h", venues=["spot"]))
    empty = replay(History("spot", "1h", {}), CFG)
    assert len(empty) == 0 and empty.scan_ms.size == 0
    assert len(replay(h, CFG)) == 0  # 60 bars: still warming up (150 by default)
    with pytest.raises(HistoryError, match="no such store file"):
        run_backtest(Path("/nonexistent/x.duckdb"), CFG)
    with pytest.raises(HistoryError, match="no such file or folder"):
        run_backtest(Path("/nonexistent/klines"), CFG)


class FlatModel:
    """A stand-in for a calibrated model: 42 % everywhere, one factor."""

    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput:
        flat = np.full(x.momentum.shape, 42.0)
        return ProbabilityOutput(probability=flat, factors={"flat": flat / 42.0})


def test_probability_model_is_pluggable_and_eligible_rows_can_be_kept_alone() -> None:
    h = synthetic(420)
    sb = replay(h, CFG, probability=FlatModel(), warmup_bars=100)
    assert (sb.probability == 42.0).all() and list(sb.factors) == ["flat"]
    np.testing.assert_allclose(sb.composite, 0.6 * sb.momentum + 0.4 * 42.0)
    only = replay(h, CFG, probability=FlatModel(), warmup_bars=100, scored="eligible")
    assert 0 < len(only) < len(sb)
    assert_same(only, sb.take(sb.eligible))
    assert np.array_equal(only.scan_ms, sb.scan_ms)  # every scan is kept, with rows or without


class Recorder:
    """The heuristic model, recording the 24 h volumes each scan hands it."""

    def __init__(self) -> None:
        self.inner = HeuristicProbability(CFG.probability)
        self.volumes: list[np.ndarray] = []

    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput:
        self.volumes.append(x.quote_volume_24h.copy())
        return self.inner(x)


def test_a_pair_that_stops_trading_fades_out_of_the_universe() -> None:
    """DUSDT's last bar closes at bar 400: the model still sees its row, with a 24 h volume that only loses bars
    (to exactly 0 a day later), and it gets no more rows; CUSDT's six-hour hole fades and refills the same way."""
    h = synthetic()
    rec = Recorder()
    sb = replay(h, CFG, probability=rec, warmup_bars=300)
    assert len(rec.volumes) == len(sb.scan_ms)  # one model call per scan
    for sym in ("DUSDT", "CUSDT"):
        b, row = h.bars[sym], sb.symbols.index(sym)
        seen = np.array([v[row] for v in rec.volumes])
        expect = [float(b[6, (b[0] >= t - DAY) & (b[0] + H <= t)].sum()) for t in sb.scan_ms.tolist()]
        np.testing.assert_allclose(seen, expect, rtol=1e-9, atol=1e-6)
    d = sb.symbols.index("DUSDT")
    last = T0 + 400 * H
    assert not (sb.symbol_idx[sb.time_ms > last] == d).any()
    after = np.array([v[d] for v in rec.volumes])[sb.scan_ms > last]
    assert np.all(np.diff(after) <= 0) and after[0] > 0 and (after[24:] == 0).all()
