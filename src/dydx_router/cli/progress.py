"""The steps of ``make run`` as they happen: one line when a step starts, one when it is done
with its time, and a summary before the last two lines (``API URL: …``, ``API key: …``)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

# Set by the Makefile's ``run`` target: when ``make run`` started ($EPOCHREALTIME) and how long
# its install step took, so the summary covers the whole command, not only this process.
STARTED_ENV = "MAKE_RUN_STARTED"
INSTALL_ENV = "MAKE_RUN_INSTALL_S"


def _env_float(name: str) -> float | None:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return None


class Progress:
    def __init__(self, prefix: str = "[run]") -> None:
        self.prefix = prefix
        self.started = _env_float(STARTED_ENV)
        self.steps: dict[str, float] = {}
        install = _env_float(INSTALL_ENV)
        if install is not None:
            self.steps["install"] = install
        if self.started is not None:
            # Python and our imports (the wallet's key derivation library is the heaviest).
            self.steps["start-up"] = max(0.0, time.time() - self.started - (install or 0.0))

    def say(self, step: str, text: str) -> None:
        print(f"{self.prefix} {step}: {text}", flush=True)

    @contextlib.contextmanager
    def step(self, name: str, doing: str) -> Iterator[None]:
        """Announce ``name``, run the block, then print its time (nothing more if it fails: the
        error says what happened)."""
        self.say(name, f"{doing} ...")
        start = time.monotonic()
        yield
        self.done(name, time.monotonic() - start)

    def done(self, name: str, seconds: float, detail: str = "") -> None:
        self.steps[name] = seconds
        self.say(name, f"done in {seconds:.1f}s{detail}")

    def summary(self) -> str:
        parts = ", ".join(f"{name} {s:.1f}s" for name, s in self.steps.items())
        if self.started is not None:
            total = time.time() - self.started
            return f"{self.prefix} ready {total:.1f}s after `make run` started ({parts})"
        return f"{self.prefix} ready ({parts})"
