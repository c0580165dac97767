"""``gradeflow login URL``: sign in to a gradeflow server and keep an API token for it.

The token lands in ``$XDG_CONFIG_HOME/gradeflow/credentials.json`` (mode 0600), one
per server URL, so scripts and later commands can call the API as the teacher.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx

from gradeflow.errors import GradeflowError


class LoginFailed(GradeflowError):
    """Signing in to the server failed."""


class CredentialsMalformed(GradeflowError):
    """The credentials file is not one gradeflow wrote."""


def credentials_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "gradeflow" / "credentials.json"


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def create_token(url: str, *, email: str, password: str) -> dict[str, Any]:
    """Sign in with a password and create a token named after this machine."""
    url = url.rstrip("/")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            signed_in = client.post("/api/auth/login", json={"email": email, "password": password})
            if signed_in.status_code != 200:
                raise LoginFailed(f"sign-in refused: {_error_message(signed_in)}")
            name = f"gradeflow CLI on {socket.gethostname()}"[:100]
            created = client.post("/api/tokens", json={"name": name})
            if created.status_code != 201:
                raise LoginFailed(f"could not create a token: {_error_message(created)}")
            client.post("/api/auth/logout")
    except httpx.HTTPError as exc:
        raise LoginFailed(f"cannot reach {url}: {exc}") from exc
    token: dict[str, Any] = created.json()
    return token


def check_token(url: str, token: str) -> dict[str, Any]:
    """The account an existing token belongs to (refused if the server does not know it)."""
    url = url.rstrip("/")
    try:
        response = httpx.get(
            f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        raise LoginFailed(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise LoginFailed(f"token refused: {_error_message(response)}")
    me: dict[str, Any] = response.json()
    return me


def read_credentials(path: Path | None = None) -> dict[str, Any]:
    """The stored tokens, ``{"servers": {url: {"token": ...}}}``; empty if there are
    none. A file of another shape is refused, not overwritten: it may hold tokens."""
    path = path or credentials_path()
    try:
        text = path.read_text()
        stored = json.loads(text) if text.strip() else {}
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsMalformed(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError:
        stored = None
    if not isinstance(stored, dict) or not isinstance(stored.get("servers", {}), dict):
        raise CredentialsMalformed(
            f'{path} is malformed: expected a JSON object whose "servers" maps server '
            "URLs to tokens; fix or remove it"
        )
    return stored


def store_token(url: str, token: str, path: Path | None = None) -> Path:
    """Keep ``token`` for ``url`` beside the others, readable by this user only."""
    path = path or credentials_path()
    stored = read_credentials(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    servers = stored.setdefault("servers", {})
    servers[url.rstrip("/")] = {"token": token}
    # Written to a new file then renamed, so a crash never leaves half a file.
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(stored, file, indent=2)
    partial.replace(path)
    return path


def stored_token(url: str, path: Path | None = None) -> str | None:
    path = path or credentials_path()
    try:
        stored = json.loads(path.read_text())
        return str(stored["servers"][url.rstrip("/")]["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
