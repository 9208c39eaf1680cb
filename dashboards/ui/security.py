"""Security headers, sign-in state and CSRF for the UI's pages: a small Flask shell.

Every UI response gets a CSP without 'unsafe-inline' (scripts only from this origin;
styles from this origin plus the per-response nonce of the chart's <style>), frame-
ancestors 'none', nosniff and a strict referrer policy. Cookies are Secure, HttpOnly,
SameSite=Lax (the session) or Strict (the pre-login CSRF cookie) and expire.
"""

from __future__ import annotations

import secrets

from flask import g, request
from werkzeug.wrappers import Response as BaseResponse

SESSION_COOKIE = "crumbless_session"
PRELOGIN_COOKIE = "crumbless_prelogin"
SHARE_COOKIE = "crumbless_share"


def nonce() -> str:
    """This response's CSP nonce (created on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def content_security_policy(style_nonce: str) -> str:
    return ("default-src 'none'; script-src 'self'; "
            f"style-src 'self' 'nonce-{style_nonce}'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")


def add_security_headers(response: BaseResponse) -> BaseResponse:
    """The headers every UI page carries (CSV and JSON answers included)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(nonce()))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "interest-cohort=()")
    if request.path.startswith("/share/") or request.path.startswith("/login"):
        headers["Cache-Control"] = "no-store"
    elif "Cache-Control" not in headers and response.mimetype != "text/css":
        headers["Cache-Control"] = "private, no-cache"
    return response


def set_cookie(response: BaseResponse, name: str, value: str, *, max_age: int,
               path: str = "/", same_site: str = "Lax") -> None:
    """A Secure, HttpOnly cookie that expires after `max_age` seconds."""
    response.set_cookie(name, value, max_age=max_age, path=path, secure=True, httponly=True,
                        samesite=same_site)
