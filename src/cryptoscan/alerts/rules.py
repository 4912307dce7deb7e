"""Per-pair alert rules, sans-I/O: each scan's rows and ``now_ms`` in, actions out.

Why a state machine: a trader wants one message when a pair becomes interesting, not one per scan, and not a
burst while a score flickers around a threshold. Each (venue, symbol) is in one :class:`AlertState`; every move
goes through :data:`TRANSITIONS` and an illegal one raises.

- A level alerts only once it has held: ``hold_scans`` consecutive scans at that level or higher, or (with
  ``bar_ms``) once a candle closed while it held (the run started in an earlier bar than ``now``).
- FUERTE goes out at once (:class:`SendNow`); ALTA is gathered into a :class:`Digest`. A digest window opens
  with its first alert and closes ``digest_s`` later, so no ALTA waits longer than that and digests are at
  least ``digest_s`` apart. ``digest_s=0`` sends ALTA at once too.
- After an alert the pair stays FIRED while it is at ALTA or higher; no repeat. It re-arms only once it is
  below ALTA *and* ``cooldown_s`` has passed since the alert (exactly at the cooldown counts as passed). Back
  above ALTA before that, the episode simply continues: at most one alert per pair per cooldown.
- The exception: an ALTA alert followed by a held FUERTE sends the FUERTE at once, cooldown or not, and
  replaces the ALTA alert in a digest that has not gone out yet.

``on_scan`` treats its rows as every pair at ALTA or higher: a pair that is missing counts as below ALTA.
Memory holds only pairs that are not quietly ARMED.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import ScanRow, ScanSnapshot

Key = tuple[str, str]  # (venue, symbol)


class AlertState(enum.Enum):
    ARMED = "ARMED"  # quiet: the next held ALTA/FUERTE alerts
    PENDING = "PENDING"  # at ALTA or higher, not held long enough yet
    FIRED = "FIRED"  # alerted, still at ALTA or higher
    COOLDOWN = "COOLDOWN"  # alerted, below ALTA now, cooldown still running


class Event(enum.Enum):
    LOW = "LOW"  # below ALTA (or absent) this scan
    SEEN = "SEEN"  # at ALTA or higher, nothing to send
    CONFIRM = "CONFIRM"  # a level held: alert
    UPGRADE = "UPGRADE"  # FUERTE held after an ALTA alert: alert again, cooldown or not
    EXPIRE = "EXPIRE"  # the cooldown is over


S, E = AlertState, Event
TRANSITIONS: dict[tuple[AlertState, Event], AlertState] = {
    (S.ARMED, E.LOW): S.ARMED,
    (S.ARMED, E.SEEN): S.PENDING,
    (S.ARMED, E.CONFIRM): S.FIRED,
    (S.PENDING, E.LOW): S.ARMED,
    (S.PENDING, E.SEEN): S.PENDING,
    (S.PENDING, E.CONFIRM): S.FIRED,
    (S.FIRED, E.LOW): S.COOLDOWN,
    (S.FIRED, E.SEEN): S.FIRED,
    (S.FIRED, E.UPGRADE): S.FIRED,
    (S.COOLDOWN, E.LOW): S.COOLDOWN,
    (S.COOLDOWN, E.SEEN): S.FIRED,
    (S.COOLDOWN, E.UPGRADE): S.FIRED,
    (S.COOLDOWN, E.EXPIRE): S.ARMED,
}


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the rules, never a market condition."""


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    ts_ms: int
    venue: str
    symbol: str
    level: str  # FUERTE or ALTA
    kind: str  # "new", or "upgrade" (ALTA -> FUERTE)
    previous: str | None  # the level alerted before an upgrade
    row: ScanRow  # the scan row that confirmed it: score, components, probability, price, volume


@dataclass(frozen=True, slots=True)
class SendNow:
    alert: Alert


@dataclass(frozen=True, slots=True)
class Digest:
    id: str
    ts_ms: int
    alerts: tuple[Alert, ...]


Action = SendNow | Digest


@dataclass(slots=True)
class _Pair:
    state: AlertState = AlertState.ARMED
    high_run: int = 0  # consecutive scans at ALTA or higher
    high_since: int = 0  # scan time the run started
    fuerte_run: int = 0
    fuerte_since: int = 0
    fired_ms: int = 0
    fired_level: Level | None = None


class AlertRules:
    """The rules for every pair; feed it every scan (:meth:`on_scan`) and call :meth:`tick` between scans."""

    def __init__(
        self, *, hold_scans: int = 2, cooldown_s: float = 300.0, digest_s: float = 120.0, bar_ms: int | None = None
    ) -> None:
        if hold_scans < 1:
            raise ValueError("hold_scans must be at least 1")
        if cooldown_s < 0 or digest_s < 0 or (bar_ms is not None and bar_ms <= 0):
            raise ValueError("cooldown_s and digest_s must be >= 0, bar_ms > 0")
        self.hold_scans = hold_scans
        self.cooldown_ms = round(cooldown_s * 1000)
        self.digest_ms = round(digest_s * 1000)
        self.bar_ms = bar_ms
        self._pairs: dict[Key, _Pair] = {}
        self._digest: dict[Key, Alert] = {}
        self._digest_opened = 0
        self._digests = 0
        self.stats = {"sent_now": 0, "digested": 0, "digests": 0, "upgrades": 0, "superseded": 0}

    # --- queries ------------------------------------------------------------------------------------------
    def state(self, venue: str, symbol: str) -> AlertState:
        pair = self._pairs.get((venue, symbol))
        return pair.state if pair is not None else AlertState.ARMED

    @property
    def tracked(self) -> int:
        return len(self._pairs)

    @property
    def pending_digest(self) -> tuple[Alert, ...]:
        return tuple(self._digest.values())

    # --- input --------------------------------------------------------------------------------------------
    def on_scan(self, rows: Iterable[ScanRow] | ScanSnapshot, now_ms: int) -> list[Action]:
        """One scan: every row at ALTA or higher (others may be included and count as below ALTA)."""
        if isinstance(rows, ScanSnapshot):
            rows = [row for level_rows in rows.levels.values() for row in level_rows]
        seen: dict[Key, ScanRow] = {}
        for row in rows:
            seen.setdefault((row.venue, row.symbol), row)
        out: list[Action] = []
        for key, row in seen.items():
            level = Level[row.level]
            if level >= Level.ALTA or key in self._pairs:
                self._step(key, row, level, now_ms, out)
        for key in sorted(self._pairs.keys() - seen.keys()):
            self._step(key, None, Level.DESCARTADA, now_ms, out)
        out.extend(self.tick(now_ms))
        return out

    def tick(self, now_ms: int) -> list[Action]:
        """The digest, if its window has closed."""
        if not self._digest or now_ms - self._digest_opened < self.digest_ms:
            return []
        return self.flush(now_ms)

    def flush(self, now_ms: int) -> list[Action]:
        """The digest now, window closed or not (at shutdown); empty if nothing is gathered."""
        if not self._digest:
            return []
        self._digests += 1
        digest = Digest(id=f"digest-{now_ms}-{self._digests}", ts_ms=now_ms, alerts=tuple(self._digest.values()))
        self._digest.clear()
        self.stats["digests"] += 1
        return [digest]

    # --- the machine --------------------------------------------------------------------------------------
    def _step(self, key: Key, row: ScanRow | None, level: Level, now: int, out: list[Action]) -> None:
        pair = self._pairs.setdefault(key, _Pair())
        high, fuerte = level >= Level.ALTA, level >= Level.FUERTE
        pair.high_since = (pair.high_since if pair.high_run else now) if high else 0
        pair.high_run = pair.high_run + 1 if high else 0
        pair.fuerte_since = (pair.fuerte_since if pair.fuerte_run else now) if fuerte else 0
        pair.fuerte_run = pair.fuerte_run + 1 if fuerte else 0
        if pair.state is AlertState.COOLDOWN and self._expired(pair, now):
            self._move(pair, Event.EXPIRE)
        if row is None or not high:
            self._move(pair, Event.LOW)
            if pair.state is AlertState.COOLDOWN and self._expired(pair, now):
                self._move(pair, Event.EXPIRE)
        elif pair.state in (AlertState.ARMED, AlertState.PENDING):
            confirmed = self._confirmed(pair, now)
            if confirmed is None:
                self._move(pair, Event.SEEN)
            else:
                self._move(pair, Event.CONFIRM)
                self._fire(key, pair, row, confirmed, None, now, out)
        elif pair.fired_level is Level.ALTA and self._held(pair.fuerte_run, pair.fuerte_since, now):
            self._move(pair, Event.UPGRADE)
            self.stats["upgrades"] += 1
            self._fire(key, pair, row, Level.FUERTE, Level.ALTA, now, out)
        else:
            self._move(pair, Event.SEEN)
        if pair.state is AlertState.ARMED and not pair.high_run:
            del self._pairs[key]

    @staticmethod
    def _move(pair: _Pair, event: Event) -> None:
        nxt = TRANSITIONS.get((pair.state, event))
        if nxt is None:
            raise IllegalTransition(f"{pair.state.name} on {event.name}")
        pair.state = nxt

    def _expired(self, pair: _Pair, now: int) -> bool:
        return now - pair.fired_ms >= self.cooldown_ms

    def _held(self, run: int, since: int, now: int) -> bool:
        if run >= self.hold_scans:
            return True
        return self.bar_ms is not None and run >= 2 and since // self.bar_ms < now // self.bar_ms

    def _confirmed(self, pair: _Pair, now: int) -> Level | None:
        if self._held(pair.fuerte_run, pair.fuerte_since, now):
            return Level.FUERTE
        return Level.ALTA if self._held(pair.high_run, pair.high_since, now) else None

    def _fire(
        self, key: Key, pair: _Pair, row: ScanRow, level: Level, previous: Level | None, now: int, out: list[Action]
    ) -> None:
        pair.fired_ms, pair.fired_level = now, level
        alert = Alert(
            id=f"{now}-{key[0]}-{key[1]}-{level.name}", ts_ms=now, venue=key[0], symbol=key[1], level=level.name,
            kind="new" if previous is None else "upgrade", previous=previous.name if previous else None, row=row,
        )  # fmt: skip
        if level is Level.FUERTE or self.digest_ms == 0:
            if self._digest.pop(key, None) is not None:
                self.stats["superseded"] += 1
            self.stats["sent_now"] += 1
            out.append(SendNow(alert))
            return
        if not self._digest:
            self._digest_opened = now
        self._digest[key] = alert
        self.stats["digested"] += 1
