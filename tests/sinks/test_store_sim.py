"""End to end: the real aggregator on the local exchange (spot + futures, speed 120) feeding StoreSink(DuckDB).
Every closed 1m kline the sim's truth file lists for the subscribed pairs, from the first one it wrote up to the
last one the feed delivered, is in the store with the truth's OHLCV, quote volume and trade count."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from store_fixtures import duck_rows

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.events import Kline
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.sim.truth import KlineTruth, read_truth
from cryptoscan.sinks.store import StoreSink
from helpers import until

SPEED = 120.0
BARS = 20  # closed bars per pair to wait for (10 real seconds at speed 120)


async def test_the_store_holds_every_closed_kline_of_the_truth_file(tmp_path: Path) -> None:
    truth_path, store = tmp_path / "truth.jsonl", tmp_path / "store" / "cs.duckdb"
    delivered: list[Kline] = []
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=20, n_futures=10, seed=5, truth=truth_path)) as sim:
        clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
        settings = FeedSettings(exchange_url=sim.url, history_bars=30, klines_buffer_size=200,
                                stale_grace_ms=120_000, silence_ms=240_000)  # fmt: skip
        agg = BinanceWebSocketAggregator(max_workers=4, chunk_size=20, min_volume_24h=0.0, max_pairs=4,
                                         settings=settings, clock=clock)  # fmt: skip
        sink = StoreSink(store, flush_interval_s=0.5)
        agg.register_kline_callback(lambda k: delivered.append(k) if k.closed else None)
        sink.attach(agg)
        await sink.start()
        await agg.start()
        try:
            # the REST history the feed loaded into its state (not published to consumers)
            history = await sink.offer_market((await agg.get_market_snapshot()).values())
            pairs = {(str(v), s) for v, sel in agg.selections.items() for s in sel.names}
            await until(lambda: len(delivered) >= BARS * len(pairs), 40, f"{BARS} closed bars per pair")
        finally:
            await agg.stop()  # consumers drained: every delivered kline has been offered
            await sink.stop(timeout_s=20)
    st = sink.stats
    assert st.pending == 0 and st.dropped == 0 and st.errors == 0 and st.failures == 0
    assert history >= 30 * len(pairs) and {v for v, _ in pairs} == {"spot", "futures"} and len(pairs) == 8
    last: dict[tuple[str, str], int] = defaultdict(int)
    for k in delivered:
        last[(k.venue, k.symbol)] = max(last[(k.venue, k.symbol)], k.open_time)
    truth = [t for t in read_truth(truth_path) if isinstance(t, KlineTruth) and (t.venue, t.symbol) in pairs]
    want = {(t.venue, t.symbol, t.open_time): t for t in truth if t.open_time <= last[(t.venue, t.symbol)]}
    assert len(want) >= BARS * len(pairs)
    rows = duck_rows(store, "SELECT venue, symbol, open_time, close_time, open, high, low, close, volume, "
                     "quote_volume, trades FROM klines WHERE interval = '1m'")  # fmt: skip
    got = {(r[0], r[1], r[2]): r[3:] for r in rows}
    missing = sorted(set(want) - set(got))
    assert not missing, f"{len(missing)} truth klines not in the store, e.g. {missing[:3]}"
    for key, t in want.items():
        assert got[key] == (t.close_time, float(t.open), float(t.high), float(t.low), float(t.close),
                            float(t.volume), float(t.quote_volume), t.trades), key  # fmt: skip
    print(f"\nstore e2e: {len(want)} truth klines checked, {len(rows)} stored ({history} from history), {st}")
