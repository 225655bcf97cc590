"""Security headers on every response (a pure ASGI middleware: no task or stream per request).

- ``Cache-Control: no-store``: responses carry API keys (created once, shown once), orders and
  positions; no browser, proxy or CDN may keep a copy.
- ``X-Content-Type-Options: nosniff``: a JSON body is never sniffed into something executable.
- ``Referrer-Policy: no-referrer`` and ``X-Frame-Options: DENY``: the API has no pages to embed.
- ``Strict-Transport-Security`` only when the request came over TLS (served with TLS, or a
  trusted proxy said ``X-Forwarded-Proto: https``, see ``DYDX_ROUTER_FORWARDED_ALLOW_IPS``):
  HSTS on plain HTTP is ignored by browsers and would only mislead.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age_s}".encode())
            if hsts_max_age_s > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_ALWAYS)
        if self.hsts is not None and scope.get("scheme") == "https":
            extra.append(self.hsts)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(n, v) for n, v in extra if n not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
