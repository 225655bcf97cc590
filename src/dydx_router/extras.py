"""The optional parts of the distribution, imported only by the commands that use them.

``pip install dydx-router`` installs the service and its runtime dependencies. The local tools
are extras: ``[devnet]`` (the local chain: ``dydx-router devnet``, ``make run``), ``[embedded]``
(a PostgreSQL server from PyPI for ``make run``/``make test`` without ``DATABASE_URL``) and
``[dev]`` (tests, linters, fuzzing, profiling). Serving the API imports none of them
(tests/router/unit/test_packaging.py); a command that needs a missing one says which extra to
install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


class MissingExtra(RuntimeError):
    """An optional part of the distribution is not installed."""

    def __init__(self, extra: str, what: str, missing: str) -> None:
        super().__init__(
            f"{what} needs the [{extra}] extra (missing module {missing!r}): "
            f"pip install 'dydx-router[{extra}]' (in a checkout: make install)"
        )
        self.extra = extra


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` of the ``extra`` extra, or raise MissingExtra naming it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if missing.partition(".")[0] == "dydx_router":
            raise  # a module of ours is missing: a bug, not an extra to install
        raise MissingExtra(extra, what, missing) from exc


def check(module: str, extra: str, what: str) -> None:
    """Raise MissingExtra unless ``module`` can be imported (without importing it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # ValueError: a module without a spec
        found = False
    if not found:
        raise MissingExtra(extra, what, module)
