"""Every alert and every delivery result, kept in a bounded history and handed to an optional subscriber.

Why: "did the alert go out, and where did it fail" must be answerable after the fact (the dashboard, the
store and Redis subscribe through ``on_record``). Records are JSON-ready msgspec Structs. Channels appear
masked (``0:tgram://***``): apprise URLs carry tokens and never reach a record or a log line in clear.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import msgspec

from cryptoscan.log import get_logger

log = get_logger(__name__)


class AlertRecord(msgspec.Struct, frozen=True, kw_only=True, tag="alert"):
    ts_ms: int
    alert_id: str
    notification_id: str  # the alert's own id when sent at once, else its digest's id
    venue: str
    symbol: str
    level: str
    kind: str  # "new" or "upgrade"
    delivery: str  # "now" or "digest"
    title: str
    message: str  # the plain-text body
    price: float = 0.0  # the pair's price when it alerted: the entry its outcome is measured from


class DeliveryRecord(msgspec.Struct, frozen=True, kw_only=True, tag="delivery"):
    ts_ms: int
    alert_id: str  # the notification: an alert's id, or a digest's id
    channel: str  # masked
    ok: bool
    attempts: int  # 0: never tried (dropped from a full queue, or the dispatcher stopped first)
    error: str | None = None  # masked
    latency_ms: int = 0  # from submission to the final outcome


Record = AlertRecord | DeliveryRecord
OnRecord = Callable[[Record], None]


class RecordLog:
    """The last ``maxlen`` records, oldest first; ``on_record`` sees each one as it is added."""

    def __init__(self, maxlen: int = 1000, on_record: OnRecord | None = None) -> None:
        self._items: deque[Record] = deque(maxlen=maxlen)
        self.on_record = on_record
        self.counts = {"alerts": 0, "delivered": 0, "failed": 0, "subscriber_errors": 0}

    def add(self, record: Record) -> None:
        self._items.append(record)
        if isinstance(record, AlertRecord):
            self.counts["alerts"] += 1
        else:
            self.counts["delivered" if record.ok else "failed"] += 1
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception as exc:  # a subscriber's bug must not stop delivery
                self.counts["subscriber_errors"] += 1
                log.error("alert record subscriber failed", error=repr(exc))

    def __len__(self) -> int:
        return len(self._items)

    def all(self) -> list[Record]:
        return list(self._items)

    def alerts(self) -> list[AlertRecord]:
        return [r for r in self._items if isinstance(r, AlertRecord)]

    def deliveries(self, alert_id: str | None = None) -> list[DeliveryRecord]:
        return [r for r in self._items if isinstance(r, DeliveryRecord) and alert_id in (None, r.alert_id)]
