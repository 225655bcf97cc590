"""docs/configuration.md and .env.example from ``config.Settings`` (names, types, defaults,
bounds and each field's docstring)."""

from __future__ import annotations

import enum
import textwrap
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from dydx_router.config import PRESETS, Settings

# A section starts at its first field and runs to the next one (the order of config.Settings).
SECTIONS = {
    "network": "Network and trading key",
    "database_url": "Database",
    "chain_id": "Endpoints",
    "host": "HTTP API and logs",
    "subaccount_number": "Orders",
    "broadcast_timeout_s": "Reliability (docs/reliability.md)",
    "ready_max_block_age_s": "Observability (docs/observability.md)",
    "rate_limit_read_per_s": "Security and pre-trade risk (docs/security.md)",
}
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def env_name(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{name}".upper()


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " | ".join(parts)
    if origin is list:
        return f"list of {type_name(typing.get_args(annotation)[0])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(str(m.value) for m in annotation)
    names = {
        SecretStr: "secret",
        Path: "path",
        Decimal: "decimal",
        bool: "bool",
        int: "int",
        float: "float",
        str: "text",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or value == []:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def bounds_text(field: FieldInfo) -> str:
    found: list[str] = []
    for meta in field.metadata:
        for attr, sign in _BOUNDS:
            if getattr(meta, attr, None) is not None:
                found.append(f"{sign} {getattr(meta, attr)}")
        if getattr(meta, "min_length", None) is not None:
            found.append(f"length ≥ {meta.min_length}")
        if getattr(meta, "max_length", None) is not None:
            found.append(f"length ≤ {meta.max_length}")
        if getattr(meta, "pattern", None) is not None:
            found.append(f"matches `{meta.pattern}`")
    return ", ".join(found)


def _description(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"Settings.{name} has no description: add a docstring under the field")
    return " ".join(field.description.split())


def _sections() -> list[tuple[str, list[tuple[str, FieldInfo]]]]:
    out: list[tuple[str, list[tuple[str, FieldInfo]]]] = []
    for name, field in Settings.model_fields.items():
        if name in SECTIONS or not out:
            out.append((SECTIONS.get(name, "General"), []))
        out[-1][1].append((name, field))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def configuration_md() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from dydx_router.config.Settings by scripts/gen_docs.py (`make docs`);",
        "     tests/router/unit/test_generated_docs.py fails when it drifts.",
        "     Do not edit by hand. -->",
        "",
        "Every setting is an environment variable. Names carry the prefix `DYDX_ROUTER_` except",
        "`DATABASE_URL`. Lists are comma-separated or a JSON array. Unset endpoints and chain id",
        "come from the network's preset (`DYDX_ROUTER_NETWORK`). A wrong value stops the process",
        "with one line naming the variable (never its value). `dydx-router doctor` checks a",
        "configuration against the database, the nodes and the indexers it names.",
        "",
        "The trading key comes from exactly one of `DYDX_ROUTER_MNEMONIC`,",
        "`DYDX_ROUTER_MNEMONIC_FILE`, `DYDX_ROUTER_PRIVATE_KEY_HEX`,",
        "`DYDX_ROUTER_PRIVATE_KEY_HEX_FILE`; prefer the `_FILE` forms (docs/security.md).",
        "",
        "## Network presets",
        "",
        "| Network | Chain id | Node endpoints | Indexer | Indexer websocket |",
        "|---|---|---|---|---|",
        *(
            f"| `{net.value}` | `{p.chain_id}` | {', '.join(p.node_endpoints)} | "
            f"{', '.join(p.indexer_urls)} | {', '.join(p.indexer_ws_urls)} |"
            for net, p in PRESETS.items()
        ),
        "",
    ]
    for title, fields in _sections():
        lines += [f"## {title}", "", "| Variable | Type | Default | Bounds | Meaning |"]
        lines.append("|---|---|---|---|---|")
        for name, field in fields:
            default = default_text(field)
            row = [
                f"`{env_name(name, field)}`",
                type_name(field.annotation),
                f"`{default}`" if default else "unset",
                bounds_text(field),
                _description(name, field),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    return "\n".join(lines)


def env_example() -> str:
    lines = [
        "# Every setting of dydx-router with its default (generated from config.Settings by",
        "# scripts/gen_docs.py: `make docs`; docs/configuration.md has types and bounds).",
        "# compose.yaml reads it as .env; elsewhere export the variables or use your process",
        "# manager's env file (the service itself reads no .env file).",
        "# Tests only: TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test",
    ]
    for title, fields in _sections():
        lines += ["", f"# --- {title} " + "-" * max(3, 90 - len(title))]
        for name, field in fields:
            wrapped = textwrap.wrap(_description(name, field), 96)
            lines += [f"# {w}" for w in wrapped]
            default = default_text(field)
            variable = env_name(name, field)
            secret = type_name(field.annotation).startswith(("secret", "path"))
            if default and not secret:
                lines.append(f"{variable}={default}")
            else:
                lines.append(f"# {variable}=")
    return "\n".join(lines) + "\n"
