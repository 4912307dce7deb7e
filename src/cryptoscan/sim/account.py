"""The simulated USD-M futures account: listenKeys and the user-data events they carry.

Binance's rules, in market time: a listenKey lives 60 minutes after its last keepalive; POST returns
the API key's active listenKey (extending it) or a new one; PUT extends; DELETE closes; an expired key
announces itself with ``listenKeyExpired`` on every stream attached to it and then stops working
(keepalive answers -1125). Orders fill at once (market-like): ORDER_TRADE_UPDATE NEW, then TRADE/FILLED,
then ACCOUNT_UPDATE with the new wallet balance and position. One account, so every attached stream
gets every account event. Sans-I/O: ``send`` sinks are plain callables the WebSocket side provides.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from cryptoscan.sim.stats import SimStats
from cryptoscan.venues.binance import schemas as s

KEY_TTL_MS = 3_600_000
KEY_LENGTH = 60
TAKER_FEE = 0.0004
ASSET = "USDT"
_ALPHABET = string.ascii_letters + string.digits

Sink = Callable[[bytes], None]


def encode(obj: msgspec.Struct) -> bytes:
    return s.encode(obj)


def fmt(x: float, dp: int = 8) -> str:
    """A decimal string the way Binance writes one: fixed point, no trailing zeros, ``"0"`` for zero."""
    text = f"{x:.{dp}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(slots=True)
class _Key:
    api_key: str
    expires_ms: int
    sinks: list[Sink] = field(default_factory=list)


@dataclass(slots=True)
class _Position:
    amount: float = 0.0  # signed: long > 0, short < 0
    entry: float = 0.0
    realized: float = 0.0  # accumulated realized PnL
    leverage: int = 20


class Account:
    """One futures account with its listenKeys; emits Binance-shaped user-data events to attached sinks."""

    def __init__(self, stats: SimStats, *, balance: float = 10_000.0, seed: int = 1) -> None:
        self.stats = stats
        self.balance = balance
        self._rng = random.Random(seed)
        self._keys: dict[str, _Key] = {}
        self._by_api: dict[str, str] = {}
        self._positions: dict[str, _Position] = {}
        self._next_order_id = 1_000_001
        self._next_trade_id = 5_000_001

    # --- listenKeys ---------------------------------------------------------------------------------

    def _new_key(self) -> str:
        while True:
            key = "".join(self._rng.choice(_ALPHABET) for _ in range(KEY_LENGTH))
            if key not in self._keys:
                return key

    def create_listen_key(self, api_key: str, now_ms: int) -> str:
        """POST: the API key's active listenKey, extended by 60 minutes; else a new one."""
        active = self.active_key(api_key, now_ms)
        if active is not None:
            self._keys[active].expires_ms = now_ms + KEY_TTL_MS
            return active
        key = self._new_key()
        self._keys[key] = _Key(api_key, now_ms + KEY_TTL_MS)
        self._by_api[api_key] = key
        self.stats.count("account.listen_key_created")
        return key

    def active_key(self, api_key: str, now_ms: int) -> str | None:
        """The listenKey this API key holds, if it is still valid (futures PUT/DELETE need no key param)."""
        key = self._by_api.get(api_key)
        return key if key is not None and self.is_valid(key, now_ms) else None

    def keepalive(self, key: str, now_ms: int) -> bool:
        """PUT: extend by 60 minutes. False means -1125 "This listenKey does not exist."."""
        if not self.is_valid(key, now_ms):
            return False
        self._keys[key].expires_ms = now_ms + KEY_TTL_MS
        self.stats.count("account.keepalive")
        return True

    def close(self, key: str) -> bool:
        """DELETE: invalidate the key; attached sinks get nothing more."""
        entry = self._keys.pop(key, None)
        if entry is None:
            return False
        if self._by_api.get(entry.api_key) == key:
            del self._by_api[entry.api_key]
        return True

    def is_valid(self, key: str, now_ms: int) -> bool:
        entry = self._keys.get(key)
        return entry is not None and now_ms < entry.expires_ms

    def attach(self, key: str, send: Sink) -> Callable[[], None]:
        """Register a /private stream's sink for ``key``; returns detach.

        An unknown key attaches nothing (the returned detach is a no-op): the WebSocket side checks
        :meth:`is_valid` first and refuses the connection.
        """
        entry = self._keys.get(key)
        if entry is None:
            return lambda: None
        entry.sinks.append(send)

        def detach() -> None:
            if send in entry.sinks:
                entry.sinks.remove(send)

        return detach

    def tick(self, now_ms: int) -> None:
        """Expire keys 60 minutes after their last keepalive, announcing it first."""
        for key in [k for k, e in self._keys.items() if now_ms >= e.expires_ms]:
            self._expire(key, now_ms)

    def expire_now(self, now_ms: int) -> None:
        """Control API: expire every key at once (same announcement)."""
        for key in list(self._keys):
            self._expire(key, now_ms)

    def _expire(self, key: str, now_ms: int) -> None:
        entry = self._keys[key]
        payload = encode(s.ListenKeyExpiredMsg(event_time=now_ms, listen_key=key))
        for sink in list(entry.sinks):
            sink(payload)
        self.close(key)
        self.stats.count("account.listen_key_expired")

    # --- account events -----------------------------------------------------------------------------

    def _broadcast(self, payload: bytes) -> None:
        for entry in self._keys.values():
            for sink in list(entry.sinks):
                sink(payload)

    def place_order(self, symbol: str, side: str, quantity: float, price: float, now_ms: int) -> dict[str, object]:
        """Fill a whole order at ``price``: ORDER_TRADE_UPDATE NEW, TRADE/FILLED, then ACCOUNT_UPDATE."""
        side = side.upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, not {side!r}")
        if not (quantity > 0 and price > 0):
            raise ValueError("quantity and price must be positive")
        symbol = symbol.upper()
        order_id, trade_id = self._next_order_id, self._next_trade_id
        self._next_order_id += 1
        self._next_trade_id += 1
        client_id = f"sim{order_id}"
        notional = quantity * price

        def order(**fill: object) -> bytes:
            data = s.OrderData(
                symbol=symbol,
                client_order_id=client_id,
                side=side,
                order_type="MARKET",
                time_in_force="GTC",
                quantity=fmt(quantity),
                price="0",
                stop_price="0",
                order_id=order_id,
                trade_time=now_ms,
                original_type="MARKET",
                **fill,  # type: ignore[arg-type]
            )
            return encode(s.OrderTradeUpdateMsg(event_time=now_ms, transaction_time=now_ms, order=data))

        self._broadcast(
            order(
                avg_price="0",
                execution_type="NEW",
                status="NEW",
                last_filled_qty="0",
                cum_filled_qty="0",
                last_filled_price="0",
                bids_notional=fmt(notional) if side == "BUY" else "0",
                asks_notional=fmt(notional) if side == "SELL" else "0",
            )
        )
        signed = quantity if side == "BUY" else -quantity
        pos = self._positions.setdefault(symbol, _Position())
        realized = self._apply_fill(pos, signed, price)
        commission = notional * TAKER_FEE
        self.balance += realized - commission
        self._broadcast(
            order(
                avg_price=fmt(price),
                execution_type="TRADE",
                status="FILLED",
                last_filled_qty=fmt(quantity),
                cum_filled_qty=fmt(quantity),
                last_filled_price=fmt(price),
                commission_asset=ASSET,
                commission=fmt(commission),
                trade_id=trade_id,
                realized_profit=fmt(realized),
            )
        )
        update = s.AccountData(
            reason="ORDER",
            balances=[
                s.BalanceData(
                    asset=ASSET,
                    wallet_balance=fmt(self.balance),
                    cross_wallet_balance=fmt(self.balance),
                    balance_change="0",
                )
            ],
            positions=[self._position_data(symbol, pos, price)],
        )
        self._broadcast(encode(s.AccountUpdateMsg(event_time=now_ms, transaction_time=now_ms, account=update)))
        self.stats.count("account.orders")
        return {
            "orderId": order_id,
            "clientOrderId": client_id,
            "symbol": symbol,
            "side": side,
            "status": "FILLED",
            "executedQty": fmt(quantity),
            "avgPrice": fmt(price),
            "commission": fmt(commission),
            "realizedPnl": fmt(realized),
            "positionAmt": fmt(pos.amount),
            "walletBalance": fmt(self.balance),
        }

    @staticmethod
    def _apply_fill(pos: _Position, signed: float, price: float) -> float:
        """Move the position by ``signed`` at ``price``; return the PnL realized by any reduction."""
        realized = 0.0
        if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
            total = pos.amount + signed
            pos.entry = (pos.entry * abs(pos.amount) + price * abs(signed)) / abs(total)
            pos.amount = total
        else:
            closed = min(abs(signed), abs(pos.amount))
            direction = 1.0 if pos.amount > 0 else -1.0
            realized = (price - pos.entry) * closed * direction
            pos.amount += signed
            if abs(pos.amount) < 1e-12:
                pos.amount, pos.entry = 0.0, 0.0
            elif (pos.amount > 0) != (direction > 0):  # flipped: the rest opens at this price
                pos.entry = price
        pos.realized += realized
        return realized

    @staticmethod
    def _position_data(symbol: str, pos: _Position, mark: float) -> s.PositionData:
        return s.PositionData(
            symbol=symbol,
            position_amount=fmt(pos.amount),
            entry_price=fmt(pos.entry),
            breakeven_price=fmt(pos.entry * (1 + TAKER_FEE) if pos.amount > 0 else pos.entry * (1 - TAKER_FEE)),
            accumulated_realized=fmt(pos.realized),
            unrealized_pnl=fmt((mark - pos.entry) * pos.amount),
            margin_type="cross",
            isolated_wallet="0",
            position_side="BOTH",
        )

    def margin_call(self, now_ms: int) -> None:
        """MARGIN_CALL listing every open position (at its entry price as mark)."""
        positions = [
            s.MarginCallPosition(
                symbol=sym,
                position_side="LONG" if p.amount > 0 else "SHORT",
                position_amount=fmt(p.amount),
                margin_type="CROSSED",
                isolated_wallet="0",
                mark_price=fmt(p.entry),
                unrealized_pnl="0",
                maintenance_margin=fmt(abs(p.amount) * p.entry * 0.004),
            )
            for sym, p in sorted(self._positions.items())
            if p.amount != 0
        ]
        msg = s.MarginCallMsg(event_time=now_ms, cross_wallet_balance=fmt(self.balance), positions=positions)
        self._broadcast(encode(msg))
        self.stats.count("account.margin_calls")

    def config_update(self, symbol: str, leverage: int, now_ms: int) -> None:
        """ACCOUNT_CONFIG_UPDATE: the leverage of ``symbol`` changed."""
        if not 1 <= leverage <= 125:
            raise ValueError("leverage must be 1..125")
        symbol = symbol.upper()
        self._positions.setdefault(symbol, _Position()).leverage = leverage
        msg = s.AccountConfigUpdateMsg(
            event_time=now_ms, transaction_time=now_ms, leverage=s.LeverageConfig(symbol=symbol, leverage=leverage)
        )
        self._broadcast(encode(msg))
