"""x/accountplus's `is_smart_account_active` param switched off (governance's MsgSetActiveState;
on the devnet the genesis option or the admin API): every place the chain reads it refuses.

Sources (v9.6.1): `protocol/x/accountplus/ante/ante.go` AuthenticatorDecorator (dydxaccountplus/4
first, in CheckTx and again in the block), `ante/circuit_breaker.go` (routes on the TxExtension
alone, so the tx is not signature-checked instead), `keeper/msg_server.go` AddAuthenticator /
RemoveAuthenticator (sdk/4 "smart account authentication flow is not active"),
`keeper/authenticators.go` MaybeValidateAuthenticators as `x/clob/memclob/memclob.go` uses it for
resting short-term makers (removed, REMOVAL_REASON_PERMISSIONED_KEY_EXPIRED).
"""

from __future__ import annotations

import pytest
from tests.devnet.unit.test_accountplus import Fixture, trading_config
from tests.devnet.unit.txkit import IOC, LONG_TERM, SELL, order, order_id
from typer.testing import CliRunner
from v4_proto.dydxprotocol.accountplus.tx_pb2 import MsgAddAuthenticator, MsgRemoveAuthenticator

from dydx_devnet import cli
from dydx_devnet.app import Devnet, DevnetConfig
from dydx_devnet.events import OrderRemoved, RemovalReason
from dydx_devnet.genesis import default_genesis
from dydx_devnet.host import DevnetConfig as HostConfig
from dydx_devnet.state import ChainState

NOT_ACTIVE = ("dydxaccountplus", 4, "Smart account is not active")
FLOW_NOT_ACTIVE = (
    "sdk",
    4,
    "failed to execute message; message index: 0: smart account authentication flow is not "
    "active: unauthorized",
)


@pytest.fixture
def fx() -> Fixture:
    f = Fixture()
    f.add("AllOf", trading_config(f.trader.public_key))
    return f


def _off(fx: Fixture) -> None:
    fx.chain.engine.set_smart_account_active(False)


def _committed(fx: Fixture, tx_hash: str) -> tuple[str, int, str]:
    c = fx.chain.engine.committed_txs[tx_hash]
    return (c.codespace, c.code, c.raw_log)


def test_the_genesis_default_is_active() -> None:
    assert default_genesis().smart_account_active is True
    assert HostConfig().smart_account_active is True
    st = ChainState(default_genesis(smart_account_active=False), 0)
    assert st.authenticators.smart_account_active is False
    assert st.authenticators.copy().smart_account_active is False


def test_check_tx_refuses_a_tx_selecting_authenticators(fx: Fixture) -> None:
    _off(fx)
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(0,))
    assert (r.codespace, r.code, r.raw_log) == NOT_ACTIVE
    # the flag is read before anything else of the decorator: an unknown id says the same
    r = fx.send_as(fx.trader, [fx.place(client_id=2)], authenticators=(7,))
    assert (r.codespace, r.code, r.raw_log) == NOT_ACTIVE


def test_without_the_extension_the_owner_still_trades(fx: Fixture) -> None:
    _off(fx)
    r = fx.send_as(fx.owner, [fx.place()])
    assert r.ok, r


def test_switched_on_again_the_trading_key_places(fx: Fixture) -> None:
    _off(fx)
    fx.chain.engine.set_smart_account_active(True)
    r = fx.send_as(fx.trader, [fx.place()], authenticators=(0,))
    assert r.ok, r


def test_the_block_refuses_a_tx_checked_while_active(fx: Fixture) -> None:
    """The ante runs again in the block: a stateful order accepted before the switch fails
    there with dydxaccountplus/4 and changes nothing."""
    oid = order_id(fx.owner, 9, flags=LONG_TERM)
    placed = fx.send_as(
        fx.trader, [order(oid, gtbt=fx.chain.gtbt(), subticks=2_000_000_000)], authenticators=(0,)
    )
    assert placed.ok, placed
    sequence = fx.chain.sequence(fx.owner)
    _off(fx)
    fx.chain.commit()
    assert _committed(fx, placed.tx_hash) == NOT_ACTIVE
    assert fx.chain.state.open_orders() == []
    assert fx.chain.sequence(fx.owner) == sequence


def test_add_authenticator_fails_in_the_block(fx: Fixture) -> None:
    _off(fx)
    msg = MsgAddAuthenticator(
        sender=fx.owner.address,
        authenticator_type="SignatureVerification",
        data=fx.trader.public_key,
    )
    r = fx.send_as(fx.owner, [msg])
    assert r.ok, r  # CheckTx runs no message
    fx.chain.commit()
    assert _committed(fx, r.tx_hash) == FLOW_NOT_ACTIVE
    assert [a.id for a in fx.chain.state.authenticators.of(fx.owner.address)] == [0]
    assert fx.chain.state.authenticators.next_id == 1


@pytest.mark.parametrize("auth_id", [0, 5], ids=["existing", "unknown"])
def test_remove_authenticator_fails_in_the_block(fx: Fixture, auth_id: int) -> None:
    """The msg server checks the flag before the keeper looks the id up."""
    _off(fx)
    r = fx.send_as(fx.owner, [MsgRemoveAuthenticator(sender=fx.owner.address, id=auth_id)])
    assert r.ok, r
    fx.chain.commit()
    assert _committed(fx, r.tx_hash) == FLOW_NOT_ACTIVE
    assert [a.id for a in fx.chain.state.authenticators.of(fx.owner.address)] == [0]


def test_a_resting_permissioned_maker_is_removed_not_filled(fx: Fixture) -> None:
    maker = fx.place()
    assert fx.send_as(fx.trader, [maker], authenticators=(0,)).ok
    _off(fx)
    taker = fx.chain.funded(3)
    sub = fx.chain.bus.subscribe()
    r = fx.chain.send(
        taker,
        order(order_id(taker, 1), side=SELL, subticks=maker.order.subticks, gtb=fx.chain.gtb(),
              tif=IOC),
    )  # fmt: skip
    assert r.ok, r
    owner = fx.chain.state.subaccount(fx.owner.address, 0)
    assert owner is not None and owner.position(0) is None
    assert fx.chain.state.open_orders() == []
    removed = [e for b in sub.drain() for e in b.events if isinstance(e, OrderRemoved)]
    expired = [e.order_id for e in removed if e.reason == RemovalReason.EXPIRED]
    assert [(o.subaccount_id.owner, o.client_id) for o in expired] == [(fx.owner.address, 1)]


def test_the_devnet_config_sets_the_genesis_param() -> None:
    d = Devnet(DevnetConfig(smart_account_active=False, market_makers=False))
    assert d.state.authenticators.smart_account_active is False
    assert all(v.state.authenticators.smart_account_active is False for v in d.engine.validators)


def test_the_cli_option(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[DevnetConfig] = []

    async def fake_run(config: DevnetConfig, *, with_indexer: bool) -> None:
        seen.append(config)

    monkeypatch.setattr(cli, "_run", fake_run)
    runner = CliRunner()
    for args, expected in (([], True), (["--no-smart-account-active"], False)):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, result.output
        assert seen.pop().smart_account_active is expected
