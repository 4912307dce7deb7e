"""The alerts layer on a running scanner: each pass's rows through the rules, their actions out to the channels.

:meth:`AlertService.listener` hangs on ``LiveScanner.add_listener``. It runs on the loop after every pass, so
it only evaluates the rules (a few dict operations per pair at ALTA or higher) and enqueues; the sending
happens in the dispatcher's lanes. A tick task closes digest windows between passes; :meth:`stop` sends a
gathered digest before the dispatcher drains. Every alert is recorded (:class:`AlertRecord`) as it is handed
to the dispatcher, which records each channel's outcome.

Time: ``clock`` should be the scanner's clock (market time under ``demo``), so that hold, cooldown and digest
windows read the same time as the scan results do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence

import numpy as np

from cryptoscan.alerts.delivery import AlertDispatcher, Notification
from cryptoscan.alerts.message import Message, alert_message, digest_message
from cryptoscan.alerts.records import AlertRecord, RecordLog
from cryptoscan.alerts.rules import Action, Alert, AlertRules, SendNow
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.log import get_logger
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import ScanResult, ScanRow, ScanSnapshot

log = get_logger(__name__)


def alert_rows(result: ScanResult, min_level: Level = Level.ALTA) -> list[ScanRow]:
    """Every eligible row at ``min_level`` or higher (not only the top rows shown), with its rank."""
    order = result.order
    positions = np.flatnonzero(result.levels[order] >= min_level)
    return [result.row(int(order[p]), int(p) + 1) for p in positions]


class AlertService:
    def __init__(
        self,
        rules: AlertRules,
        dispatcher: AlertDispatcher,
        *,
        clock: Clock | None = None,
        dashboard_url: str | None = None,
        target_pct: float = 7.5,
        tick_s: float = 1.0,
        max_digest_lines: int = 20,
    ) -> None:
        self.rules = rules
        self.dispatcher = dispatcher
        self.clock = clock or LiveClock()
        self.dashboard_url = dashboard_url
        self.target_pct = target_pct
        self.tick_s = tick_s
        self.max_digest_lines = max_digest_lines
        self.notifications = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def log(self) -> RecordLog:
        return self.dispatcher.log

    # --- input (sync, on the loop) ------------------------------------------------------------------------
    def listener(self, result: ScanResult) -> None:
        """For ``LiveScanner.add_listener``: one pass in, notifications enqueued."""
        self.on_rows(alert_rows(result), result.ts_ms)

    def on_rows(self, rows: Iterable[ScanRow] | ScanSnapshot, now_ms: int) -> None:
        self.handle(self.rules.on_scan(rows, now_ms))

    def tick(self) -> None:
        self.handle(self.rules.tick(self.clock.now_ms()))

    def handle(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, SendNow):
                alerts: tuple[Alert, ...] = (action.alert,)
                msg = alert_message(action.alert, self.dashboard_url, self.target_pct)
                nid, ts, delivery = action.alert.id, action.alert.ts_ms, "now"
            else:
                alerts = action.alerts
                msg = digest_message(action.alerts, self.dashboard_url, self.target_pct, self.max_digest_lines)
                nid, ts, delivery = action.id, action.ts_ms, "digest"
            for alert in alerts:
                self.log.add(self._record(alert, nid, delivery, msg if delivery == "now" else None))
            self.dispatcher.submit(
                Notification(id=nid, ts_ms=ts, title=msg.title, text=msg.text, markdown=msg.markdown)
            )
            self.notifications += 1
            log.info("alert", id=nid, delivery=delivery, pairs=[f"{a.venue}:{a.symbol}:{a.level}" for a in alerts])

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.dispatcher.start()
        if self._task is None:
            self._task = asyncio.create_task(self._ticker(), name="alerts tick")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop ticking, send a gathered digest now, and let the dispatcher drain for up to ``drain_s``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.handle(self.rules.flush(self.clock.now_ms()))
        await self.dispatcher.stop(drain_s)

    def _record(self, alert: Alert, nid: str, delivery: str, msg: Message | None) -> AlertRecord:
        """The alert as stored; each pair of a digest keeps its own one-pair text."""
        own = msg or alert_message(alert, self.dashboard_url, self.target_pct)
        return AlertRecord(
            ts_ms=alert.ts_ms, alert_id=alert.id, notification_id=nid, venue=alert.venue, symbol=alert.symbol,
            level=alert.level, kind=alert.kind, delivery=delivery, title=own.title, message=own.text,
            price=alert.row.price,
        )  # fmt: skip

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.tick()
            except Exception as exc:  # keep ticking: a bug here must not silence every later digest
                log.error("alert tick failed", error=repr(exc))
