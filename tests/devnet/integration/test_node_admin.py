"""The devnet's admin API and `Devnet` composition root, over real sockets."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
import typer
from tests.devnet.unit.txkit import wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc

from dydx_devnet.app import Devnet, DevnetConfig
from dydx_devnet.cli import parse_fund
from dydx_devnet.events import BlockCommitted

pytestmark = pytest.mark.integration


async def _post(d: DevnetProcess, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=d.admin, timeout=10) as c:
        return await c.post(path, **kw)


async def test_step_blocks_moves_the_height_exactly(devnet_manual: DevnetProcess) -> None:
    before = (await devnet_manual.status())["height"]
    assert await devnet_manual.step_blocks(3) == before + 3
    await asyncio.sleep(0.3)  # no block loop with --block-time 0
    assert (await devnet_manual.status())["height"] == before + 3


async def test_fund_validates_its_input(devnet_manual: DevnetProcess) -> None:
    bad_address = await _post(
        devnet_manual, "/devnet/fund", json={"address": "cosmos1abc", "amount": "10"}
    )
    assert bad_address.status_code == 400
    assert "invalid address" in bad_address.json()["errors"][0]["msg"]
    bad_amount = await _post(
        devnet_manual,
        "/devnet/fund",
        json={"address": wallet(2001).address, "amount": "-5"},
    )
    assert bad_amount.status_code == 400
    ok = await devnet_manual.fund(wallet(2001).address, "12.5", subaccount_number=3)
    assert ok == {"address": wallet(2001).address, "subaccountNumber": 3, "usdc": "12.500000"}


async def test_oracle_and_clob_pair_status(devnet_manual: DevnetProcess) -> None:
    r = await devnet_manual.set_oracle_price("ETH-USD", "2000.5")
    assert r["ticker"] == "ETH-USD"
    unknown = await _post(devnet_manual, "/devnet/oracle", json={"ticker": "XYZ-USD", "price": "1"})
    assert unknown.status_code == 404
    off_grid = await _post(
        devnet_manual, "/devnet/oracle", json={"ticker": "BTC-USD", "price": "1.000001"}
    )
    assert off_grid.status_code == 400
    status = await _post(
        devnet_manual, "/devnet/clob-pairs/10/status", json={"status": "FINAL_SETTLEMENT"}
    )
    assert status.json() == {"clobPairId": 10, "status": "STATUS_FINAL_SETTLEMENT"}
    async with grpc.aio.insecure_channel(devnet_manual.grpc) as ch:
        pair = await clob_grpc.QueryStub(ch).ClobPair(
            clob_query.QueryGetClobPairRequest(id=10), timeout=10
        )
        assert pair.clob_pair.status == 6
    await _post(devnet_manual, "/devnet/clob-pairs/10/status", json={"status": "ACTIVE"})


async def test_unknown_fault_switch_is_rejected(devnet_manual: DevnetProcess) -> None:
    r = await _post(devnet_manual, "/devnet/faults", json={"no_such_switch": True})
    assert r.status_code == 400
    assert (await devnet_manual.reset_faults())["grpc_unavailable"] is False


def test_parse_fund() -> None:
    w = wallet(1).address
    assert parse_fund([f"{w}=100.5"]) == ((w, Decimal("100.5")),)
    for bad in (w, f"{w}=", f"{w}=abc", f"{w}=-1", "=5", "cosmos1abc=5"):
        with pytest.raises(typer.BadParameter):
            parse_fund([bad])


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.first_block: int | None = None

    async def start(self, devnet: Devnet) -> None:
        self.calls.append("start")
        self.first_block = devnet.state.height  # attachments start before block 1
        devnet.indexer_url = "http://example.invalid"

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_devnet_object_lifecycle() -> None:
    w = wallet(3001)
    config = DevnetConfig(
        grpc_port=0,
        indexer_port=0,
        ws_port=0,
        admin_port=0,
        block_time=0.05,
        seed=3,
        fund=((w.address, Decimal("250")),),
    )
    devnet = Devnet(config)
    rec = _Recorder()
    devnet.attach(rec)
    sub = devnet.bus.subscribe()
    await devnet.start()
    try:
        line = devnet.ready_line()
        assert line.startswith(f"DEVNET READY grpc={devnet.grpc_target} ")
        assert "indexer=http://example.invalid" in line and "admin=http://127.0.0.1:" in line
        assert rec.first_block == 0
        account = devnet.state.account(w.address)
        assert account is not None
        sub_usdc = devnet.state.subaccount(w.address, 0)
        assert sub_usdc is not None and sub_usdc.usdc_quantums == 250_000_000
        async with grpc.aio.insecure_channel(devnet.grpc_target) as ch:
            stub = tm_grpc.ServiceStub(ch)
            h1 = (await stub.GetLatestBlock(tm_query.GetLatestBlockRequest(), timeout=5)).block
            await asyncio.sleep(0.3)
            h2 = (await stub.GetLatestBlock(tm_query.GetLatestBlockRequest(), timeout=5)).block
            assert h2.header.height > h1.header.height
            devnet.faults.block_stall = True
            await asyncio.sleep(0.1)
            stalled = devnet.state.height
            await asyncio.sleep(0.3)
            assert devnet.state.height == stalled
    finally:
        await devnet.stop()
    assert rec.calls == ["start", "stop"]
    heights = [b.block.height for b in sub.drain() if isinstance(b.block, BlockCommitted)]
    assert heights == list(range(1, heights[-1] + 1))
