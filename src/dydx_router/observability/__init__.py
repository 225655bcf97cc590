"""Logs (structlog), metrics (Prometheus), traces (OpenTelemetry) and the redaction of secrets
that all three share. Every layer may use them; they use nothing of the router's but each other
and its domain types (docs/observability.md)."""
