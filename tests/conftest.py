"""Root conftest: shared fixtures live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.indexer_swagger",
    "tests.fixtures.devnet",
    "tests.fixtures.router",
]
