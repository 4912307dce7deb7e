"""Account: listenKey lifecycle in market time and Binance-shaped user-data events."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from cryptoscan.sim.account import KEY_TTL_MS, Account, fmt
from cryptoscan.sim.stats import SimStats
from cryptoscan.venues.binance import schemas

T0 = 1_700_000_000_000


def sink() -> tuple[list[dict[str, Any]], Any]:
    got: list[dict[str, Any]] = []
    return got, lambda payload: got.append(json.loads(payload))


def test_create_returns_the_active_key_and_extends_it() -> None:
    acc = Account(SimStats())
    key = acc.create_listen_key("api", T0)
    assert len(key) == 60 and key.isalnum()
    assert acc.create_listen_key("api", T0 + KEY_TTL_MS - 1) == key  # same key, extended
    assert acc.is_valid(key, T0 + 2 * KEY_TTL_MS - 2)
    assert acc.create_listen_key("other-api", T0) != key


def test_keepalive_extends_and_unknown_keys_fail() -> None:
    acc = Account(SimStats())
    key = acc.create_listen_key("api", T0)
    assert acc.keepalive(key, T0 + 30 * 60_000)
    assert acc.is_valid(key, T0 + 30 * 60_000 + KEY_TTL_MS - 1)
    assert not acc.is_valid(key, T0 + 30 * 60_000 + KEY_TTL_MS)
    assert not acc.keepalive("nope", T0)
    assert not acc.keepalive(key, T0 + 30 * 60_000 + KEY_TTL_MS)  # expired: -1125


def test_close_invalidates() -> None:
    acc = Account(SimStats())
    key = acc.create_listen_key("api", T0)
    assert acc.close(key)
    assert not acc.is_valid(key, T0)
    assert not acc.close(key)
    assert acc.create_listen_key("api", T0) != key


def test_tick_announces_expiry_then_invalidates() -> None:
    stats = SimStats()
    acc = Account(stats)
    key = acc.create_listen_key("api", T0)
    got, send = sink()
    acc.attach(key, send)
    acc.tick(T0 + KEY_TTL_MS - 1)
    assert got == []
    acc.tick(T0 + KEY_TTL_MS)
    assert got == [{"e": "listenKeyExpired", "E": T0 + KEY_TTL_MS, "listenKey": key}]
    assert not acc.keepalive(key, T0 + KEY_TTL_MS)
    acc.tick(T0 + 2 * KEY_TTL_MS)
    assert len(got) == 1  # announced once
    assert stats.counters["account.listen_key_expired"] == 1


def test_expire_now_and_detach() -> None:
    acc = Account(SimStats())
    k1, k2 = acc.create_listen_key("a", T0), acc.create_listen_key("b", T0)
    got1, send1 = sink()
    got2, send2 = sink()
    acc.attach(k1, send1)
    detach = acc.attach(k2, send2)
    detach()
    acc.expire_now(T0 + 5)
    assert [m["listenKey"] for m in got1] == [k1]
    assert got2 == []
    assert not acc.is_valid(k1, T0 + 5) and not acc.is_valid(k2, T0 + 5)
    assert acc.attach("unknown", send1)() is None  # no-op detach


def test_place_order_emits_new_filled_and_account_update() -> None:
    acc = Account(SimStats(), balance=1000.0)
    key = acc.create_listen_key("api", T0)
    got, send = sink()
    acc.attach(key, send)
    summary = acc.place_order("btcusdt", "buy", 0.5, 100.0, T0 + 1)
    assert [m["e"] for m in got] == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
    new, filled, update = (m for m in got)
    assert (new["o"]["x"], new["o"]["X"]) == ("NEW", "NEW")
    assert (filled["o"]["x"], filled["o"]["X"]) == ("TRADE", "FILLED")
    assert filled["o"]["s"] == "BTCUSDT" and filled["o"]["S"] == "BUY"
    assert (filled["o"]["l"], filled["o"]["z"], filled["o"]["L"], filled["o"]["ap"]) == ("0.5", "0.5", "100", "100")
    assert filled["o"]["n"] == "0.02" and filled["o"]["N"] == "USDT"
    assert new["o"]["i"] == filled["o"]["i"] == summary["orderId"]
    for m in (new, filled, update):
        assert m["E"] == m["T"] == T0 + 1
    for key_ in (
        "s",
        "c",
        "S",
        "o",
        "f",
        "q",
        "p",
        "ap",
        "sp",
        "x",
        "X",
        "i",
        "l",
        "z",
        "L",
        "T",
        "t",
        "b",
        "a",
        "m",
        "R",
        "wt",
        "ot",
        "ps",
        "cp",
        "rp",
    ):
        assert key_ in filled["o"], key_
    a = update["a"]
    assert a["m"] == "ORDER"
    assert a["B"] == [{"a": "USDT", "wb": "999.98", "cw": "999.98", "bc": "0"}]
    (pos,) = a["P"]
    assert {"s", "pa", "ep", "cr", "up", "mt", "iw", "ps"} <= pos.keys()
    assert (pos["s"], pos["pa"], pos["ep"], pos["ps"]) == ("BTCUSDT", "0.5", "100", "BOTH")
    assert summary["status"] == "FILLED" and summary["positionAmt"] == "0.5"
    # Every event decodes with the shared wire schemas (what the feed uses).
    decoder = msgspec.json.Decoder(schemas.EventMsg)
    for m in got:
        decoder.decode(json.dumps(m))


def test_closing_a_position_realizes_pnl() -> None:
    acc = Account(SimStats(), balance=1000.0)
    acc.place_order("ETHUSDT", "BUY", 2, 100.0, T0)
    summary = acc.place_order("ETHUSDT", "SELL", 2, 110.0, T0 + 1)
    assert summary["realizedPnl"] == "20"
    assert summary["positionAmt"] == "0"
    # 1000 - 0.08 fee + 20 - 0.088 fee
    assert summary["walletBalance"] == fmt(1000 - 0.08 + 20 - 0.088)


def test_margin_call_and_config_update() -> None:
    acc = Account(SimStats())
    key = acc.create_listen_key("api", T0)
    got, send = sink()
    acc.attach(key, send)
    acc.place_order("BTCUSDT", "SELL", 1, 50.0, T0)
    got.clear()
    acc.margin_call(T0 + 2)
    acc.config_update("BTCUSDT", 10, T0 + 3)
    mc, cfg = got
    assert mc["e"] == "MARGIN_CALL" and mc["E"] == T0 + 2
    (p,) = mc["p"]
    assert (p["s"], p["ps"], p["pa"], p["mt"]) == ("BTCUSDT", "SHORT", "-1", "CROSSED")
    assert {"iw", "mp", "up", "mm"} <= p.keys()
    assert cfg == {"e": "ACCOUNT_CONFIG_UPDATE", "E": T0 + 3, "T": T0 + 3, "ac": {"s": "BTCUSDT", "l": 10}}


@pytest.mark.parametrize(("side", "qty", "price"), [("HOLD", 1.0, 1.0), ("BUY", 0.0, 1.0), ("SELL", 1.0, -1.0)])
def test_bad_orders_are_refused(side: str, qty: float, price: float) -> None:
    acc = Account(SimStats())
    with pytest.raises(ValueError):
        acc.place_order("BTCUSDT", side, qty, price, T0)


def test_fmt() -> None:
    assert fmt(0.0) == "0"
    assert fmt(-0.0) == "0"
    assert fmt(100.0) == "100"
    assert fmt(0.12345678912) == "0.12345679"
    assert fmt(-1.5) == "-1.5"
