"""Alembic environment: runs migrations over an async (asyncpg) engine.

The engine's connections come from ``store.database.connect``, not from SQLAlchemy's parsing of
the URL: one reading of ``DATABASE_URL`` everywhere, libpq's multi-host form included (the
migration runs on whichever listed host takes writes)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from dydx_router.store.database import connect
from dydx_router.store.tables import metadata

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_async_engine("postgresql+asyncpg://", async_creator=lambda: connect(url))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
