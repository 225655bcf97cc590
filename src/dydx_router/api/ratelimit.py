"""The API's side of the inbound rate limits (``service/ratelimit.py``): a refusal's
``Retry-After``."""

from __future__ import annotations

import math


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds))) if math.isfinite(seconds) else "3600"
