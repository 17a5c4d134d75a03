"""Configuration: the one place that reads the environment.

`Config.from_env` is called once at the edge (the CLI); tests build a `Config` from a dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


class ConfigError(ValueError):
    """An EMAILSTORE_* variable has a value the service cannot use."""


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local/share")
    return Path(base) / "emailstore"


@dataclass(frozen=True)
class Config:
    """Every setting of the service. Field docs are the README's configuration table."""

    listen: str = "127.0.0.1:50051"
    """host:port the gRPC server binds."""
    database_url: str = ""
    """PostgreSQL URL; empty starts the embedded PostgreSQL in data_dir."""
    data_dir: Path = Path("~/.local/share/emailstore")
    """Where the embedded PostgreSQL keeps its files."""
    db_pool_min_size: int = 4
    """Connections the pool keeps open."""
    db_pool_max_size: int = 16
    """Connections the pool opens at most."""
    db_pool_timeout_s: float = 5.0
    """How long an RPC waits for a connection before UNAVAILABLE."""
    write_concurrency: int = 2
    """Write transactions in flight at once; concurrent stores queue and commit together."""
    write_batch_max: int = 64
    """Most messages committed in one write transaction."""
    migrate_on_start: bool = True
    """Apply pending migrations when `serve` starts."""
    zstd_level: int = 3
    """zstd level for new chunks and packs (1-22)."""
    inline_max_bytes: int = 64 * 1024
    """Bodies and skeletons up to this size go in the message's pack; larger ones in blobs."""
    dict_training: bool = True
    """Train per-tenant zstd dictionaries in the background as mail comes in."""
    dict_min_samples: int = 1000
    """Packs a tenant writes without a dictionary before one is trained."""
    dict_size_bytes: int = 64 * 1024
    """Size of a trained dictionary."""
    dict_retrain_drift: float = 0.25
    """Retrain when new packs compress this much worse than the dictionary's sample did."""
    dict_cache_size: int = 256
    """Dictionaries kept in memory for reads."""
    dict_check_interval_s: float = 300.0
    """How often every tenant is checked for a dictionary due (0: only as writes come in)."""
    max_message_bytes: int = 50 * MIB
    """Largest message (bodies plus attachments, or raw size)."""
    max_attachment_bytes: int = 25 * MIB
    """Largest single attachment."""
    max_grpc_message_bytes: int = 4 * MIB
    """Largest single gRPC request message."""
    max_recipients: int = 1000
    """Most addresses in to + cc + bcc."""
    max_attachments: int = 1000
    """Most attachments (MIME parts) per message."""
    max_header_bytes: int = 1 * MIB
    """Largest header block (sum of names and values)."""
    max_subject_chars: int = 2000
    """Longest subject."""
    blob_grace_s: float = 3600.0
    """How long a blob nothing references is kept before the collector frees it."""
    upload_ttl_s: float = 86400.0
    """How long an unfinished upload can be resumed; then its bytes are freed."""
    gc_interval_s: float = 60.0
    """How often the server's background collector runs (0: never; use `emailstore gc`)."""
    purge_interval_s: float = 3600.0
    """How often the server purges every tenant's expired messages (0: never; use
    `emailstore purge`)."""
    changes_retention_s: float = 7 * 86400.0
    """How long the change feed keeps changes; older ones are pruned in the background."""
    parse_workers: int = 2
    """Worker processes that parse raw messages (hostile input cannot stall the server)."""
    parse_timeout_s: float = 10.0
    """Time limit for parsing one raw message; past it the message is stored unparsed."""
    shutdown_grace_s: float = 10.0
    """How long in-flight RPCs may run on after SIGTERM."""
    health_interval_s: float = 2.0
    """How often the database is probed for the health service."""
    message_id_domain: str = "emailstore.invalid"
    """Domain of generated Message-IDs: <storage_key@domain>."""
    page_token_secret: str = ""
    """HMAC key for page tokens; empty uses a secret kept in the database."""
    log_level: str = "INFO"
    """Python logging level name."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Builds the config from EMAILSTORE_* variables (os.environ when env is None)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {"data_dir": _default_data_dir(env)}
        parsers: dict[str, Callable[[str], Any]] = {
            "str": str,
            "int": int,
            "float": float,
            "bool": _parse_bool,
            "Path": lambda v: Path(v).expanduser(),
        }
        for f in fields(cls):
            name = f"EMAILSTORE_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parse = parsers[str(f.type)]
            try:
                values[f.name] = parse(raw.strip())
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a valid {f.type}") from None
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raises ConfigError when a value is out of its range."""
        checks: list[tuple[bool, str]] = [
            (":" in self.listen, "EMAILSTORE_LISTEN must be host:port"),
            (1 <= self.zstd_level <= 22, "EMAILSTORE_ZSTD_LEVEL must be 1-22"),
            (
                1 <= self.db_pool_min_size <= self.db_pool_max_size,
                "EMAILSTORE_DB_POOL_MIN_SIZE must be between 1 and EMAILSTORE_DB_POOL_MAX_SIZE",
            ),
            (
                1 <= self.write_concurrency < self.db_pool_max_size,
                "EMAILSTORE_WRITE_CONCURRENCY must be at least 1 and below the pool's max size",
            ),
            (self.write_batch_max >= 1, "EMAILSTORE_WRITE_BATCH_MAX must be >= 1"),
            (
                0 <= self.inline_max_bytes <= 1024 * 1024,
                "EMAILSTORE_INLINE_MAX_BYTES must be 0-1048576",
            ),
            (self.dict_min_samples >= 20, "EMAILSTORE_DICT_MIN_SAMPLES must be >= 20"),
            (
                1024 <= self.dict_size_bytes <= 1024 * 1024,
                "EMAILSTORE_DICT_SIZE_BYTES must be 1024-1048576",
            ),
            (self.dict_retrain_drift > 0, "EMAILSTORE_DICT_RETRAIN_DRIFT must be > 0"),
            (self.dict_cache_size >= 1, "EMAILSTORE_DICT_CACHE_SIZE must be >= 1"),
            (self.dict_check_interval_s >= 0, "EMAILSTORE_DICT_CHECK_INTERVAL_S must be >= 0"),
            (self.db_pool_timeout_s > 0, "EMAILSTORE_DB_POOL_TIMEOUT_S must be > 0"),
            (self.max_attachment_bytes > 0, "EMAILSTORE_MAX_ATTACHMENT_BYTES must be > 0"),
            (self.max_message_bytes > 0, "EMAILSTORE_MAX_MESSAGE_BYTES must be > 0"),
            (
                self.max_grpc_message_bytes >= MIB,
                "EMAILSTORE_MAX_GRPC_MESSAGE_BYTES must be >= 1 MiB",
            ),
            (self.blob_grace_s >= 0, "EMAILSTORE_BLOB_GRACE_S must be >= 0"),
            (self.upload_ttl_s > 0, "EMAILSTORE_UPLOAD_TTL_S must be > 0"),
            (self.gc_interval_s >= 0, "EMAILSTORE_GC_INTERVAL_S must be >= 0"),
            (self.purge_interval_s >= 0, "EMAILSTORE_PURGE_INTERVAL_S must be >= 0"),
            (self.changes_retention_s >= 1, "EMAILSTORE_CHANGES_RETENTION_S must be >= 1"),
            (self.parse_workers >= 1, "EMAILSTORE_PARSE_WORKERS must be >= 1"),
            (self.parse_timeout_s > 0, "EMAILSTORE_PARSE_TIMEOUT_S must be > 0"),
            (self.shutdown_grace_s >= 0, "EMAILSTORE_SHUTDOWN_GRACE_S must be >= 0"),
            (self.health_interval_s > 0, "EMAILSTORE_HEALTH_INTERVAL_S must be > 0"),
            (bool(self.message_id_domain), "EMAILSTORE_MESSAGE_ID_DOMAIN must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)
