"""The libpq multi-host URL split into one URL per host (store/hosts.py)."""

from __future__ import annotations

from dydx_router.store.hosts import host_of, split_hosts


def test_one_host_is_left_alone() -> None:
    url = "postgresql://u:p@db:5432/router?sslmode=require"
    assert split_hosts(url) == [url]


def test_each_host_keeps_credentials_database_and_options() -> None:
    url = "postgresql://u:p%40ss@h1:5432,h2:5433,[::1]:5434/router?sslmode=require&target_session_attrs=read-write"
    urls = split_hosts(url)
    assert urls == [
        f"postgresql://u:p%40ss@{h}/router?sslmode=require&target_session_attrs=read-write"
        for h in ("h1:5432", "h2:5433", "[::1]:5434")
    ]
    assert [host_of(u) for u in urls] == ["h1:5432", "h2:5433", "[::1]:5434"]


def test_several_hosts_mean_the_writable_one_unless_told_otherwise() -> None:
    assert split_hosts("postgresql://u@h1,h2/db")[1] == (
        "postgresql://u@h2/db?target_session_attrs=read-write"
    )
    assert split_hosts("postgresql://u@h1,h2/db?target_session_attrs=any")[0] == (
        "postgresql://u@h1/db?target_session_attrs=any"
    )
