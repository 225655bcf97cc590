"""Applying one match: fees, subaccount updates and their collateral checks, fill amounts
(`protocol/x/clob/keeper/process_single_match.go`). Mixed into `dydx_devnet.memclob.Memclob`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from dydx_devnet.book import RestingOrder
from dydx_devnet.events import EventSink, Fill, FillSide, OrderUpdated, SubaccountUpdated
from dydx_devnet.genesis import SHORT_BLOCK_WINDOW
from dydx_devnet.model import Liquidity, Market, MarketPrice, Order, OrderId, Side
from dydx_devnet.risk import is_valid_transition, risk_of
from dydx_devnet.state import ChainState, SubaccountRecord

STATEFUL_PRUNE_HEIGHT = 2**32  # stateful fill amounts are never pruned by height


class FillsMixin:
    state: ChainState
    sink: EventSink
    fills: dict[OrderId, list[int]]
    matched: dict[OrderId, Order]
    next_fill_id: int
    taker_fee_ppm: int
    maker_fee_ppm: int

    def _fill(
        self, maker: RestingOrder, taker: Order, market: Market, amount: int, tx_hash: str
    ) -> str:
        """Apply one match; returns "ok", or which side failed its collateral check."""
        mo = maker.order
        subticks = mo.subticks
        quote = market.quote_quantums(amount, subticks)
        taker_fee = -((-quote * self.taker_fee_ppm) // 1_000_000)
        maker_fee = -((-quote * self.maker_fee_ppm) // 1_000_000)
        pid = market.perpetual.id
        records = self.state.subaccount_records
        t_sid, m_sid = taker.order_id.subaccount_id, mo.order_id.subaccount_id
        # A subaccount that never held anything exists only once a fill is applied to it.
        t_rec = records.get(t_sid) or SubaccountRecord(t_sid)
        m_rec = records.get(m_sid) or SubaccountRecord(m_sid)
        t_sign = 1 if taker.side == Side.BUY else -1
        t_usdc = t_rec.usdc - t_sign * quote - taker_fee
        m_usdc = m_rec.usdc + t_sign * quote - maker_fee
        t_pos_before = t_rec.position(pid)
        m_pos_before = m_rec.position(pid)
        t_pos = t_pos_before + t_sign * amount
        m_pos = m_pos_before - t_sign * amount
        markets = self.state.markets_by_perpetual()
        prices = self.state.prices
        m_ok = _update_allowed(m_rec, m_usdc, pid, m_pos, markets, prices)
        if not m_ok:
            return "maker"
        t_ok = _update_allowed(t_rec, t_usdc, pid, t_pos, markets, prices)
        if not t_ok:
            return "taker"
        records.setdefault(t_sid, t_rec)
        records.setdefault(m_sid, m_rec)
        t_rec.usdc = t_usdc
        m_rec.usdc = m_usdc
        _set_position(t_rec, pid, t_pos, self.state.funding_index(pid))
        _set_position(m_rec, pid, m_pos, self.state.funding_index(pid))
        maker.filled += amount
        m_total = self._add_fill(mo, amount)
        t_total = self._add_fill(taker, amount)
        self.matched[mo.order_id] = mo
        self.matched[taker.order_id] = taker
        fill_id = self.next_fill_id
        self.next_fill_id += 1
        self.sink.onchain(
            partial(
                Fill,
                clob_pair_id=market.clob_pair_id,
                perpetual_id=pid,
                maker=FillSide(
                    mo.order_id.subaccount_id,
                    mo,
                    mo.side,
                    Liquidity.MAKER,
                    maker_fee,
                    self.maker_fee_ppm,
                    m_total,
                    m_pos_before,
                ),
                taker=FillSide(
                    taker.order_id.subaccount_id,
                    taker,
                    taker.side,
                    Liquidity.TAKER,
                    taker_fee,
                    self.taker_fee_ppm,
                    t_total,
                    t_pos_before,
                ),
                quantums=amount,
                subticks=subticks,
                quote_quantums=quote,
                tx_hash=tx_hash,
                fill_id=fill_id,
            )
        )
        self.sink.onchain(partial(SubaccountUpdated, subaccount=t_rec.snapshot()))
        self.sink.onchain(partial(SubaccountUpdated, subaccount=m_rec.snapshot()))
        self.sink.offchain(
            partial(OrderUpdated, order_id=mo.order_id, total_filled_quantums=m_total)
        )
        self.sink.offchain(
            partial(OrderUpdated, order_id=taker.order_id, total_filled_quantums=t_total)
        )
        return "ok"

    def _add_fill(self, order: Order, amount: int) -> int:
        prune = (
            order.good_til_block + SHORT_BLOCK_WINDOW
            if order.order_id.is_short_term
            else STATEFUL_PRUNE_HEIGHT
        )
        f = self.fills.get(order.order_id)
        if f is None:
            self.fills[order.order_id] = [amount, prune]
            return amount
        f[0] += amount
        f[1] = max(f[1], prune)
        return f[0]


def _positions(
    rec: SubaccountRecord, override_pid: int | None = None, override_q: int = 0
) -> list[tuple[int, int]]:
    out = [(pid, p[0]) for pid, p in rec.positions.items() if pid != override_pid]
    if override_pid is not None:
        out.append((override_pid, override_q))
    return out


def _update_allowed(
    rec: SubaccountRecord,
    usdc: int,
    pid: int,
    quantums: int,
    markets: Mapping[int, Market],
    prices: Mapping[int, MarketPrice],
) -> bool:
    """The collateral check of one subaccount update (the old state is only needed when the
    new one is below its initial margin)."""
    new = risk_of(usdc, _positions(rec, pid, quantums), markets, prices)
    if new.is_initial_collateralized:
        return True
    return is_valid_transition(risk_of(rec.usdc, _positions(rec), markets, prices), new)


def _set_position(rec: SubaccountRecord, pid: int, quantums: int, funding_index: int) -> None:
    if quantums == 0:
        rec.positions.pop(pid, None)
    else:
        p = rec.positions.get(pid)
        if p is None:
            rec.positions[pid] = [quantums, funding_index]
        else:
            p[0] = quantums
