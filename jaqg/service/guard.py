"""What keeps the service closed and bounded, before any endpoint runs: the API key, the body size limit and
the browser's security headers (an ASGI middleware), and the refusal to listen beyond loopback without a key.

- Key: when one is set, every ``/v1/`` request needs ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` (401
  otherwise); ``/``, ``/static/``, ``/health`` and the OpenAPI schema stay open (they hold no user data).
- Size: a body over ``max_body_bytes`` is refused with 413 (from its Content-Length at once, or as it streams).
- Headers: a Content-Security-Policy that lets the page run only its own script (no inline script, no other
  origin), ``nosniff``, no referrer, no framing.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass

from ..core.errors import UserError

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]
OPEN_PREFIXES = ("/v1/",)  # what the key guards


@dataclass
class Limits:
    max_body_bytes: int = 1_000_000  # a request body (JSON or an uploaded file)
    max_text_chars: int = 100_000  # text of one request's documents


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """UserError unless the address is loopback or a key guards the API."""
    if not is_loopback(host) and not api_key:
        raise UserError(f"`host` {host} is reachable from other machines; set `api_key` (or the JAQG_API_KEY "
                        "environment variable) so the API needs a key, or listen on 127.0.0.1")
    if api_key is not None and len(api_key) < 16:
        raise UserError("`api_key` is too short; use 16 or more characters (e.g. python -c 'import secrets; "
                        "print(secrets.token_urlsafe(24))')")


def request_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1")
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode("latin-1").strip()
    return None


class Guard:
    """ASGI middleware: key check, body limit, security headers."""

    def __init__(self, app, limits: Limits, api_key: str | None = None):
        self.app, self.limits, self.api_key = app, limits, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {name.lower() for name, _ in message.get("headers", [])}
                message = dict(message, headers=[*message.get("headers", []),
                                                 *(h for h in HEADERS if h[0] not in have)])
            await send(message)

        headers = scope.get("headers", [])
        if self.api_key and scope["path"].startswith(OPEN_PREFIXES):
            given = request_key(headers)
            if given is None or not secrets.compare_digest(given.encode(), self.api_key.encode()):
                return await reply(send_with_headers, 401, "a valid API key is needed: send X-API-Key: KEY or "
                                   "Authorization: Bearer KEY", [(b"www-authenticate", b"Bearer")])
        limit = self.limits.max_body_bytes
        length = next((v for k, v in headers if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await reply(send_with_headers, 413, f"the request body is over the limit of {limit} bytes")
        if scope["method"] in ("POST", "PUT", "PATCH"):  # read it here, within the limit, then hand it on
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > limit:
                    return await reply(send_with_headers, 413, f"the request body is over the limit of {limit} "
                                                               "bytes")
                if not message.get("more_body"):
                    break
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": bytes(body), "more_body": False}
                return await receive()  # after the body: wait for the disconnect

            return await self.app(scope, replay, send_with_headers)
        return await self.app(scope, receive, send_with_headers)


async def reply(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
