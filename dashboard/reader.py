"""Read Delta tables by path with ``deltalake``, caching each table by its Delta version.

A request costs one ``stat`` of the table's ``_delta_log`` folder: a commit adds a file there,
which changes the folder's modification time. Only then (or every ``recheck_seconds``, for file
systems with coarse timestamps) is Delta asked for its latest version, and only a new version
is read again. Results computed from a version are kept in a ``ResultCache`` bounded by bytes
(least recently used first out), so a table is queried once per commit whatever the traffic, and
a flood of distinct filter values costs at most the cache's size. No Spark: the web process holds
no JVM.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from ventes import delta

T = TypeVar("T")

# What the results computed from table versions may hold, by default, in one web process.
DEFAULT_CACHE_BYTES = 64 * 2**20
_MISSING = object()
# Each snapshot's own number: a table dropped and rebuilt starts again at version 0, so the
# version alone does not name what the results were computed from.
_SNAPSHOT_IDS = itertools.count()


class TableUnreadable(Exception):
    """The table exists but could not be read (a damaged log, a file removed under us)."""

    def __init__(self, path: Path, cause: Exception) -> None:
        super().__init__(f"{path.name}: {cause}")
        self.path = path


def size_of(value: Any) -> int:
    """Bytes held by ``value`` and the lists, tuples and dicts it contains, each object counted
    once. Objects shared with another cached result count in each: the bound errs on the safe side."""
    seen: set[int] = set()
    pending = [value]
    total = 0
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            pending.extend(obj.keys())
            pending.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            pending.extend(obj)
    return total


class ResultCache:
    """Values bounded by their total size in bytes; the least recently used go first. A value
    larger than the whole bound is not kept."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return default
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        with self._lock:
            self._remove(key)
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                self._remove(next(iter(self._items)))

    def discard(self, keep: Callable[[Hashable], bool]) -> None:
        """Drop every value whose key ``keep`` refuses."""
        with self._lock:
            for key in [k for k in self._items if not keep(k)]:
                self._remove(key)

    def _remove(self, key: Hashable) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item[1]


@dataclass
class Snapshot:
    """One committed version of a table, and what has been computed from it."""

    path: Path
    version: int
    committed_at: datetime | None
    cache: ResultCache = field(default_factory=ResultCache)
    serial: int = field(default_factory=lambda: next(_SNAPSHOT_IDS))
    _table: DeltaTable | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def table(self) -> DeltaTable:
        """This version's table, opened on first use: Bronze, whose commit time is all the
        dashboard needs, is never opened twice."""
        with self._lock:
            if self._table is None:
                self._table = DeltaTable(self.path, version=self.version)
            return self._table

    def memo(self, key: Hashable, compute: Callable[[Snapshot], T]) -> T:
        """``compute(self)``, once per key for this version while the cache keeps it."""
        full_key = (self.path, self.serial, key)
        found = self.cache.get(full_key, _MISSING)
        if found is not _MISSING:
            return found
        with self._lock:
            found = self.cache.get(full_key, _MISSING)
            if found is not _MISSING:
                return found
            try:
                value = compute(self)
            except (DeltaError, OSError, ValueError, RuntimeError) as exc:
                raise TableUnreadable(self.path, exc) from exc
            self.cache.put(full_key, value, size_of(value))
            return value

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run SQL over this version, registered as ``t``; rows as dicts of Python values."""
        return delta.rows(self.table, sql)


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

    def __init__(self, recheck_seconds: float = 5.0, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.recheck_seconds = recheck_seconds
        self.cache = ResultCache(cache_bytes)
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
                entry.snapshot = Snapshot(path, version, _commit_time(entry.probe), self.cache)
                self.reads += 1
                self._forget_older_snapshots(entry.snapshot)
        except TableNotFoundError:
            # A log folder without a first commit yet: no table, as before the first run.
            entry.probe, entry.snapshot = None, None
        except (DeltaError, OSError, ValueError, RuntimeError) as exc:
            entry.probe = None
            raise TableUnreadable(path, exc) from exc
        entry.log_signature = signature
        entry.checked_at = time.monotonic()

    def _forget_older_snapshots(self, snapshot: Snapshot) -> None:
        """Results of the table's older versions: no request asks for them any more."""
        self.cache.discard(lambda key: not (key[0] == snapshot.path and key[1] != snapshot.serial))


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
