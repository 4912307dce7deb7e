"""Stream payloads of the generator, one handler per stream kind (see ``streams.GeneratorSource``).

Snapshots are cached as encoded templates keyed by their content (minute and trades so far); only the
event time is swapped in when nothing else changed.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from cryptoscan.sim.market import merge
from cryptoscan.sim.market_fmt import fmt_units
from cryptoscan.sim.market_rest import avg_price, pct, quote
from cryptoscan.sim.market_universe import MIN_MS, SeriesSpec
from cryptoscan.venues.binance import schemas as w
from cryptoscan.venues.binance.spec import Kind, Venue

if TYPE_CHECKING:
    from cryptoscan.sim.streams import GeneratorSource, MinuteState, Sub

Out = list[tuple[int, Venue, str, bytes]]
_E0 = b'"E":0,'
_ET0 = b'"E":0,"T":0,'


def _with_e(tmpl: bytes, t: int) -> bytes:
    return tmpl.replace(_E0, b'"E":%d,' % t, 1)


class Emitter:
    """Builds the messages of one stream for one poll window."""

    def __init__(self, src: GeneratorSource) -> None:
        self.src = src
        self.model = src.model
        self._tmpl: dict[tuple[Venue, str], tuple[object, bytes]] = {}
        self._books: dict[tuple[Venue, str], tuple[int, dict[tuple[int, bool], bytes]]] = {}
        self._elem: dict[tuple[str, int], tuple[object, bytes]] = {}
        self._sent: dict[tuple[Venue, str], dict[int, object]] = {}
        self._px: list[dict[int, str]] = [{} for _ in self.model.uni.series]
        self._qx: list[dict[int, str]] = [{} for _ in self.model.uni.series]

    # --- formatting with small per-series caches ----------------------------------------------------------
    def px(self, s: SeriesSpec, ticks: int) -> str:
        d = self._px[s.idx]
        text = d.get(ticks)
        if text is None:
            if len(d) > 4096:
                d.clear()
            text = d[ticks] = fmt_units(ticks, s.tick_exp, s.out_price_dec)
        return text

    def qx(self, s: SeriesSpec, steps: int) -> str:
        d = self._qx[s.idx]
        text = d.get(steps)
        if text is None:
            if len(d) > 4096:
                d.clear()
            text = d[steps] = fmt_units(steps, s.step_exp, s.out_qty_dec)
        return text

    # --- dispatch -----------------------------------------------------------------------------------------
    def stream(self, venue: Venue, name: str, sub: Sub, prev: int, now: int, out: Out) -> None:
        kind, s = sub.kind, sub.series
        if s is None:
            tick = now // sub.cadence * sub.cadence
            if tick > prev:
                self.all_symbols(venue, name, sub, tick, out)
            return
        if kind is Kind.TRADE or kind is Kind.AGG_TRADE:
            self.trades(venue, name, s, kind is Kind.TRADE, prev, now, out)
            return
        if kind is Kind.KLINE:
            self.kline_closes(venue, name, s, sub.ims, prev, now, out)
        if kind is Kind.BOOK_TICKER:
            if sub.cadence:  # thinned at high speed: at most one per cadence, for trades since the last one
                tick = now // sub.cadence * sub.cadence
                if tick <= prev:
                    return
                prev = tick - sub.cadence
            self.book_ticker(venue, name, s, prev, now, out)
            return
        tick = now // sub.cadence * sub.cadence
        if tick <= prev:
            return
        st = self.src.minute(s, tick // MIN_MS)
        k = bisect_right(st.times, tick)
        key: object = (st.minute, k)
        if kind is Kind.MARK_PRICE:
            out.append((tick, venue, name, w.encode(self.mark(s, tick))))
            return
        if kind is Kind.DEPTH:
            out.append((tick, venue, name, self.depth(venue, name, s, sub.levels, st, k, tick)))
            return
        cached = self._tmpl.get((venue, name))
        if cached is None or cached[0] != key:
            cached = (key, self.template(venue, s, sub, tick))
            self._tmpl[(venue, name)] = cached
        tmpl = cached[1]
        out.append((tick, venue, name, _with_e(tmpl, tick)))

    def template(self, venue: Venue, s: SeriesSpec, sub: Sub, t: int) -> bytes:
        kind = sub.kind
        if kind is Kind.KLINE:
            return w.encode(self.kline_msg(s, sub.ims, t // sub.ims * sub.ims, t, 0))
        if kind is Kind.MINI_TICKER:
            return w.encode(self.mini(s, t))
        return w.encode(self.ticker(venue, s, t))

    # --- klines -------------------------------------------------------------------------------------------
    def kline_msg(self, s: SeriesSpec, ims: int, open_ms: int, t: int, e_time: int) -> w.KlineMsg:
        m0, now_min = open_ms // MIN_MS, t // MIN_MS
        closed = m0 + ims // MIN_MS <= now_min and t >= open_ms + ims
        if closed:
            bar = self.model.span(s, m0, m0 + ims // MIN_MS)
            assert bar is not None
        else:
            _, _, part = self.src.state(s, t)
            bar = merge(self.model.span(s, m0, now_min), part)
        f = self.src.first_id(s, m0)
        k = w.KlineBar(open_ms, open_ms + ims - 1, s.symbol, _INTERVAL_NAME[ims], f, f + bar.n - 1,
                       self.px(s, bar.o), self.px(s, bar.c), self.px(s, bar.h), self.px(s, bar.l), self.qx(s, bar.v),
                       bar.n, closed, quote(s, bar.q), self.qx(s, bar.tb), quote(s, bar.qb))
        return w.KlineMsg(e_time, s.symbol, k)

    def kline_closes(self, venue: Venue, name: str, s: SeriesSpec, ims: int, prev: int, now: int, out: Out) -> None:
        b = (prev // ims + 1) * ims
        while b <= now:
            out.append((b, venue, name, w.encode(self.kline_msg(s, ims, b - ims, b, b))))
            b += ims

    # --- trades -------------------------------------------------------------------------------------------
    def trades(self, venue: Venue, name: str, s: SeriesSpec, single: bool, prev: int, now: int, out: Out) -> None:
        spot = venue is Venue.SPOT
        for minute in range(prev // MIN_MS, now // MIN_MS + 1):
            st = self.src.minute(s, minute)
            i0, i1 = bisect_right(st.times, prev), bisect_right(st.times, now)
            for i in range(i0, i1):
                t, p = st.times[i], self.px(s, st.p[i])
                last = st.tid + st.cum_n[i] - 1
                first = last - st.cnt[i] + 1
                maker = st.maker[i]
                if single:
                    for tid in range(first, last + 1):
                        msg = w.TradeMsg(t, s.symbol, tid, p, self.qx(s, st.tq[tid - st.tid]), t, maker, True)
                        out.append((t, venue, name, w.encode(msg)))
                else:
                    agg = w.AggTradeMsg(event_time=t, symbol=s.symbol, agg_id=st.aid + i, price=p,
                                        quantity=self.qx(s, st.q[i]), first_trade_id=first, last_trade_id=last,
                                        trade_time=t, buyer_is_maker=maker, ignore_best_match=True if spot else None)
                    out.append((t, venue, name, w.encode(agg)))

    # --- books --------------------------------------------------------------------------------------------
    def book_ticker(self, venue: Venue, name: str, s: SeriesSpec, prev: int, now: int, out: Out) -> None:
        st = self.src.minute(s, now // MIN_MS)
        k = bisect_right(st.times, now)
        if k == 0 or st.times[k - 1] <= prev:
            return  # no trade in the window: the top of book did not move
        t = st.times[k - 1]
        uid, bids, asks = self.model.book(s, t, 1)
        b, a = bids[0], asks[0]
        if venue is Venue.SPOT:
            msg: w.SpotBookTickerMsg | w.FuturesBookTickerMsg = w.SpotBookTickerMsg(
                uid, s.symbol, self.px(s, b[0]), self.qx(s, b[1]), self.px(s, a[0]), self.qx(s, a[1]))
        else:
            msg = w.FuturesBookTickerMsg(uid, s.symbol, self.px(s, b[0]), self.qx(s, b[1]), self.px(s, a[0]),
                                         self.qx(s, a[1]), t, t + 1)
        out.append((t, venue, name, w.encode(msg)))

    def depth(self, venue: Venue, name: str, s: SeriesSpec, levels: int, st: MinuteState, k: int, t: int) -> bytes:
        """Partial book; the encoded body is cached per (minute, best bid) and the update ids swapped in."""
        last, maker = st.p[k - 1], st.maker[k - 1]
        uid = 3 * (st.tid + st.cum_n[k - 1]) + 7
        key = (last, maker)
        books = self._books.get((venue, name))
        if books is None or books[0] != st.minute:
            books = (st.minute, {})
            self._books[(venue, name)] = books
        body = books[1].get(key)
        if body is None:
            bids, asks = self.model.book_levels(s, st.minute, last, maker, levels)
            px, qx = self.px, self.qx
            b = [(px(s, p), qx(s, q)) for p, q in bids]
            a = [(px(s, p), qx(s, q)) for p, q in asks]
            if venue is Venue.SPOT:
                body = w.encode(w.SpotDepthMsg(0, b, a))
            else:
                body = w.encode(w.DepthUpdateMsg(event_time=0, transaction_time=0, symbol=s.symbol, first_update_id=0,
                                                 final_update_id=0, prev_final_update_id=0, bids=b, asks=a))
            books[1][key] = body
        if venue is Venue.SPOT:
            return body.replace(b'"lastUpdateId":0,', b'"lastUpdateId":%d,' % uid, 1)
        head = b'"E":%d,"T":%d,"s":"%s","U":%d,"u":%d,"pu":%d,' % (t, t - 2, s.symbol.encode(), uid - 2, uid, uid - 3)
        return body.replace(b'"E":0,"T":0,"s":"%s","U":0,"u":0,"pu":0,' % s.symbol.encode(), head, 1)

    # --- tickers ------------------------------------------------------------------------------------------
    def mini(self, s: SeriesSpec, t: int) -> w.MiniTickerMsg:
        bar, _, _, _ = self.src.window(s, t, 1440)
        return w.MiniTickerMsg(0, s.symbol, self.px(s, bar.c), self.px(s, bar.o), self.px(s, bar.h),
                               self.px(s, bar.l), self.qx(s, bar.v), quote(s, bar.q))

    def ticker(self, venue: Venue, s: SeriesSpec, t: int) -> w.TickerMsg:
        bar, open_ms, first, last = self.src.window(s, t, 1440)
        st, k, _ = self.src.state(s, t)
        change = self.px(s, bar.c - bar.o) if bar.c >= bar.o else "-" + self.px(s, bar.o - bar.c)
        common = dict(price_change=change, price_change_percent=pct(s, bar), weighted_avg_price=avg_price(s, bar),
                      last_price=self.px(s, bar.c), last_quantity=self.qx(s, st.q[k - 1]), open=self.px(s, bar.o),
                      high=self.px(s, bar.h), low=self.px(s, bar.l), volume=self.qx(s, bar.v),
                      quote_volume=quote(s, bar.q), open_time=open_ms, close_time=t, first_trade_id=first,
                      last_trade_id=last, trades=last - first + 1)
        if venue is Venue.FUTURES:
            return w.TickerMsg(0, s.symbol, **common)  # type: ignore[arg-type]
        _, bids, asks = self.model.book(s, t, 1)
        return w.TickerMsg(0, s.symbol, first_trade_price=self.px(s, bar.o), best_bid=self.px(s, bids[0][0]),
                           best_bid_qty=self.qx(s, bids[0][1]), best_ask=self.px(s, asks[0][0]),
                           best_ask_qty=self.qx(s, asks[0][1]), **common)  # type: ignore[arg-type]

    def rolling(self, s: SeriesSpec, minutes: int, t: int) -> w.Ticker1hMsg | w.Ticker4hMsg | w.Ticker1dMsg:
        bar, open_ms, first, last = self.src.window(s, t, minutes)
        cls = w.ROLLING_TICKER_BY_WINDOW[{60: "1h", 240: "4h", 1440: "1d"}[minutes]]
        change = self.px(s, bar.c - bar.o) if bar.c >= bar.o else "-" + self.px(s, bar.o - bar.c)
        return cls(0, s.symbol, change, pct(s, bar), self.px(s, bar.o), self.px(s, bar.h),  # type: ignore[return-value]
                   self.px(s, bar.l), self.px(s, bar.c), avg_price(s, bar), self.qx(s, bar.v), quote(s, bar.q),
                   open_ms, t, first, last, last - first + 1)

    def mark(self, s: SeriesSpec, t: int) -> w.MarkPriceMsg:
        st, k, _ = self.src.state(s, t)
        spot = None
        if s.index_of is not None:
            sp = self.model.uni.series[s.index_of]
            sst, sk, _ = self.src.state(sp, t)
            spot = sst.p[sk - 1]
        mark, index, rate, nxt = self.model.mark_from(s, st.p[k - 1], spot, t)
        return w.MarkPriceMsg(t, s.symbol, f"{mark:.8f}", f"{index:.8f}", f"{index * (1 + rate / 8):.8f}",
                              f"{rate:.8f}", nxt)

    def all_symbols(self, venue: Venue, name: str, sub: Sub, t: int, out: Out) -> None:
        series = [s for s in self.model.all_series(venue) if s.info.status == "TRADING"]
        if sub.kind is Kind.ALL_MARK_PRICE:
            out.append((t, venue, name, w.encode([self.mark(s, t) for s in series])))
            return
        sent = self._sent.setdefault((venue, name), {})
        tag = f"{venue.value}:{sub.kind.value}:{sub.window}"
        parts: list[bytes] = []
        for s in series:
            st, k, _ = self.src.state(s, t)
            key = (st.minute, k)
            if sent.get(s.idx) == key:
                continue  # unchanged: Binance sends only the tickers that changed
            sent[s.idx] = key
            ek = (tag, s.idx)
            hit = self._elem.get(ek)
            if hit is None or hit[0] != key:
                msg = self.mini(s, t) if sub.kind is Kind.ALL_MINI_TICKER else self.rolling(s, sub.window, t)
                hit = (key, w.encode(msg))
                self._elem[ek] = hit
            parts.append(hit[1])
        if parts:
            out.append((t, venue, name, (b"[" + b",".join(parts) + b"]").replace(_E0, b'"E":%d,' % t)))


_INTERVAL_NAME = {60_000: "1m", 180_000: "3m", 300_000: "5m", 900_000: "15m", 3_600_000: "1h",
                  14_400_000: "4h", 86_400_000: "1d"}
