"""``dydx-router doctor``: the checks of ``dydx_router.doctor`` as a table; exit 1 on a failure."""

from __future__ import annotations

import typer

from dydx_router.cli.common import _run
from dydx_router.config import ConfigError, load_settings


def doctor() -> None:
    """Check configuration, database, stuck orders, nodes, indexers, wallet and risk limits; exit 1
    on a failure.

    Read only. One row per check; every call has the timeout of its setting.
    """
    from dydx_router import doctor as checks

    try:
        settings = load_settings()
    except ConfigError as exc:
        checks.render([checks.Check("configuration", False, str(exc))])
        raise typer.Exit(1) from None
    found: list[checks.Check] = []

    async def main() -> None:
        found.extend(await checks.run_checks(settings))

    _run(main())
    checks.render(found)
    raise typer.Exit(0 if all(c.ok for c in found) else 1)
