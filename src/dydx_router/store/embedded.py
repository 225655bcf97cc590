"""The embedded default database: a PostgreSQL server installed from PyPI (``pgserver``).

Used by ``make run`` / ``make test`` when no ``DATABASE_URL`` is set; ``pgserver`` is the
``[embedded]`` extra, imported only here (dydx_router/extras.py). PostgreSQL refuses to run as
root; pgserver then runs the server as a dedicated system user it creates, so this works both for
ordinary users and for root in CI containers. The server listens on a unix socket only (no TCP port
to collide with), with its data under a project-local directory.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from dydx_router.extras import require


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, keep_running: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.keep_running = keep_running
        self._server: Any = None
        self._started_here = False

    def start(self) -> str:
        """Start (or attach to) the server and return its admin URL (database ``postgres``)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._started_here = not (self.data_dir / "postmaster.pid").exists()
        # platformdirs warns when XDG_RUNTIME_DIR is unset (common in containers); harmless.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pgserver = require("pgserver", "embedded", "the embedded PostgreSQL")
            self._server = pgserver.get_server(
                self.data_dir, cleanup_mode=None if self.keep_running else "stop"
            )
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server if this handle started it (a server found running is left alone)."""
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None
            # pgserver keeps a server up while any handle it ever recorded is listed, and a
            # killed process never unlists itself; stop what we started regardless.
            if self._started_here and not self.keep_running:
                self.stop_data_dir(self.data_dir)

    @staticmethod
    def stop_data_dir(data_dir: Path) -> bool:
        """Stop a server left running on ``data_dir`` (by ``make dev-up``); True if one was."""
        pid_file = data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH

        pg_ctl = Path(POSTGRES_BIN_PATH) / "pg_ctl"
        cmd = [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
        if os.geteuid() == 0:
            # The server runs as pgserver's unprivileged user; pg_ctl must too.
            cmd = ["su", "-s", "/bin/sh", "pgserver", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=False, capture_output=True, timeout=60)
        return True


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(database)))
