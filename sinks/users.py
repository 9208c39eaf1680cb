"""Dashboard users, their per-site roles, browser sessions and shared links, in ClickHouse.

Every instance (embedded or `crumbless dashboard`) shares them. Rows are versioned
(ReplacingMergeTree(version)) and read with argMax, like `sites`. This module stores and
looks up; it never sees a password: callers pass argon2 hashes (dashboards.ui.passwords).
Tokens (sessions, shared links) are 256-bit random strings, stored as SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from contract.errors import BadRequest
from contract.sites import normalise_domain
from sinks.client import run

ROLES = ("owner", "viewer")
SESSION_CACHE_SECONDS = 30.0


def _version() -> int:
    return time.time_ns()


def token_hash(token: str) -> str:
    """The stored form of a session or shared-link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    """A login name: trimmed, lowercased, and shaped like an e-mail address."""
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    if not (local and at and "." in domain and len(cleaned) <= 254 and " " not in cleaned):
        raise BadRequest(f"email {email[:80]!r} is not an e-mail address")
    return cleaned


@dataclass(frozen=True, slots=True)
class User:
    """A dashboard user: admins see every site; others see the sites of their roles."""

    email: str
    password_hash: str
    is_admin: bool
    roles: dict[str, str]  # site → "owner" | "viewer"

    def role_for(self, site: str) -> str | None:
        """owner, viewer or None; an admin is owner of every site."""
        return "owner" if self.is_admin else self.roles.get(site)


@dataclass(frozen=True, slots=True)
class SharedLink:
    """A read-only link to one site's dashboard, optionally behind a password."""

    token_hash: str
    site: str
    password_hash: str  # "" when the link needs no password
    label: str
    created: dt.datetime
    created_by: str


class UserStore:
    """Users, roles, sessions and shared links over one ClickHouse client."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str | None, float]] = {}

    # -- users ----------------------------------------------------------------------
    def add_user(self, email: str, password_hash: str, *, is_admin: bool = False) -> str:
        """Create a user or replace their password and admin flag; returns the e-mail."""
        email = normalise_email(email)
        self.client.insert("users", [[email, password_hash, int(is_admin), 0,
                                      dt.datetime.now(dt.UTC), _version()]],
                           column_names=["email", "password_hash", "is_admin", "deleted",
                                         "created", "version"])
        return email

    def remove_user(self, email: str) -> None:
        """Delete a user; their sessions stop working at once on this instance."""
        email = normalise_email(email)
        if self.user(email) is None:
            raise BadRequest(f"user {email} does not exist")
        self.client.insert("users", [[email, "", 0, 1, dt.datetime.now(dt.UTC), _version()]],
                           column_names=["email", "password_hash", "is_admin", "deleted",
                                         "created", "version"])
        with self._lock:
            self._sessions.clear()

    def grant(self, email: str, site: str, role: str) -> None:
        """Give `email` a role on `site` (replacing any previous role there)."""
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        email, site = normalise_email(email), normalise_domain(site)
        if self.user(email) is None:
            raise BadRequest(f"user {email} does not exist; add it first")
        self.client.insert("site_roles", [[email, site, role, 0, _version()]],
                           column_names=["email", "site", "role", "deleted", "version"])

    def revoke(self, email: str, site: str) -> None:
        """Take away `email`'s role on `site`."""
        self.client.insert("site_roles", [[normalise_email(email), normalise_domain(site),
                                           "viewer", 1, _version()]],
                           column_names=["email", "site", "role", "deleted", "version"])

    def user(self, email: str) -> User | None:
        """The user with this e-mail and their roles, or None (deleted users are None)."""
        try:
            email = normalise_email(email)
        except BadRequest:
            return None
        rows = run(self.client, """SELECT argMax(password_hash, version),
            argMax(is_admin, version), argMax(deleted, version) FROM users
            WHERE email = {e:String} GROUP BY email""", {"e": email})
        if not rows or rows[0][2]:
            return None
        roles = run(self.client, """SELECT site, argMax(role, version), argMax(deleted, version)
            FROM site_roles WHERE email = {e:String} GROUP BY site""", {"e": email})
        return User(email, rows[0][0], bool(rows[0][1]),
                    {site: role for site, role, deleted in roles if not deleted})

    def list_users(self) -> list[User]:
        """Every user, with roles, by e-mail."""
        emails = run(self.client, """SELECT email FROM users GROUP BY email
            HAVING argMax(deleted, version) = 0 ORDER BY email""")
        return [u for (email,) in emails if (u := self.user(email)) is not None]

    # -- browser sessions -------------------------------------------------------------
    def open_session(self, email: str, lifetime: dt.timedelta) -> str:
        """A new session token for `email`, valid for `lifetime`; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + lifetime
        self.client.insert("ui_sessions", [[token_hash(token), email, expires, 0, _version()]],
                           column_names=["token_hash", "email", "expires", "revoked",
                                         "version"])
        return token

    def session_user(self, token: str) -> str | None:
        """The e-mail of a live session token, or None (unknown, expired or revoked)."""
        digest = token_hash(token)
        with self._lock:
            hit = self._sessions.get(digest)
        if hit is not None and time.monotonic() - hit[1] < SESSION_CACHE_SECONDS:
            return hit[0]
        rows = run(self.client, """SELECT argMax(email, version), argMax(revoked, version),
            argMax(expires, version) > now() FROM ui_sessions WHERE token_hash = {h:String}
            GROUP BY token_hash""", {"h": digest})
        email = rows[0][0] if rows and not rows[0][1] and rows[0][2] else None
        with self._lock:
            self._sessions[digest] = (email, time.monotonic())
        return email

    def close_session(self, token: str) -> None:
        """Revoke a session (logout): it stops working at once on this instance."""
        digest = token_hash(token)
        self.client.insert("ui_sessions", [[digest, "", dt.datetime.now(dt.UTC), 1, _version()]],
                           column_names=["token_hash", "email", "expires", "revoked",
                                         "version"])
        with self._lock:
            self._sessions[digest] = (None, time.monotonic())

    # -- shared links ------------------------------------------------------------------
    def create_link(self, site: str, *, password_hash: str, label: str, created_by: str) -> str:
        """A new read-only link token for one site; shown once, stored as a hash."""
        token = secrets.token_urlsafe(32)
        self.client.insert("shared_links", [[token_hash(token), normalise_domain(site),
                                             password_hash, label[:100],
                                             dt.datetime.now(dt.UTC), created_by, 0,
                                             _version()]],
                           column_names=["token_hash", "site", "password_hash", "label",
                                         "created", "created_by", "revoked", "version"])
        return token

    def links(self, site: str) -> list[SharedLink]:
        """The site's live (not revoked) links, newest first."""
        rows = run(self.client, """SELECT token_hash, argMax(site, version),
            argMax(password_hash, version), argMax(label, version), argMax(created, version),
            argMax(created_by, version), argMax(revoked, version) FROM shared_links
            GROUP BY token_hash""")
        found = [SharedLink(h, s, p, label, created, by)
                 for h, s, p, label, created, by, revoked in rows if s == site and not revoked]
        return sorted(found, key=lambda link: link.created, reverse=True)

    def link(self, token: str) -> SharedLink | None:
        """The live link a token opens, or None."""
        return self.link_by_hash(token_hash(token))

    def link_by_hash(self, digest: str) -> SharedLink | None:
        """The live link with this stored hash, or None."""
        rows = run(self.client, """SELECT argMax(site, version), argMax(password_hash, version),
            argMax(label, version), argMax(created, version), argMax(created_by, version),
            argMax(revoked, version) FROM shared_links WHERE token_hash = {h:String}
            GROUP BY token_hash""", {"h": digest})
        if not rows or rows[0][5]:
            return None
        site, password, label, created, by, _ = rows[0]
        return SharedLink(digest, site, password, label, created, by)

    def revoke_link(self, digest: str, *, site: str) -> None:
        """Revoke `site`'s link with this stored hash: it stops opening at once.

        Raises LookupError when no live link of `site` has this hash (another site's
        link included), so a caller that checked one site cannot revoke another's.
        """
        link = self.link_by_hash(digest)
        if link is None or link.site != normalise_domain(site):
            raise LookupError(f"no live shared link of {site} has this id")
        self.client.insert("shared_links", [[digest, link.site, link.password_hash, link.label,
                                             link.created, link.created_by, 1, _version()]],
                           column_names=["token_hash", "site", "password_hash", "label",
                                         "created", "created_by", "revoked", "version"])
