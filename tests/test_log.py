"""Logging: API keys, tokens and credentials in URLs never reach a log line, in either renderer."""

from __future__ import annotations

import io
import json
import logging

import pytest
from pydantic import SecretStr

from cryptoscan.log import MASK, configure_logging, get_logger, mask_text, mask_value

SECRETS = ("K-abc123", "S-def456", "T-ghi789", "LK-listen", "pw-hunter2", "BOT:tok3n", "SIG-0af1")


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield None
    configure_logging("WARNING")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "wss://fstream/private/ws?listenKey=LK-listen&events=A",
            f"wss://fstream/private/ws?listenKey={MASK}&events=A",
        ),
        ("GET /api/v3/order?symbol=X&signature=SIG-0af1", f"GET /api/v3/order?symbol=X&signature={MASK}"),
        ("redis://user:pw-hunter2@db:6379/0", f"redis://{MASK}@db:6379/0"),
        ("https://bob:pw-hunter2@host/x?api_key=K-abc123", f"https://{MASK}@host/x?api_key={MASK}"),
        ("alert via tgram://BOT:tok3n/12345 failed", f"alert via tgram://{MASK} failed"),
        ("discord://1234/T-ghi789", f"discord://{MASK}"),
        ("https://hooks.example.com/services/" + "A" * 40, f"https://hooks.example.com/services/{MASK}"),
        ("http://127.0.0.1:8000/api/v3/ping", "http://127.0.0.1:8000/api/v3/ping"),  # nothing secret: unchanged
        ("BTCUSDT up 3.2%", "BTCUSDT up 3.2%"),
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_mask_value_by_key_and_type() -> None:
    masked = mask_value(
        None,
        {
            "api_key": "K-abc123",
            "apiSecret": "S-def456",
            "dashboard_token": "T-ghi789",
            "password": "pw-hunter2",
            "listenKey": "LK-listen",
            "nested": {"x_secret": ["S-def456"], "ok": 1},
            "secret_str": SecretStr("S-def456"),
            "symbol": "BTCUSDT",
            "empty_token": None,
        },
    )
    assert masked["api_key"] == masked["apiSecret"] == masked["dashboard_token"] == MASK
    assert masked["password"] == masked["listenKey"] == masked["secret_str"] == MASK
    assert masked["nested"] == {"x_secret": MASK, "ok": 1}
    assert masked["symbol"] == "BTCUSDT"
    assert masked["empty_token"] is None  # "not set" is useful to see and reveals nothing


def emit_everything() -> None:
    log = get_logger("test")
    log.info(
        "connecting to wss://x/ws?listenKey=LK-listen",
        api_key="K-abc123",
        api_secret=SecretStr("S-def456"),
        token="T-ghi789",
        url="redis://u:pw-hunter2@h:1/0",
        urls=["tgram://BOT:tok3n/1"],
        symbol="BTCUSDT",
    )
    logging.getLogger("aiohttp.client").warning("GET /api/v3/account?signature=%s", "SIG-0af1")
    try:
        raise RuntimeError("failed https://h/?token=T-ghi789")
    except RuntimeError:
        log.exception("request failed")


def test_console_renderer_masks_secrets() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", json=False, stream=out)
    emit_everything()
    text = out.getvalue()
    for secret in SECRETS:
        assert secret not in text
    assert "BTCUSDT" in text and "connecting to" in text and "request failed" in text
    assert "RuntimeError" in text  # the traceback survives, its token does not
    assert text.count(MASK) >= 7


def test_json_renderer_masks_secrets() -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    emit_everything()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == 3
    first, stdlib, failure = records
    assert first["api_key"] == first["api_secret"] == first["token"] == MASK
    assert first["url"] == f"redis://{MASK}@h:1/0" and first["urls"] == [f"tgram://{MASK}"]
    assert first["event"] == f"connecting to wss://x/ws?listenKey={MASK}"
    assert first["level"] == "info" and first["symbol"] == "BTCUSDT"
    assert stdlib["logger"] == "aiohttp.client" and stdlib["event"].endswith(f"signature={MASK}")
    assert "RuntimeError" in failure["exception"] and "T-ghi789" not in failure["exception"]
    for secret in SECRETS:
        assert secret not in out.getvalue()


def test_level_filters() -> None:
    out = io.StringIO()
    configure_logging("WARNING", json=True, stream=out)
    get_logger("t").info("hidden")
    get_logger("t").warning("shown")
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == ["shown"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")
