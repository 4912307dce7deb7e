"""The time-series store: closed klines, sampled tickers, scanner results and alerts, for research and backtests.

Embedded by default (one DuckDB file, nothing to install); the same tables on PostgreSQL for scale. A location
is a path (DuckDB) or a ``postgresql://`` URL. Times are epoch ms; every table has a primary key, and inserts
skip rows already stored, so replays and resends are harmless.

=======  ===========================================================================  ==========================
table    columns                                                                      primary key
=======  ===========================================================================  ==========================
klines   venue, symbol, interval, open_time, close_time, open, high, low, close,      venue, symbol, interval,
         volume, quote_volume, trades, taker_buy_volume, taker_buy_quote_volume        open_time
tickers  venue, symbol, ts, last, open, high, low, volume, quote_volume,              venue, symbol, ts
         price_change_pct (24 h and mini tickers, one per pair per sample period)
scans    ts, venue, symbol, interval, rank, level, momentum, probability, composite,  venue, symbol, ts
         price, volume_24h, updated_ms, components, factors, indicators (JSON)
         (the rows a ScanSnapshot shows: its levels)
alerts   ts, venue, symbol, level, kind, message, payload (JSON, nullable)            venue, symbol, kind, ts
=======  ===========================================================================  ==========================

:class:`StoreSink` writes them in batches without ever blocking the caller; :func:`export` reads them out.
"""

from cryptoscan.sinks.store.backend import Backend, is_postgres, open_backend
from cryptoscan.sinks.store.export import ExportError, ExportResult, export
from cryptoscan.sinks.store.sink import StoreSink, StoreStats

__all__ = ["Backend", "ExportError", "ExportResult", "StoreSink", "StoreStats", "export", "is_postgres",
           "open_backend"]  # fmt: skip
