"""The feed's sans-I/O core: plain objects driven by events and ``now`` (epoch ms from the feed's Clock).

Nothing here opens a socket or sleeps. The asyncio layer above moves bytes and timers and asks these
objects what to do next:

- :mod:`.lifecycle`: one connection's state machine and its user-facing :class:`~cryptoscan.events.LinkState`.
- :mod:`.backoff`: reconnect delays and the retry / throttled / fatal classification of failures.
- :mod:`.shards`: which stream lives on which connection (sticky), and the connection-attempt gate.
- :mod:`.pacer`: SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS frames under the per-connection message rate.
- :mod:`.watchdog`: per-stream and per-connection silence detection.
- :mod:`.rotation`: make-before-break handover before the 24 h limit, and overlap de-duplication.
- :mod:`.gaps`: kline gap detection, REST backfill requests (``/klines``, <= 1000 bars each), aggTrade id gaps.
- :mod:`.budget`: the backfill scheduler that spends REST weight within a share of the budget, obeying Retry-After.

Every ``now`` is an ``int`` of milliseconds read from ``Clock.now_ms()``; with a ``ScaledClock`` all timers
run in market time, so ``--speed`` scales rotation, backoff and watchdog alike.
"""
