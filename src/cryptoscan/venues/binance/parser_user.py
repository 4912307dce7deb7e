"""Futures user-data payloads -> events (low rate: keywords and clarity over speed)."""

from __future__ import annotations

from cryptoscan.events import AccountConfig, AccountUpdate, Balance, ListenKeyExpired, MarginCall, OrderUpdate, Position
from cryptoscan.venues.binance import parser_wire as w
from cryptoscan.venues.binance.parser_types import Out, Unsupported


def order_update(m: w.OrderTradeUpdateW, ts_recv: int, out: Out) -> None:
    o = m.order
    out.append(
        OrderUpdate(
            symbol=o.symbol,
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            side=o.side,
            order_type=o.order_type,
            status=o.status,
            execution_type=o.execution_type,
            price=o.price,
            avg_price=o.avg_price,
            quantity=o.quantity,
            filled=o.cum_filled_qty,
            last_filled_qty=o.last_filled_qty,
            last_filled_price=o.last_filled_price,
            realized_profit=o.realized_profit,
            trade_time=o.trade_time,
            ts_event=m.event_time,
            ts_recv=ts_recv,
        )
    )


def _position(p: w.PositionW) -> Position:
    return Position(
        symbol=p.symbol,
        amount=p.position_amount,
        entry_price=p.entry_price,
        unrealized_pnl=p.unrealized_pnl,
        margin_type=p.margin_type,
        side=p.position_side,
    )


def account_update(m: w.AccountUpdateW, ts_recv: int, out: Out) -> None:
    a = m.account
    balances = tuple(
        Balance(asset=b.asset, wallet=b.wallet_balance, cross_wallet=b.cross_wallet_balance, change=b.balance_change)
        for b in a.balances
    )
    positions = tuple(_position(p) for p in a.positions)
    out.append(AccountUpdate(a.reason, balances, positions, m.event_time, ts_recv))


def margin_call(m: w.MarginCallW, ts_recv: int, out: Out) -> None:
    positions = tuple(_position(p) for p in m.positions)
    out.append(MarginCall(m.cross_wallet_balance, positions, m.event_time, ts_recv))


def account_config(m: w.AccountConfigUpdateW, ts_recv: int, out: Out) -> None:
    if m.leverage is None:
        raise Unsupported("ACCOUNT_CONFIG_UPDATE without 'ac' (multi-assets mode change)")
    out.append(AccountConfig(m.leverage.symbol, m.leverage.leverage, m.event_time, ts_recv))


def listen_key_expired(m: w.ListenKeyExpiredW, ts_recv: int, out: Out) -> None:
    out.append(ListenKeyExpired(m.event_time, ts_recv))
