"""FrameParser against real recorded Binance frames (../shared/data): every value checked against json.loads."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cryptoscan import events as ev
from cryptoscan.venues.binance import parser_wire as w
from cryptoscan.venues.binance import schemas as s
from cryptoscan.venues.binance.parser import ControlReply, DepthDiff, FrameParser, Parsed
from cryptoscan.venues.binance.spec import Venue

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance"
TS = 1_700_000_000_123
USDM = ("linear_swap", "linear_swap_all", "linear_future")


def f(x: str) -> float:
    return float(x)


def levels(rows: list[list[str]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(p), float(q)) for p, q in rows)


def expected(stream: str | None, d: dict[str, Any], ts_recv: int, spot: bool) -> tuple[type, dict[str, Any]]:
    """The event type and field values a payload must give, computed from the JSON alone."""
    e = d.get("e")
    tail = stream.split("@", 1)[1] if stream and "@" in stream else ""
    if e == "kline":
        k = d["k"]
        return ev.Kline, {
            "symbol": d["s"], "interval": k["i"], "open_time": k["t"], "close_time": k["T"], "open": f(k["o"]),
            "high": f(k["h"]), "low": f(k["l"]), "close": f(k["c"]), "volume": f(k["v"]),
            "quote_volume": f(k["q"]), "trades": k["n"], "taker_buy_volume": f(k["V"]),
            "taker_buy_quote_volume": f(k["Q"]), "closed": k["x"], "first_trade_id": k["f"],
            "last_trade_id": k["L"], "ts_event": d["E"], "ts_recv": ts_recv,
        }  # fmt: skip
    if e in ("aggTrade", "trade"):
        agg = e == "aggTrade"
        tid = d.get("a", -1) if agg else d["t"]
        return ev.Trade, {
            "symbol": d["s"], "trade_id": tid, "price": f(d["p"]), "quantity": f(d["q"]),
            "buyer_is_maker": d["m"], "trade_time": d["T"], "first_trade_id": d["f"] if agg else tid,
            "last_trade_id": d["l"] if agg else tid, "aggregated": agg, "ts_event": d["E"], "ts_recv": ts_recv,
        }  # fmt: skip
    if e in ("24hrTicker", "1hTicker", "4hTicker", "1dTicker"):
        return ev.Ticker, {
            "symbol": d["s"], "window": "24h" if e == "24hrTicker" else e[:2], "last": f(d["c"]),
            "open": f(d["o"]), "high": f(d["h"]), "low": f(d["l"]), "volume": f(d["v"]),
            "quote_volume": f(d["q"]), "price_change_percent": f(d["P"]), "weighted_avg_price": f(d["w"]),
            "trades": d["n"], "open_time": d["O"], "close_time": d["C"],
            "best_bid": f(d["b"]) if "b" in d else None, "best_ask": f(d["a"]) if "a" in d else None,
            "ts_event": d["E"], "ts_recv": ts_recv,
        }  # fmt: skip
    if e == "24hrMiniTicker":
        return ev.MiniTicker, {
            "symbol": d["s"], "close": f(d["c"]), "open": f(d["o"]), "high": f(d["h"]), "low": f(d["l"]),
            "volume": f(d["v"]), "quote_volume": f(d["q"]), "ts_event": d["E"], "ts_recv": ts_recv,
        }  # fmt: skip
    if e == "bookTicker" or (e is None and "u" in d):
        return ev.BookTop, {
            "symbol": d["s"], "bid": f(d["b"]), "bid_qty": f(d["B"]), "ask": f(d["a"]), "ask_qty": f(d["A"]),
            "update_id": d["u"], "ts_event": d.get("E", ts_recv), "ts_recv": ts_recv,
        }  # fmt: skip
    if e is None and "lastUpdateId" in d:
        assert stream is not None
        return ev.Depth, {
            "symbol": stream.split("@")[0].upper(), "bids": levels(d["bids"]), "asks": levels(d["asks"]),
            "last_update_id": d["lastUpdateId"], "prev_update_id": None, "ts_event": ts_recv, "ts_recv": ts_recv,
        }  # fmt: skip
    if e == "depthUpdate":
        common = {"symbol": d["s"], "bids": levels(d["b"]), "asks": levels(d["a"]), "last_update_id": d["u"],
                  "prev_update_id": d.get("pu"), "ts_event": d["E"], "ts_recv": ts_recv}  # fmt: skip
        if tail.startswith("depth") and tail[5:6].isdigit():
            return ev.Depth, common
        return DepthDiff, {**common, "first_update_id": d["U"]}
    if e == "markPriceUpdate":
        return ev.MarkPrice, {
            "symbol": d["s"], "mark": f(d["p"]), "index": f(d["i"]) if "i" in d else None,
            "estimated_settle": f(d.get("P", "0")), "funding_rate": f(d.get("r", "0")),
            "next_funding_time": d.get("T", 0), "ts_event": d["E"], "ts_recv": ts_recv,
        }  # fmt: skip
    raise AssertionError(f"no expectation for {stream} {d}")


def check(got: list[Parsed], stream: str | None, data: Any, venue: Venue) -> None:
    items = data if isinstance(data, list) else [data]
    assert len(got) == len(items), (stream, got)
    for event, item in zip(got, items, strict=True):
        typ, want = expected(stream, item, TS, venue is Venue.SPOT)
        assert type(event) is typ, (stream, event)
        assert {k: getattr(event, k) for k in want} == want
        if hasattr(event, "venue"):
            assert event.venue == venue.value


def enc(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


# --- crypto-msg-parser's recorded payloads ------------------------------------------------------------------


def _raw_messages() -> list[tuple[str, Venue, str, Any]]:
    out = []
    for line in (DATA / "payloads" / "binance_raw_messages.jsonl").read_text().splitlines():
        rec = json.loads(line)
        raw, fn = rec["raw"], rec["rust_test_fn"]
        if fn not in ("spot", *USDM) or not isinstance(raw, dict) or "stream" not in raw:
            continue  # coin-margined and options are not our venues; REST answers are not frames
        venue = Venue.SPOT if fn == "spot" else Venue.FUTURES
        out.append((f"{rec['rust_module']}/{fn}/{raw['stream']}", venue, raw["stream"], raw["data"]))
    return out


RAW = _raw_messages()


@pytest.mark.parametrize(("label", "venue", "stream", "data"), RAW, ids=[r[0] for r in RAW])
def test_recorded_payload_parses_with_recorded_values(label: str, venue: Venue, stream: str, data: Any) -> None:
    parser = FrameParser(venue)
    check(parser.parse(enc({"stream": stream, "data": data}), TS), stream, data, venue)
    check(parser.parse(enc(data), TS, stream), stream, data, venue)
    if stream != "ethusdt@depth20" or venue is not Venue.SPOT:  # spot depth20 has no symbol: needs the name
        nameless = None if not stream.split("@", 1)[-1].startswith("depth2") else stream  # partial vs diff
        check(parser.parse(enc(data), TS, nameless), stream, data, venue)
    assert parser.errors.total == 0, parser.errors.samples


def test_recorded_payloads_cover_the_kinds() -> None:
    kinds = {label.split("/")[0] for label, *_ in RAW}
    assert {"trade", "funding_rate", "l2_event", "l2_topk", "bbo", "ticker", "candlestick"} <= kinds


# --- cryptofeed's recorded sessions ---------------------------------------------------------------------------


def _replay(name: str) -> list[dict[str, Any]]:
    with gzip.open(DATA / "ws" / name, "rt") as fh:
        return [json.loads(line) for line in fh]


REPLAYS = sorted(p.name for p in (DATA / "ws").glob("*.replay.jsonl.gz"))


@pytest.mark.parametrize("name", REPLAYS)
def test_every_replayed_message_gives_one_equal_event(name: str) -> None:
    venue = Venue.FUTURES if name.startswith("usdm") else Venue.SPOT
    parser = FrameParser(venue)
    rows = _replay(name)
    assert len(rows) > 1000
    for row in rows:
        stream, data = row["stream"], row["data"]
        raw = enc(data)
        check(parser.parse(enc({"stream": stream, "data": data}), TS), stream, data, venue)
        check(parser.parse(raw, TS, stream), stream, data, venue)
        check(parser.parse(raw, TS), stream, data, venue)  # /ws single stream: routed by ``e`` (or ``u``)
    assert parser.errors.total == 0, parser.errors.samples


def test_replayed_kline_is_open_then_closed() -> None:
    parser = FrameParser(Venue.SPOT)
    klines = [
        e
        for row in _replay("spot_2021-04-04_3pairs.replay.jsonl.gz")
        if "@kline" in row["stream"]
        for e in parser.parse(enc(row), TS)
    ]
    assert all(isinstance(k, ev.Kline) for k in klines)
    by_bar: dict[tuple[str, int], list[bool]] = {}
    for k in klines:
        assert isinstance(k, ev.Kline)
        by_bar.setdefault((k.symbol, k.open_time), []).append(k.closed)
    finished = [flags for flags in by_bar.values() if flags[-1]]
    assert finished, "the recording holds closed bars"
    for flags in finished:
        assert flags.count(True) == 1 and flags[0] is False  # x=false repeats, then x=true once


def test_replayed_diff_depth_chains_its_update_ids() -> None:
    """Spot ``U`` = previous ``u`` + 1; futures ``pu`` = previous ``u``: the ids survive parsing intact."""
    for name, venue in (
        ("spot_2021-04-04_3pairs.replay.jsonl.gz", Venue.SPOT),
        ("usdm_2021-07-22_4pairs.replay.jsonl.gz", Venue.FUTURES),
    ):
        parser = FrameParser(venue)
        last: dict[str, int] = {}
        chained = 0
        for row in _replay(name):
            for d in parser.parse(enc(row), TS):
                if isinstance(d, DepthDiff):
                    if d.symbol in last:
                        prev = d.prev_update_id if venue is Venue.FUTURES else d.first_update_id - 1
                        chained += prev == last[d.symbol]
                    last[d.symbol] = d.last_update_id
        assert chained > 500


# --- tardis-node's messages --------------------------------------------------------------------------------


def test_tardis_trades_and_book_tickers() -> None:
    seen = 0
    for line in (DATA / "payloads" / "tardis_binance_raw_and_expected.jsonl").read_text().splitlines():
        rec = json.loads(line)
        raw, norm = rec["raw"], rec["tardis_normalized_expected"]
        if rec["tardis_exchange"] == "binance-delivery" or "stream" not in raw:
            continue
        kind = raw["stream"].split("@", 1)[1]
        if kind not in ("trade", "bookTicker") or not norm:
            continue
        venue = Venue.SPOT if rec["tardis_exchange"] == "binance" else Venue.FUTURES
        (got,) = FrameParser(venue).parse(enc(raw), TS)
        (want,) = norm
        if kind == "trade":
            assert isinstance(got, ev.Trade)
            assert (got.symbol, str(got.trade_id), got.price, got.quantity) == (
                want["symbol"], want["id"], want["price"], want["amount"])  # fmt: skip
            assert got.buyer_is_maker == (want["side"] == "sell")
        else:
            assert isinstance(got, ev.BookTop)
            assert (got.bid, got.bid_qty, got.ask, got.ask_qty) == (
                want["bidPrice"], want["bidAmount"], want["askPrice"], want["askAmount"])  # fmt: skip
        seen += 1
    assert seen >= 5


# --- payloads the recordings lack, built with the lead's wire schemas (so the names agree) -----------------


def _mini(sym: str, c: str) -> s.MiniTickerMsg:
    return s.MiniTickerMsg(
        event_time=5, symbol=sym, close=c, open="1.0", high="2.5", low="0.5", volume="10", quote_volume="12.5"
    )


def _rolling(window: str, sym: str) -> s._RollingTicker:
    return s.ROLLING_TICKER_BY_WINDOW[window](
        event_time=7, symbol=sym, price_change="0.1", price_change_percent="1.5", open="10", high="12", low="9",
        close="11", weighted_avg_price="10.5", volume="100", quote_volume="1050", open_time=1, close_time=2,
        first_trade_id=3, last_trade_id=4, trades=2,
    )  # fmt: skip


def test_all_market_arrays_give_one_event_per_element() -> None:
    parser = FrameParser(Venue.SPOT)
    minis = [_mini("BTCUSDT", "30000.5"), _mini("ETHUSDT", "2000.25")]
    got = parser.parse(enc({"stream": "!miniTicker@arr", "data": minis}), TS)
    assert [(m.symbol, m.close) for m in got if isinstance(m, ev.MiniTicker)] == [
        ("BTCUSDT", 30000.5),
        ("ETHUSDT", 2000.25),
    ]
    assert parser.parse(enc(minis), TS) == got  # raw /ws/!miniTicker@arr, routed by the elements' ``e``
    for window in ("1h", "4h", "1d"):
        data = [_rolling(window, "BTCUSDT"), _rolling(window, "XRPUSDT")]
        for frame, stream in ((enc({"stream": f"!ticker_{window}@arr", "data": data}), None), (enc(data), None)):
            tickers = parser.parse(frame, TS, stream)
            check(tickers, f"!ticker_{window}@arr", json.loads(enc(data)), Venue.SPOT)
            assert {t.window for t in tickers if isinstance(t, ev.Ticker)} == {window}
    assert parser.parse(b'{"stream":"!miniTicker@arr","data":[]}', TS) == []
    assert parser.errors.total == 0, parser.errors.samples


def test_single_mini_ticker_and_rolling_ticker_streams() -> None:
    parser = FrameParser(Venue.FUTURES)
    data = json.loads(s.encode(_mini("BTCUSDT", "3.5")))
    check(
        parser.parse(enc({"stream": "btcusdt@miniTicker", "data": data}), TS), "btcusdt@miniTicker", data, Venue.FUTURES
    )
    data = json.loads(s.encode(_rolling("4h", "BTCUSDT")))
    check(parser.parse(enc(data), TS, "btcusdt@ticker_4h"), "btcusdt@ticker_4h", data, Venue.FUTURES)


@pytest.mark.parametrize(
    ("frame", "stream"),
    [
        (b'{"e":"serverShutdown","E":1700000000000}', None),
        (b'{"e":"serverShutdown","E":1700000000000}', "btcusdt@kline_1m"),  # on a raw kline connection
        (b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1700000000000}}', None),
    ],
)
def test_server_shutdown(frame: bytes, stream: str | None) -> None:
    parser = FrameParser(Venue.SPOT)
    assert parser.parse(frame, TS, stream) == [ev.ServerShutdown("spot", 1_700_000_000_000, TS)]
    assert parser.parse(b'{"e":"serverShutdown"}', TS) == [ev.ServerShutdown("spot", TS, TS)]


@pytest.mark.parametrize(
    ("frame", "want"),
    [
        (b'{"result":null,"id":1}', ControlReply(1, None, None, None, TS)),
        (b'{"result":["btcusdt@aggTrade"],"id":"a7"}', ControlReply("a7", ["btcusdt@aggTrade"], None, None, TS)),
        (b'{"error":{"code":2,"msg":"Invalid request"},"id":3}', ControlReply(3, None, 2, "Invalid request", TS)),
        (b'{"code":0,"msg":"Unknown property","id":4}', ControlReply(4, None, 0, "Unknown property", TS)),
        (b'{"code":1,"msg":"Invalid value type"}', ControlReply(None, None, 1, "Invalid value type", TS)),
        (b'{"id": 5, "result": null}', ControlReply(5, None, None, None, TS)),
    ],
)
def test_control_replies(frame: bytes, want: ControlReply) -> None:
    parser = FrameParser(Venue.FUTURES)
    assert parser.parse(frame, TS) == [want]
    assert parser.parse(frame, TS, "btcusdt@aggTrade") == [want]  # on a raw stream connection too
    assert want.ok is (want.error_code is None)


def _order() -> s.OrderData:
    return s.OrderData(
        symbol="BTCUSDT", client_order_id="cs-1", side="BUY", order_type="LIMIT", time_in_force="GTC",
        quantity="0.010", price="30000.10", avg_price="30000.05", stop_price="0", execution_type="TRADE",
        status="PARTIALLY_FILLED", order_id=42, last_filled_qty="0.004", cum_filled_qty="0.006",
        last_filled_price="30000.00", trade_time=1700000000100, realized_profit="1.25",
    )  # fmt: skip


def _position(sym: str) -> s.PositionData:
    return s.PositionData(symbol=sym, position_amount="-0.5", entry_price="2000.5", unrealized_pnl="-3.5",
                          margin_type="isolated", position_side="SHORT")  # fmt: skip


def test_futures_user_data() -> None:
    parser = FrameParser(Venue.FUTURES)
    otu = s.OrderTradeUpdateMsg(event_time=10, transaction_time=9, order=_order())
    (o,) = parser.parse(s.encode(otu), TS)
    assert o == ev.OrderUpdate("BTCUSDT", 42, "cs-1", "BUY", "LIMIT", "PARTIALLY_FILLED", "TRADE", 30000.10,
                               30000.05, 0.010, 0.006, 0.004, 30000.00, 1.25, 1700000000100, 10, TS)  # fmt: skip
    account = s.AccountData(reason="ORDER", balances=[s.BalanceData("USDT", "100.5", "99.5", "-0.5")],
                            positions=[_position("ETHUSDT")])  # fmt: skip
    (a,) = parser.parse(s.encode(s.AccountUpdateMsg(event_time=11, transaction_time=10, account=account)), TS)
    balance = ev.Balance("USDT", 100.5, 99.5, -0.5)
    position = ev.Position("ETHUSDT", -0.5, 2000.5, -3.5, "isolated", "SHORT")
    assert a == ev.AccountUpdate("ORDER", (balance,), (position,), 11, TS)
    mc = s.MarginCallMsg(event_time=12, cross_wallet_balance="5.5", positions=[
        s.MarginCallPosition("ETHUSDT", "LONG", "1.5", "CROSSED", "0", "1999.0", "-40.0", "2.5")])  # fmt: skip
    (m,) = parser.parse(s.encode(mc), TS)
    assert isinstance(m, ev.MarginCall) and (m.cross_wallet_balance, m.ts_event) == (5.5, 12)
    (p,) = m.positions
    assert (p.symbol, p.amount, p.unrealized_pnl, p.margin_type, p.side) == ("ETHUSDT", 1.5, -40.0, "CROSSED", "LONG")
    assert math.isnan(p.entry_price)  # a margin call does not say
    cfg = s.AccountConfigUpdateMsg(event_time=13, transaction_time=12, leverage=s.LeverageConfig("BTCUSDT", 25))
    assert parser.parse(s.encode(cfg), TS) == [ev.AccountConfig("BTCUSDT", 25, 13, TS)]
    lke = b'{"e":"listenKeyExpired","E":"1736996475556","listenKey":"WsCMN0a4"}'  # E as a string, as sent now
    assert parser.parse(lke, TS) == [ev.ListenKeyExpired(1736996475556, TS)]
    assert parser.errors.total == 0, parser.errors.samples
    assert parser.parse(b'{"e":"ACCOUNT_CONFIG_UPDATE","E":14,"T":13,"ai":{"j":true}}', TS) == []
    assert parser.errors.counts == {"unsupported": 1}


# --- bad input ---------------------------------------------------------------------------------------------

KLINE = (b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT",'
         b'"i":"1m","f":1,"L":2,"o":"1.5","c":"1.6","h":"1.7","l":"1.4","v":"2","n":3,"x":false,"q":"3.1",'
         b'"V":"1","Q":"1.5","B":"0"}}}')  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "frame", "stream"),
    [
        ("json", b'{"stream":"btcusdt@kline_1m","data":{"e":"kline",', None),
        ("json", b"\xff\xfe not json", None),
        ("json", b"", None),
        ("schema", KLINE.replace(b'"o":"1.5"', b'"o":"abc"'), None),  # a price that is no number
        ("schema", KLINE.replace(b'"n":3,', b""), None),  # a missing field
        ("schema", KLINE.replace(b'"E":1,', b'"E":[1],'), None),
        ("schema", b"42", None),
        ("schema", b'{"e":"aggTrade","E":1}', None),
        ("unknown_event", b'{"e":"forceOrder","E":1,"o":{}}', None),
        ("unknown_event", b'{"foo":1}', None),
        ("unknown_event", b'[{"e":"forceOrder"}]', None),
        ("unknown_stream", b'{"stream":"btcusdt@forceOrder","data":{"E":1}}', None),
        ("unknown_stream", b'{"lastUpdateId":1,"bids":[],"asks":[]}', None),  # spot depth20 needs its name
        ("unknown_stream", b'{"lastUpdateId":1,"bids":[],"asks":[]}', "nonsense"),
    ],
)
def test_bad_input_is_counted_not_raised(kind: str, frame: bytes, stream: str | None) -> None:
    parser = FrameParser(Venue.SPOT)
    assert parser.parse(frame, TS, stream) == []
    assert parser.errors.counts == {kind: 1}
    assert kind in parser.errors.samples and len(parser.errors.samples[kind]) < 400
    assert len(parser.parse(KLINE, TS)) == 1  # and the next good frame still parses


def test_huge_frame_is_rejected_before_decoding() -> None:
    parser = FrameParser(Venue.SPOT)
    huge = b'{"stream":"btcusdt@kline_1m","data":' + b"[" * (10 << 20)  # would be a JSON error if decoded
    assert parser.parse(KLINE, TS)  # the stream is cached: the hot path sees this prefix
    assert parser.parse(huge, TS) == [] and parser.parse(b"[" * (10 << 20), TS) == []
    assert parser.errors.counts == {"too_large": 2}
    assert len(parser.errors.samples["too_large"]) < 300
    small = FrameParser(Venue.SPOT, max_frame_bytes=100)
    assert small.parse(KLINE, TS) == [] and small.errors.counts == {"too_large": 1}


def test_mutated_frames_never_raise() -> None:
    rng = random.Random(7)
    frames = [KLINE, *(enc(row) for row in _replay("usdm_2021-07-22_4pairs.replay.jsonl.gz")[:40])]
    parser = FrameParser(Venue.FUTURES)
    for _ in range(3000):
        frame = bytearray(rng.choice(frames))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(frame))
            op = rng.random()
            if op < 0.4:
                frame[i] = rng.randrange(256)
            elif op < 0.7:
                del frame[i : i + rng.randint(1, 20)]
            else:
                frame[i:i] = rng.choice([b'"', b"{", b"]", b",", b"null", b'"x"', b"1e999"])
        before = parser.errors.total
        got = parser.parse(bytes(frame), TS)
        assert got or parser.errors.total == before + 1  # either events or exactly one counted error
    assert parser.errors.counts["internal"] == 0


# --- the parser's assumptions, pinned ---------------------------------------------------------------------

WIRE_TO_SCHEMA: list[tuple[type, type]] = [
    (w.KlineW, s.KlineMsg), (w.KlineBarW, s.KlineBar), (w.TradeW, s.TradeMsg), (w.AggTradeW, s.AggTradeMsg),
    (w.TickerW, s.TickerMsg), (w.MiniTickerW, s.MiniTickerMsg), (w.BookTickerW, s.FuturesBookTickerMsg),
    (w.SpotDepthW, s.SpotDepthMsg), (w.DepthUpdateW, s.DepthUpdateMsg), (w.MarkPriceW, s.MarkPriceMsg),
    (w.ServerShutdownW, s.ServerShutdownMsg), (w.OrderW, s.OrderData), (w.OrderTradeUpdateW, s.OrderTradeUpdateMsg),
    (w.BalanceW, s.BalanceData), (w.PositionW, s.PositionData), (w.AccountW, s.AccountData),
    (w.AccountUpdateW, s.AccountUpdateMsg), (w.MarginCallW, s.MarginCallMsg), (w.LeverageW, s.LeverageConfig),
    (w.AccountConfigUpdateW, s.AccountConfigUpdateMsg), (w.ListenKeyExpiredW, s.ListenKeyExpiredMsg),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "schema"), WIRE_TO_SCHEMA, ids=[p[0].__name__ for p in WIRE_TO_SCHEMA])
def test_parser_wire_names_match_the_schemas(wire: type, schema: type) -> None:
    theirs = {fi.name: fi.encode_name for fi in msgspec.structs.fields(schema)}
    for fi in msgspec.structs.fields(wire):
        assert theirs.get(fi.name) == fi.encode_name, (wire.__name__, fi.name)


def test_event_field_order_the_emitters_rely_on() -> None:
    """``parser_routes`` builds events positionally (7x faster): a reordered events.py must fail here."""
    assert ev.Kline.__struct_fields__[:5] == ("venue", "symbol", "interval", "open_time", "close_time")
    assert ev.Kline.__struct_fields__[5:] == (
        "open", "high", "low", "close", "volume", "quote_volume", "trades", "taker_buy_volume",
        "taker_buy_quote_volume", "closed", "first_trade_id", "last_trade_id", "ts_event", "ts_recv",
    )  # fmt: skip
    assert ev.Trade.__struct_fields__ == (
        "venue", "symbol", "trade_id", "price", "quantity", "buyer_is_maker", "trade_time", "first_trade_id",
        "last_trade_id", "aggregated", "ts_event", "ts_recv",
    )  # fmt: skip
    assert ev.BookTop.__struct_fields__ == (
        "venue", "symbol", "bid", "bid_qty", "ask", "ask_qty", "update_id", "ts_event", "ts_recv")  # fmt: skip
    assert ev.Depth.__struct_fields__ == (
        "venue", "symbol", "bids", "asks", "last_update_id", "prev_update_id", "ts_event", "ts_recv")  # fmt: skip
    assert ev.MarkPrice.__struct_fields__ == (
        "symbol", "mark", "index", "estimated_settle", "funding_rate", "next_funding_time", "ts_event", "ts_recv",
    )  # fmt: skip


def test_stream_cache_is_bounded() -> None:
    parser = FrameParser(Venue.SPOT, max_cached_streams=8)
    for i in range(50):
        frame = KLINE.replace(b"btcusdt@kline_1m", b"sym%03dusdt@kline_1m" % i)
        assert len(parser.parse(frame, TS)) == 1
    assert len(parser._streams) <= 8 and len(parser._by_prefix) <= 8


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("btcusdt@kline_1m", "kline"), ("btcusdt@kline_1M", "kline"), ("btcusdt_210625@aggTrade", "aggTrade"),
        ("btcusdt@trade", "trade"), ("btcusdt@ticker", "24hrTicker"), ("btcusdt@ticker_1d", "1dTicker"),
        ("btcusdt@miniTicker", "24hrMiniTicker"), ("btcusdt@bookTicker", "bookTicker"), ("!bookTicker", "bookTicker"),
        ("btcusdt@depth", "depthUpdate"), ("btcusdt@depth@100ms", "depthUpdate"),
        ("btcusdt@depth20@100ms", "depthUpdate"),
        ("btcusdt@markPrice@1s", "markPriceUpdate"), ("!markPrice@arr@1s", "markPriceUpdate"),
        ("!miniTicker@arr", "24hrMiniTicker"), ("!ticker_4h@arr", "4hTicker"), ("!serverShutdown", "serverShutdown"),
        ("btcusdt@forceOrder", None), ("btcusdt@depthX", None), ("nonsense", None), ("@trade", None),
        ("!foo@arr", None),
    ],
)  # fmt: skip
def test_stream_names_route_to_the_payload_they_carry(name: str, event: str | None) -> None:
    route = FrameParser(Venue.FUTURES)._book.for_stream(name)
    assert (route and route.event) == event


def test_parse_many_equals_parse_into_per_frame_and_counts_the_cold_path() -> None:
    """One call per socket read gives what one call per frame gives; only frames off the hot path are ``cold``,
    and a shutdown notice is always one of them (readers look for it only there)."""
    rows = _replay("usdm_2021-07-22_4pairs.replay.jsonl.gz")[:600]
    frames = [enc({"stream": r["stream"], "data": r["data"]}) for r in rows]
    shutdown = b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1700000000000}}'
    frames[100:100] = [b"{not json", b'{"result":null,"id":7}', shutdown]
    frames.append(shutdown)
    one, many = FrameParser(Venue.FUTURES), FrameParser(Venue.FUTURES)
    want: list[Parsed] = []
    for frame in frames:
        one.parse_into(frame, TS, want)
    got: list[Parsed] = []
    for i in range(0, len(frames), 37):
        many.parse_many(frames[i : i + 37], TS, got)
    assert got == want and len(got) >= 600
    assert many.errors.counts == one.errors.counts == {"json": 1}
    streams = {r["stream"] for r in rows}
    assert many.cold == one.cold == len(streams) + 4  # first sight of each stream, the bad frame, reply, 2 notices
    before = many.cold
    many.parse_many([*frames[:50], shutdown], TS, [])
    assert many.cold == before + 1  # the hot path now, but for the notice
