"""Read Delta tables by path with ``deltalake``, caching each table by its Delta version.

A request costs one ``stat`` of the table's ``_delta_log`` folder: a commit adds a file there,
which changes the folder's modification time. Only then (or every ``recheck_seconds``, for file
systems with coarse timestamps) is Delta asked for its latest version, and only a new version
is read again. Results computed from a version are kept with it, so a table is queried once per
commit whatever the traffic. No Spark: the web process holds no JVM.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import DeltaError, TableNotFoundError

T = TypeVar("T")

# Results kept per version: one per distinct query or filter value, so a flood of different
# filter values cannot grow memory without bound.
MAX_RESULTS_PER_VERSION = 512


class TableUnreadable(Exception):
    """The table exists but could not be read (a damaged log, a file removed under us)."""

    def __init__(self, path: Path, cause: Exception) -> None:
        super().__init__(f"{path.name}: {cause}")
        self.path = path


@dataclass
class Snapshot:
    """One committed version of a table, and what has been computed from it."""

    path: Path
    version: int
    committed_at: datetime | None
    _table: DeltaTable | None = None
    _results: dict[Any, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def table(self) -> DeltaTable:
        """This version's table, opened on first use: Bronze, whose commit time is all the
        dashboard needs, is never opened twice."""
        with self._lock:
            if self._table is None:
                self._table = DeltaTable(self.path, version=self.version)
            return self._table

    def memo(self, key: Any, compute: Callable[[Snapshot], T]) -> T:
        """``compute(self)``, once per key for this version."""
        try:
            return self._results[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._results:
                if len(self._results) >= MAX_RESULTS_PER_VERSION:
                    self._results.clear()
                try:
                    self._results[key] = compute(self)
                except (DeltaError, OSError, ValueError, RuntimeError) as exc:
                    raise TableUnreadable(self.path, exc) from exc
            return self._results[key]

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run SQL over this version, registered as ``t``; rows as dicts of Python values."""
        result = QueryBuilder().register("t", self.table).execute(sql).read_all()
        columns = {name: result.column(name).to_pylist() for name in result.column_names}
        return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


@dataclass
class _Entry:
    log_dir: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    log_signature: tuple[int, int] | None = None
    checked_at: float = 0.0
    probe: DeltaTable | None = None
    snapshot: Snapshot | None = None


class DeltaReader:
    """Latest snapshots of Delta tables, shared by the threads of one web process."""

    def __init__(self, recheck_seconds: float = 5.0) -> None:
        self.recheck_seconds = recheck_seconds
        self._entries: dict[Path, _Entry] = {}
        self._entries_lock = threading.Lock()
        self.reads = 0  # versions loaded, for tests and diagnostics

    def snapshot(self, path: Path) -> Snapshot | None:
        """The latest committed version of the table at ``path``; None when there is no table yet."""
        entry = self._entry(path)
        signature = _log_signature(entry.log_dir)
        now = time.monotonic()
        if (
            signature is not None
            and signature == entry.log_signature
            and now - entry.checked_at < self.recheck_seconds
        ):
            return entry.snapshot
        with entry.lock:
            if signature is None:
                entry.log_signature, entry.probe, entry.snapshot = None, None, None
                return None
            if signature != entry.log_signature or now - entry.checked_at >= self.recheck_seconds:
                self._refresh(path, entry, signature)
            return entry.snapshot

    def _entry(self, path: Path) -> _Entry:
        entry = self._entries.get(path)
        if entry is None:
            with self._entries_lock:
                entry = self._entries.setdefault(path, _Entry(os.path.join(path, "_delta_log")))
        return entry

    def _refresh(self, path: Path, entry: _Entry, signature: tuple[int, int]) -> None:
        try:
            if entry.probe is None or entry.log_signature is None or signature[0] != entry.log_signature[0]:
                # First look, or the log folder was replaced (table dropped and recreated).
                entry.probe = DeltaTable(path)
            else:
                entry.probe.update_incremental()
            version = entry.probe.version()
            if entry.snapshot is None or entry.snapshot.version != version:
                entry.snapshot = Snapshot(path, version, _commit_time(entry.probe))
                self.reads += 1
        except TableNotFoundError:
            # A log folder without a first commit yet: no table, as before the first run.
            entry.probe, entry.snapshot = None, None
        except (DeltaError, OSError, ValueError, RuntimeError) as exc:
            entry.probe = None
            raise TableUnreadable(path, exc) from exc
        entry.log_signature = signature
        entry.checked_at = time.monotonic()


def _log_signature(log_dir: str) -> tuple[int, int] | None:
    """(inode, modification time) of a table's ``_delta_log`` folder, or None when absent."""
    try:
        stat = os.stat(log_dir)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.st_ino, stat.st_mtime_ns


def _commit_time(table: DeltaTable) -> datetime | None:
    history = table.history(1)
    if not history or "timestamp" not in history[0]:
        return None
    return datetime.fromtimestamp(history[0]["timestamp"] / 1000, tz=UTC)
