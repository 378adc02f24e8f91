"""Service log files under ``VENTES_HOME/logs``, rotated when a service starts.

A service appends to ``<name>.log`` for as long as it runs; when it starts again and the file has
grown past ``MAX_BYTES``, the file becomes ``<name>.log.1`` (the previous ``.1`` becomes ``.2``,
and so on; the oldest beyond ``KEEP`` is dropped), and the service starts a new one.
"""

from __future__ import annotations

from pathlib import Path

MAX_BYTES = 10 * 2**20
KEEP = 3


def backup(path: Path, n: int) -> Path:
    """The ``n``-th older copy of a log: ``<name>.log.<n>``."""
    return path.with_name(f"{path.name}.{n}")


def rotate(path: Path, max_bytes: int | None = None, keep: int | None = None) -> bool:
    """Set ``path`` aside if it is larger than ``max_bytes`` (``MAX_BYTES``); True when it was.

    Only while no process writes to it: one holding it open would go on writing to the copy.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    keep = KEEP if keep is None else keep
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for n in range(keep - 1, 0, -1):
        if backup(path, n).exists():
            backup(path, n).replace(backup(path, n + 1))
    if keep > 0:
        path.replace(backup(path, 1))
    else:
        path.unlink()
    return True
