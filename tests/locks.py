"""Reading the generated locks (requirements/*.lock)."""

from __future__ import annotations

import re
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s\\]+)", re.M)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, str]:
    """``{distribution name (normalized): version}`` of a lock."""
    return {normalized(name): version for name, version in _PIN.findall(lock.read_text())}
