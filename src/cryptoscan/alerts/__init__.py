"""Alerts: per-pair rule state (armed, pending, fired, cooldown), escalation (FUERTE at once, ALTA in a
digest), and delivery through apprise with a rate limit, retries and a record of every outcome per channel.

:mod:`rules` and :mod:`ratelimit` are sans-I/O; :mod:`delivery` owns the channels; :mod:`service` hangs the
whole on ``LiveScanner.add_listener``.
"""

from cryptoscan.alerts.delivery import AlertDispatcher, ChannelStats, Notification
from cryptoscan.alerts.message import Message, alert_message, digest_message, pair_url
from cryptoscan.alerts.records import AlertRecord, DeliveryRecord, RecordLog
from cryptoscan.alerts.rules import Action, Alert, AlertRules, AlertState, Digest, IllegalTransition, SendNow
from cryptoscan.alerts.service import AlertService, alert_rows

__all__ = [
    "Action",
    "Alert",
    "AlertDispatcher",
    "AlertRecord",
    "AlertRules",
    "AlertService",
    "AlertState",
    "ChannelStats",
    "DeliveryRecord",
    "Digest",
    "IllegalTransition",
    "Message",
    "Notification",
    "RecordLog",
    "SendNow",
    "alert_message",
    "alert_rows",
    "digest_message",
    "pair_url",
]
