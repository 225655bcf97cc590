"""The dYdX network behind the service's ``Exchange`` port.

Composes the node client (gRPC), the indexer client (REST), the wallet, the sequencer and the height
cache, and keeps market specs and oracle prices fresh in the background so that the order path
never waits on a read it could have made earlier. Chain errors are turned into ``Submission``
outcomes here, so the use cases only ever see accepted / rejected / already done / unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from dydx_router.chain import tx as txb
from dydx_router.chain.accounts import AccountReads
from dydx_router.chain.answers import observe_answer, submission_of
from dydx_router.chain.errors import (
    ChainError,
    ChainUnavailable,
    TxNotFound,
)
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import NodeClient
from dydx_router.chain.prices import OraclePrices
from dydx_router.chain.resilience import circuit_open_error
from dydx_router.chain.sequencer import (
    TIMESTAMP_NONCE_MIN,
    SequenceMode,
    Sequencer,
    nonce_expired,
)
from dydx_router.domain.errors import UnknownMarket
from dydx_router.domain.market import MarketSpec
from dydx_router.domain.order import ChainError as RecordedError
from dydx_router.domain.order import Order, OrderFlags
from dydx_router.domain.planning import OrderPlan, plan_of
from dydx_router.domain.windows import cancel_good_til_block
from dydx_router.observability import tracing
from dydx_router.service.ports import (
    BeforeBroadcast,
    MarketView,
    OrderPreview,
    Outcome,
    SignedOrder,
    Submission,
)

log = structlog.get_logger(__name__)


class DydxExchange(AccountReads):
    def __init__(
        self,
        *,
        node: NodeClient,
        indexer: IndexerClient,
        wallet: txb.Signer,
        sequencer: Sequencer,
        heights: HeightCache,
        chain_id: str,
        memo: str = "",
        order_router_address: str = "",
        prices_interval: float = 2.0,
        max_price_age_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        owner_address: str | None = None,
        authenticator_id: int | None = None,
    ) -> None:
        self.node = node
        # A permissioned key (x/accountplus): orders are the owner's, the wallet only signs.
        self._owner = owner_address
        self._address: str | None = None  # derived on first use (accounts.py)
        self._authenticator_id = authenticator_id
        self.indexer = indexer
        self.wallet = wallet
        self.sequencer = sequencer
        self.heights = heights
        self._chain_id = chain_id
        self._memo = memo
        self._router_address = order_router_address
        self._prices_interval = prices_interval
        self._specs: dict[str, MarketSpec] = {}
        self._by_clob_pair: dict[int, MarketSpec] = {}
        self._market_ids: dict[str, int] = {}
        self._perp_to_ticker: dict[int, str] = {}
        self._oracle = OraclePrices(max_price_age_s, clock)
        self._account_no: int | None = None

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Load markets and heights; tolerate a node that is down. The refreshers that keep them
        fresh are :meth:`background`, run by the caller's supervisor (workers/supervisor.py)."""
        with contextlib.suppress(ChainError):
            await self.refresh_markets()
        with contextlib.suppress(ChainError):
            await self.heights.refresh()

    def background(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The loops that keep the caches fresh, by worker name."""
        return {"height-cache": self.heights.run, "oracle-prices": self._prices_loop}

    async def aclose(self) -> None:
        await self.indexer.aclose()
        await self.node.close()

    async def refresh_markets(self) -> None:
        specs = await self.node.market_specs()
        perps = await self.node.perpetuals()
        self._specs = dict(specs)
        self._by_clob_pair = {s.clob_pair_id: s for s in specs.values()}
        self._market_ids = {p.ticker: p.market_id for p in perps}
        self._perp_to_ticker = {p.id: p.ticker for p in perps}
        await self.refresh_prices()

    async def refresh_prices(self) -> None:
        prices = {p.market_id: p.human for p in await self.node.market_prices()}
        self._oracle.replace(
            {ticker: prices[mid] for ticker, mid in self._market_ids.items() if mid in prices}
        )

    async def _prices_loop(self) -> None:
        while True:
            await asyncio.sleep(self._prices_interval)
            try:
                if not self._specs:
                    await self.refresh_markets()
                else:
                    await self.refresh_prices()
            except ChainError as e:
                log.warning("oracle_refresh_failed", error=str(e), code=e.code)

    # --- reads from caches ------------------------------------------------------------------
    @property
    def chain_id(self) -> str:
        return self._chain_id

    def latest_height(self) -> int:
        return self.heights.height

    def market(self, ticker: str) -> MarketSpec:
        spec = self._specs.get(ticker)
        if spec is None:
            known = ", ".join(sorted(self._specs)) or "none loaded yet"
            raise UnknownMarket(f"unknown market {ticker!r} (known: {known})", market=ticker)
        return spec

    def markets(self) -> Sequence[MarketView]:
        return [MarketView(s, self._oracle.last(t)) for t, s in sorted(self._specs.items())]

    def oracle_price(self, ticker: str) -> Decimal | None:
        """The market's oracle price; ``PriceStale`` when it is too old (chain/prices.py)."""
        return self._oracle.fresh(ticker)

    def price_age(self) -> float | None:
        return self._oracle.age()

    def prices_problem(self) -> str | None:
        return self._oracle.problem()

    # --- writes -----------------------------------------------------------------------------
    def ensure_writable(self) -> None:
        wait = self.node.unavailable_for()
        if wait is not None:
            raise circuit_open_error(ChainUnavailable, "node", self.node.pool, wait)

    def _order_id(self, order: Order) -> txb.ChainOrderId:
        return txb.ChainOrderId(
            owner=order.address,
            subaccount_number=order.subaccount_number,
            client_id=order.client_id,
            clob_pair_id=order.clob_pair_id,
            order_flags=OrderFlags(order.order_flags),
        )

    def _place_msg(self, order: Order, plan: OrderPlan) -> Any:
        gtbt = plan.good_til_block_time
        return txb.place_order(
            self._order_id(order),
            side=order.side,
            quantums=plan.quantums,
            subticks=plan.subticks,
            time_in_force=plan.chain_time_in_force,
            good_til_block=plan.good_til_block,
            good_til_block_time=None if gtbt is None else int(gtbt.timestamp()),
            reduce_only=order.reduce_only,
            condition_type=plan.condition_type,
            conditional_order_trigger_subticks=plan.trigger_subticks,
            order_router_address=self._router_address,
        )

    async def _account_number(self) -> int:
        if self._account_no is None:
            self._account_no = (await self.node.account(self.address)).account_number
        return self._account_no

    async def _sign(self, messages: Sequence[Any], sequence: int) -> txb.SignedTx:
        return txb.sign_tx(
            self.wallet,
            messages,
            chain_id=self._chain_id,
            account_number=await self._account_number(),
            sequence=sequence,
            memo=self._memo,
            authenticators=txb.selected_authenticators(self._authenticator_id, len(messages)),
        )

    async def sign_short_term(self, order: Order, plan: OrderPlan) -> SignedOrder:
        # Any sequence passes for short-term txs and none is consumed (v4-chain
        # protocol/app/ante/util.go ShouldSkipSequenceValidation; ante.go clobAnteHandle).
        signed = await self._sign([self._place_msg(order, plan)], self._short_term_sequence())
        return SignedOrder(signed.tx_hash, signed.tx_bytes)

    def _short_term_sequence(self) -> int:
        return self.sequencer.cached_sequence or 0

    async def sign_preview(self, order: Order, plan: OrderPlan) -> OrderPreview:
        # The hash of what would be signed, never a signature: a preview must not be a
        # broadcastable transaction (it is neither stored nor counted by the risk gate).
        # A stateful tx carries a timestamp nonce in that mode (a permissioned key's only one):
        # the one a tx signed now would take, so the digest is of a signable SignDoc.
        sequence = self.sequencer.cached_sequence
        if plan.is_short_term:
            sequence = self._short_term_sequence()
        elif self.sequencer.mode is SequenceMode.TIMESTAMP_NONCE:
            sequence = self.sequencer.preview_nonce()
        elif sequence is None:
            sequence = (await self.node.account(self.address)).sequence
        digest = txb.sign_doc_sha256(
            self.wallet.public_key,
            [self._place_msg(order, plan)],
            chain_id=self._chain_id,
            account_number=await self._account_number(),
            sequence=sequence,
            memo=self._memo,
            authenticators=txb.selected_authenticators(self._authenticator_id, 1),
        )
        return OrderPreview(sign_doc_sha256=digest)

    async def broadcast(self, signed_tx: bytes, *, resend: bool = False) -> Submission:
        signed = txb.SignedTx(signed_tx, txb.tx_hash_of(signed_tx))
        start = time.perf_counter()
        with tracing.span("chain.broadcast", **{"tx.hash": signed.tx_hash}):
            try:
                tx_hash = await self.node.broadcast(signed)
            except ChainError as e:
                result = submission_of(e, signed, placement=True, resend=resend)
            else:
                result = Submission(Outcome.ACCEPTED, tx_hash=tx_hash, signed_tx=signed_tx)
        observe_answer("short_term", start, result)
        return result

    async def _send(
        self,
        messages: Sequence[Any],
        kind: str = "stateful",
        before_broadcast: BeforeBroadcast | None = None,
    ) -> Submission:
        start = time.perf_counter()
        hook = None
        if before_broadcast is not None:
            store = before_broadcast

            async def hook(signed: txb.SignedTx) -> None:
                await store(SignedOrder(signed.tx_hash, signed.tx_bytes))

        with tracing.span("chain.sign_and_broadcast", kind=kind):
            try:
                sent = await self.sequencer.send(messages, hook)
            except ChainError as e:
                result = submission_of(
                    e, e.signed, placement=kind == "stateful", cancel=kind == "cancel"
                )
            else:
                result = Submission(
                    Outcome.ACCEPTED, tx_hash=sent.tx_hash, signed_tx=sent.tx.tx_bytes
                )
        observe_answer(kind, start, result)
        return result

    async def place_stateful(
        self, order: Order, plan: OrderPlan, *, before_broadcast: BeforeBroadcast | None = None
    ) -> Submission:
        return await self._send([self._place_msg(order, plan)], before_broadcast=before_broadcast)

    async def replace_stateful(
        self, order: Order, *, before_broadcast: BeforeBroadcast | None = None
    ) -> Submission:
        plan = plan_of(order, self.latest_height())
        return await self._send([self._place_msg(order, plan)], before_broadcast=before_broadcast)

    async def sequence_consumed(self, signed_tx: bytes) -> bool:
        """Whether ``signed_tx`` can never be included because of what it was signed with: the
        account's committed sequence is past its sequence (cosmos-sdk
        x/auth/ante/sigverify.go IncrementSequenceDecorator), or the chain's latest block time
        is past its timestamp nonce's window (``sequencer.nonce_expired``) while the node that
        told that time holds it in no block."""
        sequence = txb.sequence_of(signed_tx)
        if sequence is None:
            return False
        if sequence >= TIMESTAMP_NONCE_MIN:
            block, committed = await self.node.latest_block_and_tx(txb.tx_hash_of(signed_tx))
            # In a block: not dead, whatever the time; tx_result says what became of it.
            return committed is None and nonce_expired(sequence, block.time)
        return (await self.node.account(self.address)).sequence > sequence

    async def indexer_height(self) -> tuple[int, datetime | None]:
        h = await self.indexer.height()
        return h.height, h.time

    async def cancel(self, order: Order, height: int) -> Submission:
        oid = self._order_id(order)
        if order.is_short_term:
            gtb = cancel_good_til_block(height, [order.good_til_block])
            msg = txb.cancel_order(oid, good_til_block=gtb)
        else:
            gtbt = order.good_til_block_time
            assert gtbt is not None
            # A stateful cancel needs GTBT >= the order's (clob/29).
            msg = txb.cancel_order(oid, good_til_block_time=int(gtbt.timestamp()))
        # A refusal that means the order is gone or a cancel is already there: done.
        return await self._send([msg], "cancel")

    async def batch_cancel_short_term(
        self, subaccount_number: int, client_ids: Mapping[int, Sequence[int]], good_til_block: int
    ) -> Submission:
        msg = txb.batch_cancel(
            self.address, subaccount_number, client_ids, good_til_block=good_til_block
        )
        return await self._send([msg], "batch_cancel")

    async def tx_result(self, tx_hash: str) -> Submission | None:
        """The committed result of a tx (GetTx); None while no block holds it."""
        try:
            r = await self.node.get_tx(tx_hash)
        except TxNotFound:
            return None
        if r.code == 0:
            return Submission(Outcome.ACCEPTED, tx_hash=tx_hash)
        return Submission(
            Outcome.REJECTED,
            tx_hash=tx_hash,
            error=RecordedError(r.codespace, r.code, r.raw_log),
        )
