"""Typed configuration for every gradeflow process, read from ``GRADEFLOW_*`` variables.

The defaults describe embedded mode: one process, a SQLite file and blobs under
``var/``, an in-process queue and pub/sub. Nothing is read at import time; call
``get_settings()`` (or build ``Settings(...)`` in tests) at the edge.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Both sized so a long student program and a chatty test run fit, while a runaway
# print loop or a pasted binary stops well before it costs the database anything.
DEFAULT_MAX_CODE_BYTES = 64 * 1024
DEFAULT_OUTPUT_LIMIT_BYTES = 64 * 1024
# Far above any sign-in, enrolment or apply request; the routes that take more (submit,
# authoring, uploads) declare their own limits.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRADEFLOW_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="SQLite file, blobs, secret key and logs.")
    host: str = Field("127.0.0.1", description="Address the web server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the web server binds to.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    broker_url: str = Field("", description="AMQP URL; empty means the in-process queue.")
    redis_url: str = Field(
        "",
        description="Redis URL for live events and cache purges across processes; empty means in-process.",
    )
    secret_key: str = Field(
        "", description="Signs session cookies; empty means a generated one kept in data_dir."
    )

    db_pool_size: int = Field(10, ge=1, le=200, description="Connections per process (PostgreSQL).")
    db_max_overflow: int = Field(10, ge=0, le=200, description="Extra connections under load.")
    broker_prefetch: int = Field(
        0,
        ge=0,
        le=1000,
        description="Unacked jobs per worker and queue; 0 = the grader slots (imports), nine "
        "times them (grading: a run and eight claims ahead each).",
    )
    queue_prefix: str = Field(
        "gradeflow", pattern=r"^[a-z0-9_.-]{1,40}$", description="Prefix of queue and key names."
    )
    cache_ttl_s: int = Field(60, ge=1, le=86400, description="Upper bound on a cached read's age.")
    cache_mb: int = Field(
        64, ge=1, le=65536, description="Memory for cached reads, per web or worker process."
    )
    metrics_port: int = Field(0, ge=0, le=65535, description="Worker /metrics port; 0 = none.")
    insecure_sandbox: bool = Field(False, description="Allow the unisolated development sandbox.")
    sandbox_cgroups: Literal["auto", "on", "off"] = Field(
        "auto",
        description="cgroup v2 limits per jailed process (pids.max, memory.max) on top of the "
        "rlimits: auto where a delegated subtree with pids and memory exists; on: refuse to "
        "grade without one; off: rlimits only.",
    )
    grader_slots: int = Field(
        0, ge=0, le=64, description="Grading runs at once; 0 means one per core."
    )
    grader_claim_ahead: int = Field(
        -1,
        ge=-1,
        le=1000,
        description="Grading jobs a process claims ahead of its sandbox slots, so that claims "
        "and results are written in groups; -1 = eight a slot (sixteen in embedded mode).",
    )
    max_attempts: int = Field(
        3, ge=1, le=20, description="Grading attempts before a submission ends as error."
    )
    lease_margin_s: float = Field(
        30.0, gt=0, description="Lease length beyond the assignment's time limit."
    )
    sweep_interval_s: float = Field(10.0, gt=0, description="How often lost jobs are looked for.")
    stuck_after_s: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="A submission queued or running longer than this is listed as stuck.",
    )
    grade_daemon: bool = Field(
        True,
        description="`gradeflow grade` grades through a warm per-user server that keeps its "
        "sandbox started; false: every call starts its own (as `--no-daemon`).",
    )
    grade_daemon_idle_minutes: float = Field(
        10.0, gt=0, le=1440, description="Minutes without a call after which it exits."
    )
    max_code_bytes: int = Field(
        DEFAULT_MAX_CODE_BYTES, ge=1, description="Largest accepted submission (UTF-8 bytes)."
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body (bytes) a route without a limit of its own reads; "
        "larger is 413.",
    )
    output_limit_bytes: int = Field(
        DEFAULT_OUTPUT_LIMIT_BYTES, ge=1024, description="Captured stdout/stderr per run."
    )
    sign_in_window_s: int = Field(
        900, ge=1, le=86400, description="How long a failed sign-in counts against the limits."
    )
    sign_in_failures_per_account: int = Field(
        5, ge=1, le=1000, description="Failed sign-ins to one account per window before 429."
    )
    sign_in_failures_per_address: int = Field(
        20, ge=1, le=100_000, description="Failed sign-ins from one address per window before 429."
    )
    max_upload_mb: int = Field(
        200, ge=1, le=100_000, description="Largest accepted grade file (MiB); larger is 413."
    )
    blob_dir: Path | None = Field(
        None,
        description="Directory for uploaded files; unset: data_dir/blobs in embedded mode, "
        "PostgreSQL large objects in services mode.",
    )
    blob_store: Literal["auto", "database", "directory"] = Field(
        "auto",
        description="database: PostgreSQL large objects, which every host reaches; "
        "directory: blob_dir (or data_dir/blobs); auto: blob_dir if set, else database in "
        "services mode on PostgreSQL, else directory.",
    )
    import_slots: int = Field(
        1, ge=1, le=16, description="Grade-file imports a worker runs at once."
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Addresses or networks, comma-separated, whose X-Forwarded-For a web "
        "process believes: nginx's, when it runs on another host.",
    )
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (behind HTTPS).")
    log_json: bool = Field(False, description="Log JSON lines instead of readable console lines.")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        # No "*": trusting every peer would let any client name its own address and
        # walk past the per-address sign-in limits.
        for item in value.split(","):
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {item.strip()!r}") from None
        return ",".join(item.strip() for item in value.split(","))

    @model_validator(mode="after")
    def _blob_store_fits_database(self) -> Settings:
        # Said at start-up, not at the first upload, so a misconfigured host never serves.
        if self.blob_store == "database" and not self.database_url.startswith("postgresql"):
            raise ValueError("GRADEFLOW_BLOB_STORE=database needs a PostgreSQL database URL")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gradeflow.sqlite3').resolve()}"

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: grading happens inside the serving process."""
        return not self.broker_url

    @property
    def resolved_prefetch(self) -> int:
        return self.broker_prefetch or self.resolved_grader_slots + self.resolved_claim_ahead

    @property
    def resolved_claim_ahead(self) -> int:
        """Grading jobs a worker claims ahead of its sandbox slots: enough that claims
        and results share groups under load (``grading.worker.GROUP_LINGER_S``)."""
        if self.grader_claim_ahead >= 0:
            return self.grader_claim_ahead
        # Embedded mode is the only grading process, so its claims ahead keep no job
        # from an idle grader elsewhere; with eight a slot its groups stopped at ~10
        # claims and results, before the linger's bound (PERFORMANCE.md, issue 11).
        per_slot = 16 if self.embedded else 8
        return per_slot * self.resolved_grader_slots

    @property
    def resolved_import_prefetch(self) -> int:
        return self.broker_prefetch or self.resolved_grader_slots

    @property
    def resolved_grader_slots(self) -> int:
        return self.grader_slots or (os.cpu_count() or 1)

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept (mode 0600) in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.ensure_data_dir() / "secret_key"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            key = secrets.token_urlsafe(48)
            # O_EXCL: when two processes race, one creates the file and both read it.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return path.read_text().strip()
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
            return key


# pydantic's message for a boolean names no accepted spelling.
_EXPECTED = {"bool_parsing": "expected true or false (also 1/0, yes/no, on/off)"}


def describe_invalid_settings(exc: ValidationError) -> list[str]:
    """One line per invalid setting: its variable, its value and what is expected."""
    lines = []
    for error in exc.errors(include_url=False):
        message = _EXPECTED.get(error["type"], error["msg"].removeprefix("Value error, "))
        if not error["loc"]:  # a rule across settings names its variables itself
            lines.append(f"invalid settings: {message}")
            continue
        variable = "GRADEFLOW_" + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{variable}={error['input']!r} is invalid: {message}")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
