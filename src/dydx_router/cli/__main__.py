"""``python -m dydx_router.cli``."""

import sys

from dydx_router.cli import app

sys.exit(app())
