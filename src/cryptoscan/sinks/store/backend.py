"""What the sink needs of a database, and which one a location names.

A location is a plain path (a DuckDB file; the embedded default) or a ``postgresql://`` / ``postgres://`` URL
(a database server). Both backends hold the same tables (:mod:`.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cryptoscan.sinks.store.rows import Row

DEFAULT_PG_SCHEMA = "cryptoscan"


class Backend(Protocol):
    """A store the sink writes batches to. ``write`` commits the whole batch in one transaction, or nothing."""

    name: str  # "duckdb" or "postgresql"
    location: str  # for messages: the path, or the URL without its password

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None:
        """Connect and create the tables if missing; idempotent."""

    async def write(self, batch: Mapping[str, Sequence[Row]]) -> dict[str, int]:
        """Insert the rows (``ON CONFLICT DO NOTHING``) and commit; returns rows new to each table."""

    async def disconnect(self) -> None:
        """Drop the connection after a failure (never raises); ``open`` may be called again."""

    async def close(self) -> None:
        """Disconnect for good, releasing any worker thread."""

    def transient(self, exc: BaseException) -> bool:
        """True for an outage (retry the same rows later); False for a row the store will never take."""


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redact(location: str | Path) -> str:
    """The location for logs and messages: a URL's password replaced by ``***``."""
    text = str(location)
    if not is_postgres(text) or "@" not in text:
        return text
    scheme, rest = text.split("://", 1)
    cred, host = rest.rsplit("@", 1)
    user = cred.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in cred else ''}@{host}"


def open_backend(location: str | Path, *, pg_schema: str = DEFAULT_PG_SCHEMA) -> Backend:
    """The backend for ``location`` (not connected yet): PostgreSQL for a URL, else a DuckDB file."""
    if is_postgres(location):
        from cryptoscan.sinks.store.pg import PostgresBackend

        return PostgresBackend(str(location), schema=pg_schema)
    text = str(location)
    if "://" in text:
        raise ValueError(f"store: unsupported URL scheme {text.split('://', 1)[0]!r} (a path or postgresql://)")
    from cryptoscan.sinks.store.duck import DuckDBBackend

    return DuckDBBackend(Path(text))
