"""What wraps every response: a request id (X-Request-ID) and the security headers.

The map pages are built by folium, which writes its Leaflet set-up as inline scripts. The
Content-Security-Policy allows exactly those scripts by their SHA-256 hash (computed from
the page being sent), and scripts from the service itself: nothing inline that the
service did not write, and nothing from elsewhere.
"""

import base64
import hashlib
import logging
import os
import random
import re
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.requests import Request

from geo_service.api import handlers
from geo_service.logs import reset_request_id, set_request_id
from geo_service.periods import one_day
from geo_service.settings import get_settings

log = logging.getLogger("geo_service.api")

REQUEST_ID = b"x-request-id"
# A caller's own id is kept when it is short and plain (it ends up in log lines).
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)


# Request ids: an id only tells log lines apart and needs no secrecy; uuid4's read of
# os.urandom cost a system call a request. Seeded anew in a forked child.
_IDS = random.Random()
os.register_at_fork(after_in_child=_IDS.seed)


def _new_id() -> str:
    """32 random hex digits, as uuid4().hex wrote them."""
    return f"{_IDS.getrandbits(128):032x}"


class RequestContext:
    """Gives each request an id (the caller's X-Request-ID when plain, else a new one),
    returns it in X-Request-ID, and turns any exception left into a 500 that names the id
    (the trace goes to the log, never to the client)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(REQUEST_ID, b"")
        request_id = given.decode() if _CLIENT_ID.fullmatch(given) else _new_id()
        token = set_request_id(request_id)

        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            # One today for the whole request: every page part agrees on it.
            with one_day():
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:  # too late for an error response: the connection just ends
                raise
            response = await handlers.unexpected(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            reset_request_id(token)


class SecurityHeaders:
    """Security headers on every response; a CSP naming the inline scripts of HTML pages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict = {}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                if _is_html(message):
                    held["start"] = message  # sent with the body, once its scripts are known
                    held["body"] = b""
                    return
                await send(_with_headers(message, scope["path"], None))
                return
            if "start" in held and message["type"] == "http.response.body":
                held["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                start = _with_headers(held.pop("start"), scope["path"], held["body"])
                await send(start)
                await send({"type": "http.response.body", "body": held["body"]})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_html(start: dict) -> bool:
    for name, value in start.get("headers", ()):
        if name == b"content-type":
            return value.startswith(b"text/html")
    return False


def _with_headers(start: dict, path: str, html: bytes | None) -> dict:
    if html is None:  # the same headers on every such response: worked out once
        added = _headers_without_scripts(get_settings().basemap_url)
    else:
        added = _security_headers(content_security_policy(path, html))
    return {**start, "headers": [*start.get("headers", ()), *added]}


@lru_cache(maxsize=8)
def _headers_without_scripts(basemap: str) -> tuple:
    # By the basemap setting, the one input of the policy besides an HTML page's scripts.
    return _security_headers(content_security_policy("", None))


def _security_headers(policy: str) -> tuple:
    return (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", policy.encode()),
    )


def script_hashes(html: bytes) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
        if body.strip()
    ]


def content_security_policy(path: str, html: bytes | None) -> str:
    scripts = ["'self'", *(script_hashes(html) if html else [])]
    styles = ["'self'", "'unsafe-inline'"]  # Leaflet and folium position things by style
    images = ["'self'", "data:", "blob:"]
    basemap = get_settings().basemap_url
    if basemap:
        parts = urlsplit(basemap.replace("{s}", "a"))
        # A basemap with subdomains ({s}.tile...) is allowed as a wildcard of its domain.
        host = parts.netloc
        if "{s}" in basemap.split("//", 1)[-1].split("/", 1)[0]:
            host = "*." + host.split(".", 1)[1]
        images.append(f"{parts.scheme}://{host}")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            f"style-src {' '.join(styles)}",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self' data:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
