"""The local Airflow's REST API, called as its admin user (the tests' client)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from stack.local_airflow import ADMIN_USER, password_file, url
from ventes.settings import Settings


def api(settings: Settings, method: str, path: str, body: dict | None = None) -> Any:
    """Call the REST API (``/api/v2/...``) as the admin user; returns the decoded JSON."""
    password = json.loads(password_file(settings).read_text())[ADMIN_USER]
    token = _request(f"{url(settings)}/auth/token", "POST", {"username": ADMIN_USER, "password": password})
    return _request(f"{url(settings)}{path}", method, body, token["access_token"])


def _request(address: str, method: str, body: dict | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(address, data=data, method=method, headers=headers)
    # Generous: with SQLite, a request waits while the scheduler holds the write lock.
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
    return json.loads(payload) if payload else None
