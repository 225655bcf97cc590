"""The router's ASGI application: the HTTP API (``api/app.py``) over what the composition root
(``bootstrap.py``) builds, with the store's view of an unreachable database. ``dydx-router serve``,
the reference generators and the tests start here."""

from __future__ import annotations

from fastapi import FastAPI

from dydx_router.api.app import AppResources, build_api
from dydx_router.bootstrap import build_container
from dydx_router.config import Settings
from dydx_router.store.database import STORE_FAILURES


def create_app(settings: Settings, *, container: AppResources | None = None) -> FastAPI:
    return build_api(
        settings, build=build_container, store_failures=STORE_FAILURES, container=container
    )
