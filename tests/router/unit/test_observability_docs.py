"""The Grafana dashboard and the alert rules in docs/ only use series the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dydx_router.observability import metrics

DOCS = Path(__file__).resolve().parents[3] / "docs"
NAME = re.compile(r"\bdydx_router_[a-z0-9_]+")


class Pool:
    def get_size(self) -> int:
        return 1

    def get_idle_size(self) -> int:
        return 1

    def get_max_size(self) -> int:
        return 1


def exported() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if hasattr(value, "_name") and hasattr(value, "_type"):
            base = value._name
            kind = value._type
            names |= {base, f"{base}_total"} if kind == "counter" else {base}
            if kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    registry = CollectorRegistry()
    registry.register(
        metrics.ContainerCollector(
            Pool(),
            lambda: 0,
            {"node": lambda: [{"endpoint": "e"}]},
            workers=lambda: {"reconciler": True},
            stream_behind=lambda: 0.0,
            price_age=lambda: 1.0,
        )
    )
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        names |= {s.name for s in family.samples}
    return names


def test_alert_rules_use_exported_series() -> None:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    assert len(exprs) >= 10 and used
    assert used <= exported(), used - exported()


def test_dashboard_uses_exported_series() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {n for e in exprs for n in NAME.findall(e)}
    assert used <= exported(), used - exported()
    # Every series the service exports has a panel.
    families = {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in exported()}
    shown = {re.sub(r"_(bucket|count|sum|total)$", "", n) for n in used}
    assert families <= shown, families - shown
