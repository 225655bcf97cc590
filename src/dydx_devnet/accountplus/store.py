"""The authenticators of every account, the next id and the module's params: the module's KV
store (`keeper/authenticators.go`; keys `SA/A/<account>/<id>/`, `SA/ID/` in `types/keys.go`;
`Params{is_smart_account_active}` under `ParamsKeyPrefix`, `keeper/params.go`).

Ids are global (one counter for every account), start at 0 and are never reused. A store is
copied with the rest of the chain state (`ChainState.load_from`); its records are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AccountAuthenticator:
    """`models.proto` AccountAuthenticator."""

    id: int
    type: str
    config: bytes


class AuthenticatorStore:
    __slots__ = ("by_account", "next_id", "smart_account_active")

    def __init__(self, *, smart_account_active: bool = True) -> None:
        self.by_account: dict[str, dict[int, AccountAuthenticator]] = {}
        self.next_id = 0
        # Params.is_smart_account_active (`keeper/params.go` GetIsSmartAccountActive): the
        # genesis default is true (`types/genesis.go` DefaultGenesis, `testing/genesis.sh`);
        # governance flips it with MsgSetActiveState (`keeper/msg_server.go` SetActiveState)
        self.smart_account_active = smart_account_active

    def copy(self) -> AuthenticatorStore:
        out = AuthenticatorStore(smart_account_active=self.smart_account_active)
        out.by_account = {a: dict(d) for a, d in self.by_account.items()}
        out.next_id = self.next_id
        return out

    def get(self, account: str, authenticator_id: int) -> AccountAuthenticator | None:
        return self.by_account.get(account, {}).get(authenticator_id)

    def of(self, account: str) -> list[AccountAuthenticator]:
        """In the store's key order: the id as a decimal string (`BuildKey` then a prefix
        iterator), so 10 comes before 2, as `GetAuthenticators` answers."""
        return sorted(self.by_account.get(account, {}).values(), key=lambda a: str(a.id))

    def put(self, account: str, a: AccountAuthenticator) -> None:
        self.by_account.setdefault(account, {})[a.id] = a

    def delete(self, account: str, authenticator_id: int) -> None:
        d = self.by_account.get(account)
        if d is not None:
            d.pop(authenticator_id, None)
            if not d:
                del self.by_account[account]
