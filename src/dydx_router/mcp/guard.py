"""Guard rails of the MCP tools, enforced here rather than left to the model's good will.

- Preview tokens: ``place_order`` and ``close_position`` run only with the token that
  ``preview_order`` returned for the very same parameters, by the same API key, within
  ``preview_ttl_s``. A token is an HMAC-signed, self-describing record of what was previewed, so a
  refusal can say which parameter differs, and no state is kept between calls.
- Secrets: an argument that looks like a mnemonic, a private key or an API key is refused before
  anything is sent or logged (the log redactor's own detectors, plus raw 32-byte hex keys).
- Refusals are plain sentences with the stable ``code`` and what to change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dydx_router.observability.redact import REDACTOR


class McpSettings(BaseSettings):
    """``DYDX_ROUTER_MCP_*``: the MCP server's guard-rail settings."""

    model_config = SettingsConfigDict(env_prefix="DYDX_ROUTER_MCP_", extra="ignore")

    preview_ttl_s: float = 30.0
    # Signs preview tokens. Random per process unless set: replicas behind one load balancer
    # must share it, or a preview made on one is refused by another (`preview_invalid`).
    preview_secret: SecretStr | None = None
    max_reason_chars: int = 200


class Refusal(ToolError):
    """A refusal for the model: plain words, a stable code and what to change (a ToolError: the
    SDK answers it as the tool's result with ``isError``, its text unchanged)."""

    def __init__(self, code: str, message: str, fix: str = "") -> None:
        self.code = code
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        fix = f" To proceed: {self.fix}" if self.fix else ""
        return f"Refused ({self.code}): {self.message}.{fix}"


# --- secrets ------------------------------------------------------------------------------------
# A raw secp256k1 private key as it is usually pasted: 64 hex digits, optionally 0x-prefixed.
_HEX_KEY = re.compile(r"(?<![0-9A-Za-z])(0x)?[0-9a-fA-F]{64}(?![0-9A-Za-z])")


def looks_secret(value: str) -> bool:
    return REDACTOR.text(value) != value or _HEX_KEY.search(value) is not None


def refuse_secrets(arguments: Mapping[str, Any]) -> None:
    """Refuse any string argument that looks like a secret; the refusal never repeats it."""
    for name, value in arguments.items():
        if isinstance(value, str) and looks_secret(value):
            raise Refusal(
                "secret_in_arguments",
                f"the argument `{name}` looks like a secret (a mnemonic, a private key or an API "
                "key); it was not used, stored or logged",
                "never pass keys or mnemonics to this server: the router signs with its own key. "
                "Remove the secret from the argument and call again",
            )


def one_line_reason(reason: str, max_chars: int) -> str:
    text = reason.strip()
    if not text or "\n" in text or "\r" in text or len(text) > max_chars:
        raise Refusal(
            "invalid_reason",
            f"`reason` must be one non-empty line of at most {max_chars} characters",
            "give a one-line reason for this order (why, in plain words)",
        )
    return text


# --- preview tokens -----------------------------------------------------------------------------
def canonical(value: Any) -> Any:
    """A parameter as it is compared: decimals by value (0.10 == 0.1), enums by name."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "value"):
        return value.value
    return value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class PreviewTokens:
    def __init__(self, settings: McpSettings) -> None:
        self.ttl_s = settings.preview_ttl_s
        secret = settings.preview_secret
        self._secret = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._secret, payload, hashlib.sha256).digest())

    def issue(
        self, intent: str, params: Mapping[str, Any], api_key: str, now: float | None = None
    ) -> tuple[str, float]:
        expires = (time.time() if now is None else now) + self.ttl_s
        record = {
            "i": intent,
            "k": key_fingerprint(api_key),
            "p": {k: canonical(v) for k, v in sorted(params.items())},
            "e": round(expires, 3),
        }
        payload = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(payload)}", expires

    def check(
        self,
        token: str,
        intent: str,
        params: Mapping[str, Any],
        api_key: str,
        now: float | None = None,
    ) -> None:
        """Raise a :class:`Refusal` unless ``token`` previewed exactly ``params`` for this key."""
        again = "call preview_order with the parameters you want, then this tool with its token"
        try:
            body, signature = token.split(".", 1)
            payload = _unb64(body)
            valid = hmac.compare_digest(self._sign(payload), signature)
            record = json.loads(payload) if valid else None
        except (ValueError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            raise Refusal(
                "preview_invalid", "the preview_token is not one this server issued", again
            )
        if record.get("k") != key_fingerprint(api_key):
            raise Refusal(
                "preview_invalid", "the preview_token was issued to another API key", again
            )
        if record.get("i") != intent:
            raise Refusal(
                "preview_mismatch",
                f"the preview_token previewed a {record.get('i')} action, not a {intent}",
                again,
            )
        if (time.time() if now is None else now) > float(record.get("e", 0)):
            raise Refusal(
                "preview_expired",
                f"the preview_token expired (previews are valid {self.ttl_s:g} s)",
                "preview again: prices and the account may have changed since",
            )
        previewed: dict[str, Any] = record.get("p", {})
        given = {k: canonical(v) for k, v in params.items()}
        differences = [
            f"{name}: previewed {previewed.get(name)!r}, now {given.get(name)!r}"
            for name in sorted(set(previewed) | set(given))
            if previewed.get(name) != given.get(name)
        ]
        if differences:
            raise Refusal(
                "preview_mismatch",
                "the parameters differ from the preview (" + "; ".join(differences) + ")",
                "send exactly the previewed parameters, or preview the new ones first",
            )
