"""What an alert says: every figure a trader needs, the dashboard link, and digests best first."""

from __future__ import annotations

from alert_fixtures import T0, row

from cryptoscan.alerts.message import alert_message, digest_message, fmt_price, fmt_volume, pair_url
from cryptoscan.alerts.rules import Alert


def alert(symbol: str, level: str, *, kind: str = "new", previous: str | None = None, **kw: float) -> Alert:
    r = row(symbol, level, **kw)  # type: ignore[arg-type]
    return Alert(id=f"{T0}-{symbol}", ts_ms=T0, venue=r.venue, symbol=symbol, level=level, kind=kind,
                 previous=previous, row=r)  # fmt: skip


def test_a_single_alert_carries_level_score_parts_probability_price_volume_and_link() -> None:
    msg = alert_message(alert("SOLUSDT", "FUERTE", price=142.35, momentum=88.0, probability=61.24),
                        "http://127.0.0.1:8000/", target_pct=7.5)  # fmt: skip
    assert msg.title == "FUERTE SOLUSDT (spot): score 88, 61% probability"
    for body in (msg.text, msg.markdown):
        assert "SOLUSDT" in body and "FUERTE" in body and "88" in body
        assert "RSI 20 + MACD 20 + volume 25 + velocity 15 + breakout 8" in body
        assert "+7.5% within 4-24 h: 61.2%" in body
        assert "Price 142.35 USDT, 24 h volume $12.3M" in body
        assert "http://127.0.0.1:8000/pairs/spot/SOLUSDT" in body
    assert "volatility 1.00, momentum 0.88" in msg.text  # the probability factors, in the plain text
    assert "**FUERTE**" in msg.markdown and "**" not in msg.text


def test_an_upgrade_says_from_what_and_no_dashboard_means_no_link() -> None:
    msg = alert_message(alert("SOLUSDT", "FUERTE", kind="upgrade", previous="ALTA"))
    assert msg.title.startswith("ALTA -> FUERTE SOLUSDT") and "://" not in msg.text + msg.markdown


def test_a_digest_lists_pairs_best_first_and_caps_its_length() -> None:
    alerts = [alert(f"P{i:02d}USDT", "ALTA", momentum=70.0 + i % 10) for i in range(25)]
    msg = digest_message(alerts, "https://dash.example", max_lines=20)
    assert msg.title.startswith("ALTA: 25 pairs (P09USDT, P19USDT, P08USDT, ...)")
    lines = msg.text.splitlines()
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "... and 5 more"
    assert (
        lines[1].startswith("- P09USDT (spot) ALTA: score 79") and "https://dash.example/pairs/spot/P09USDT" in lines[1]
    )
    assert "**P09USDT**" in msg.markdown.splitlines()[1]
    one = digest_message(alerts[:1])
    assert one.title == "ALTA: 1 pair (P00USDT)" and "more" not in one.text


def test_number_formats() -> None:
    assert fmt_price(142.3456) == "142.35" and fmt_price(65000.0) == "65,000" and fmt_price(0.1234) == "0.12340"
    assert fmt_price(0.000012345) == "0.000012345" and fmt_price(float("nan")) == "n/a" and fmt_price(0) == "n/a"
    assert fmt_volume(12_345_678) == "$12.3M" and fmt_volume(2.5e9) == "$2.5B" and fmt_volume(950) == "$950"
    assert (
        pair_url(None, "spot", "X") is None
        and pair_url("http://h/", "futures", "XUSDT") == "http://h/pairs/futures/XUSDT"
    )
