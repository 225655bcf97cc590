"""The operator console (issue 20) end to end: headless Chromium (Debian's, driven by Playwright;
no browser download) -> the router's /console page -> HTTP + the event stream -> PostgreSQL ->
devnet. Skips when chromium or playwright is missing (``make browser`` installs chromium).

With ``CONSOLE_SHOTS_DIR`` set (``make console-shots``), each screen is saved there as a PNG
for docs/console.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, create_key, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, position

pytestmark = pytest.mark.e2e
# CHROMIUM_PATH: another build of Chromium (or a missing one, to see the skip).
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = os.environ.get("CONSOLE_SHOTS_DIR")
VIEWPORT = {"width": 1366, "height": 860}  # a laptop screen


async def shot(page: Any, name: str) -> None:
    if SHOTS:
        # Playwright creates the folder.
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium, or a skip that says why (asked first: no devnet or router is started for a
    machine without a browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed: `make browser` (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed: `make install`")
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=chromium,
            # root in a container: no user namespace for Chromium's sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture(scope="module")
def crouter(chromium: str, devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "console") as url:
        r = start_router(devnet, url, "console", {"DYDX_ROUTER_EVENTS_HEARTBEAT_S": "1"})
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    p = await context.new_page()
    p.set_default_timeout(30_000)
    try:
        yield p
    finally:
        await context.close()


async def sign_in(page: Any, r: RouterProcess, key: str, *, shot_name: str | None = None) -> None:
    from playwright.async_api import expect

    await page.goto(r.url + "/console")
    await page.get_by_label("API key").fill(key)
    if shot_name:
        await shot(page, shot_name)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#app-view")).to_be_visible()
    # The stream is subscribed: anything that happens from now on reaches the page.
    await expect(page.locator("#stream-state")).to_have_text("stream: live")


async def confirm(page: Any, reason: str) -> None:
    from playwright.async_api import expect

    dialog = page.locator("#confirm")
    await expect(dialog).to_be_visible()
    await page.locator("#confirm-reason").fill(reason)
    await page.locator("#confirm-yes").click()
    await expect(dialog).to_be_hidden()


def audit_actions(c: httpx.Client) -> list[tuple[str, str | None]]:
    entries = c.get("/v1/admin/audit", params={"limit": 50}).json()["entries"]
    return [(e["action"], e["target"]) for e in entries]


def test_the_page_is_served_offline_with_a_strict_policy(router: RouterProcess) -> None:
    crouter = router
    resp = httpx.get(crouter.url + "/console", follow_redirects=True)
    assert resp.status_code == 200 and "text/html" in resp.headers["content-type"]
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # Every asset is the router's own: nothing from another origin (works offline).
    assert (
        "http://" not in resp.text
        and "https://" not in resp.text
        and "//" not in "".join(part.split('"')[0] for part in resp.text.split('src="')[1:])
    )
    for ref in resp.text.split('="/console/assets/')[1:]:
        asset = httpx.get(crouter.url + "/console/assets/" + ref.split('"')[0])
        assert asset.status_code == 200


def test_the_health_summary_reads_the_service_itself(router: RouterProcess) -> None:
    assert httpx.get(router.url + "/v1/console/health").status_code == 401
    with router.client() as c:
        h = c.get("/v1/console/health").json()
    assert h["ready"] is True and h["checks"]["database"] == "ok"
    assert h["chain_height"] > 0 and h["chain_height_age_s"] is not None
    assert h["indexer_lag_blocks"] is not None and h["status_stream"] == "ok"
    assert {b["upstream"] for b in h["breakers"]} >= {"node", "indexer"}
    assert all(b["state"] == "closed" for b in h["breakers"])
    assert h["orders_unknown"] == 0 and isinstance(h["reconciler_backlog"], int)
    assert h["trading_state"] in {"ACTIVE", "REDUCE_ONLY", "HALTED"}


async def test_the_audited_controls_need_an_admin_key(router: RouterProcess) -> None:
    _, trader = await create_key(router.database_url, {"read", "trade"}, name="trader")
    with router.client(trader) as c:
        some = "00000000-0000-4000-8000-000000000000"
        for path in (f"/v1/admin/orders/{some}/cancel", "/v1/admin/positions/BTC-USD/close"):
            resp = c.post(path, json={"reason": "x"})
            assert resp.status_code == 403 and resp.json()["code"] == "insufficient_scope"
    with router.client() as c:
        resp = c.post(f"/v1/admin/orders/{some}/cancel", json={})
        assert resp.status_code == 404 and resp.json()["code"] == "order_not_found"


async def test_admin_watches_an_order_fill_and_controls_trading(
    page: Any, crouter: RouterProcess
) -> None:
    from playwright.async_api import expect

    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    await sign_in(page, crouter, crouter.api_key, shot_name="sign-in")
    await expect(page.locator("#controls")).to_be_visible()
    await expect(page.locator("#positions-body")).to_contain_text("No open position")

    with crouter.client() as c:
        # An order placed over the API is on the blotter within a second of the answer.
        resp = place(
            c,
            {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"},
        )
        assert resp.status_code == 201, resp.text
        answered = time.monotonic()
        order_id = resp.json()["id"]
        row = page.locator(f'#blotter-body tr[data-order-id="{order_id}"]')
        await expect(row).to_be_visible(timeout=1_000)
        print(f"order on the blotter {time.monotonic() - answered:.3f} s after the API answered")
        await expect(row.locator('[data-col="status"]')).to_have_text("FILLED", timeout=30_000)
        # The position follows the fill, read again because the stream said so.
        pos = page.locator('#positions-body tr[data-market="BTC-USD"] [data-col="size"]')
        await expect(pos).to_have_text("0.001", timeout=15_000)
        assert position(c, "BTC-USD") == Decimal("0.001")
        await expect(row.locator("td").nth(9)).to_have_text("test")  # the key that placed it
        await shot(page, "dashboard-admin")

        # Its full status history, on click (and by keyboard).
        await row.focus()
        await page.keyboard.press("Enter")
        history = page.locator("#history-table")
        await expect(history).to_contain_text("SUBMITTED")
        await expect(history).to_contain_text("FILLED")
        await shot(page, "order-history")
        await page.keyboard.press("Escape")
        await expect(page.locator("#details")).to_be_hidden()

        # Cancel one order: a resting limit far below the price.
        far = (oracle(c, "ETH-USD") / 2).quantize(Decimal("0.1"))
        resp = place(
            c,
            {
                "market": "ETH-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.01",
                "price": str(far),
            },
        )
        assert resp.status_code == 201, resp.text
        resting = resp.json()["id"]
        rrow = page.locator(f'#blotter-body tr[data-order-id="{resting}"]')
        await expect(rrow.locator('[data-col="status"]')).to_have_text("OPEN", timeout=30_000)
        await rrow.get_by_role("button", name="Cancel").click()
        await confirm(page, "stale quote")
        await expect(rrow.locator('[data-col="status"]')).to_have_text("CANCELED", timeout=30_000)
        assert ("order_cancel_requested", resting) in audit_actions(c)

        # Close one position.
        await page.get_by_role("button", name="Close the BTC-USD position").click()
        await shot(page, "confirm-close")
        await confirm(page, "flatten")
        await expect(page.locator("#positions-body")).to_contain_text(
            "No open position", timeout=30_000
        )
        actions = audit_actions(c)
        assert ("position_close_requested", "BTC-USD") in actions
        assert ("position_close_placed", "BTC-USD") in actions

        # Behind a confirmation: dismissed (Escape; the focus starts on Cancel), nothing changes.
        await page.get_by_role("button", name="HALT").click()
        await expect(page.locator("#confirm-no")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(page.locator("#confirm")).to_be_hidden()
        assert c.get("/v1/admin/trading-state").json()["state"] == "ACTIVE"
        assert ("trading_state_set", "HALTED") not in audit_actions(c)

        # HALT from the console: the next placement is refused.
        await page.get_by_role("button", name="HALT").click()
        await expect(page.locator("#confirm-cancel-all")).to_be_checked()
        await shot(page, "confirm-halt")
        await confirm(page, "console e2e")
        await expect(page.locator("#trading-state")).to_have_text("HALTED")
        refused = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert refused.status_code == 409 and refused.json()["code"] == "trading_halted"
        assert c.get("/v1/admin/trading-state").json()["state"] == "HALTED"
        assert ("trading_state_set", "HALTED") in audit_actions(c)
        await shot(page, "halted")

        await page.get_by_role("button", name="Active").click()
        await confirm(page, "resume")
        await expect(page.locator("#trading-state")).to_have_text("ACTIVE")

    # No secret in the URL, the page, the storage, or any request's URL.
    key = crouter.api_key
    assert key not in page.url and all(key not in u for u in requested)
    assert key not in await page.content()
    assert await page.evaluate("localStorage.length + sessionStorage.length") == 0


async def test_a_read_key_watches_without_controls(page: Any, crouter: RouterProcess) -> None:
    from playwright.async_api import expect

    _, read_key = await create_key(crouter.database_url, {"read"}, name="watcher")
    with crouter.client() as c:
        resp = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert resp.status_code == 201, resp.text
    # By keyboard alone: the key field, Enter.
    await page.goto(crouter.url + "/console")
    await page.get_by_label("API key").focus()
    await page.keyboard.type(read_key)
    await page.keyboard.press("Enter")
    await expect(page.locator("#stream-state")).to_have_text("stream: live")
    await expect(page.locator("#who")).to_contain_text("watcher (read)")
    await expect(page.locator("#health-list")).to_contain_text("Chain height")
    # A read key without orders:all sees only its own orders: none here.
    await expect(page.locator("#blotter-count")).to_have_text("0 of 0 orders")
    await expect(page.locator("#controls")).to_be_hidden()
    for name in ("HALT", "Active", "Reduce only", "Cancel", "Close"):
        assert await page.get_by_role("button", name=name).count() == 0, name
    await shot(page, "read-only")


async def test_the_page_resumes_its_stream_after_a_break(page: Any, crouter: RouterProcess) -> None:
    """The stream broken (Reconnect while offline) and an order placed meanwhile: back online,
    the page resumes with Last-Event-ID and shows the order with the statuses it missed."""
    from playwright.async_api import expect

    resumed: list[str | None] = []
    page.on(
        "request",
        lambda req: (
            resumed.append(req.headers.get("last-event-id"))
            if req.url.endswith("/v1/events")
            else None
        ),
    )
    await sign_in(page, crouter, crouter.api_key)
    with crouter.client() as c:
        first = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert first.status_code == 201, first.text
        seen = page.locator(f'#blotter-body tr[data-order-id="{first.json()["id"]}"]')
        await expect(seen.locator('[data-col="status"]')).to_have_text("FILLED", timeout=30_000)
        await page.context.set_offline(True)
        await page.get_by_role("button", name="Reconnect").click()
        await expect(page.locator("#stream-state")).to_have_text("stream: reconnecting")
        resp = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert resp.status_code == 201, resp.text
        order_id = resp.json()["id"]
        # Settled before the page is back: only a resumed stream can tell it.
        deadline = time.monotonic() + 30
        while order_of(c, order_id)["status"] != "FILLED":
            assert time.monotonic() < deadline, "the order did not fill"
            await asyncio.sleep(0.2)
    await page.context.set_offline(False)
    row = page.locator(f'#blotter-body tr[data-order-id="{order_id}"]')
    await expect(row.locator('[data-col="status"]')).to_have_text("FILLED", timeout=30_000)
    await expect(page.locator("#stream-state")).to_have_text("stream: live")
    assert any(r is not None for r in resumed), resumed
