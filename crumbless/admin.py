"""Admin operations, reachable two ways with one interface.

chdb lets one process hold a data directory, so while `crumbless serve` runs, the CLI
talks to it over HTTP on the admin Unix socket in the data directory (`RemoteAdmin`: the
socket is 0600 and the token in the 0600 file `server.json` is checked too); the admin API
is never on the public listener. When nothing runs, the CLI opens the storage itself
(`DirectAdmin`).
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import math
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client
from flask import Blueprint, Response, jsonify, request

from contract.errors import BadRequest, ConfigError, CrumblessError, StorageError
from contract.goals import define_goal
from contract.settings import Settings
from contract.sites import normalise_domain
from sinks.goals import GoalStore
from sinks.migrations import migrate
from sinks.registry import ApiKeys, SiteRegistry
from sinks.retention import RetentionStore
from sinks.users import UserStore

SERVER_FILE = "server.json"
SITE_OPTIONS = ("no_consent", "store_truncated_ip", "city_geo", "umami_website_id",
                "matomo_site_id", "matomo_currency", "timezone")
GOAL_OPTIONS = ("event", "page", "currency", "display_name")
log = logging.getLogger(__name__)


class Admin(Protocol):
    """What the admin CLI commands need."""

    def list_sites(self) -> list[dict[str, Any]]: ...
    def add_site(self, domain: str, **policy: Any) -> dict[str, Any]: ...
    def remove_site(self, domain: str) -> None: ...
    def create_key(self, site: str) -> str: ...
    def list_keys(self, site: str | None) -> list[dict[str, Any]]: ...
    def revoke_key(self, key_or_id: str) -> dict[str, Any]: ...
    def list_goals(self, site: str) -> list[dict[str, str]]: ...
    def add_goal(self, site: str, **goal: str | None) -> dict[str, str]: ...
    def remove_goal(self, site: str, name: str) -> None: ...
    def migrate(self) -> list[int]: ...
    def retention_show(self) -> dict[str, Any]: ...
    def retention_plan(self, site: str | None, tier: str, days: int) -> dict[str, Any]: ...
    def retention_apply(self, site: str | None, tier: str, days: int,
                        actor: str) -> dict[str, Any]: ...
    def retention_audit(self) -> list[dict[str, Any]]: ...
    def privacy_notice(self, site: str | None, fmt: str) -> str: ...
    def add_user(self, email: str, password_hash: str, is_admin: bool) -> str: ...
    def grant(self, email: str, site: str, role: str) -> None: ...
    def revoke(self, email: str, site: str) -> None: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def remove_user(self, email: str) -> None: ...


def _site_dict(site: Any) -> dict[str, Any]:
    return {"domain": site.domain, "no_consent": site.no_consent,
            "store_truncated_ip": site.store_truncated_ip, "city_geo": site.city_geo,
            "umami_website_id": site.umami_website_id, "matomo_site_id": site.matomo_site_id,
            "matomo_currency": site.matomo_currency, "timezone": site.timezone}


class DirectAdmin:
    """Admin operations on storage this process opened itself."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.sites = SiteRegistry(client)
        self.keys = ApiKeys(client, self.sites)
        self.retention = RetentionStore(client, settings, self.sites.domains)
        self.users = UserStore(client)
        self.goals = GoalStore(client)

    def _registered(self, site: str) -> str:
        """The normalised domain of a registered site; BadRequest naming it otherwise."""
        return self.sites.require(site, hint="; add it first")

    def list_goals(self, site: str) -> list[dict[str, str]]:
        """A registered site's configured goals (custom events are goals without a row)."""
        return [g.as_dict() for g in self.goals.goals_of(self._registered(site))]

    def add_goal(self, site: str, **goal: str | None) -> dict[str, str]:
        """Add or replace a goal: event=, page=, currency=, display_name= (contract.goals)."""
        return self.goals.add(self._registered(site), define_goal(**goal)).as_dict()

    def remove_goal(self, site: str, name: str) -> None:
        """Remove a goal by its name."""
        self.goals.remove(self._registered(site), name)

    def add_user(self, email: str, password_hash: str, is_admin: bool) -> str:
        """Create a dashboard user (or reset their password) from an argon2 hash."""
        return self.users.add_user(email, password_hash, is_admin=is_admin)

    def grant(self, email: str, site: str, role: str) -> None:
        """Give a user a role (owner, viewer) on a registered site."""
        self.users.grant(email, self._registered(site), role)

    def revoke(self, email: str, site: str) -> None:
        """Take a user's role on a site away."""
        self.users.revoke(email, site)

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with their admin flag and roles (never a hash)."""
        return [{"email": u.email, "admin": u.is_admin, "roles": u.roles}
                for u in self.users.list_users()]

    def remove_user(self, email: str) -> None:
        """Delete a user."""
        self.users.remove_user(email)

    def retention_show(self) -> dict[str, Any]:
        """Live TTLs, sizes and ages per table and site, and the effective policy."""
        return self.retention.show()

    def retention_plan(self, site: str | None, tier: str, days: int) -> dict[str, Any]:
        """What a change would expire (dry run)."""
        return self.retention.plan(normalise_domain(site) if site else None, tier, days)

    def retention_apply(self, site: str | None, tier: str, days: int,
                        actor: str) -> dict[str, Any]:
        """Apply a change to the policy and to stored rows, audited."""
        return self.retention.apply(normalise_domain(site) if site else None, tier, days,
                                    actor=actor, progress=lambda m: log.info("%s", m))

    def retention_audit(self) -> list[dict[str, Any]]:
        """The audit trail, newest first."""
        return self.retention.audit()

    def privacy_notice(self, site: str | None, fmt: str) -> str:
        """The analytics section of the privacy policy, from the live configuration."""
        from crumbless.notice import NoticeFacts, live_days, render_html, render_markdown

        sites = self.sites.list()
        if site is None and len(sites) != 1:
            raise BadRequest("--site is required: registered sites are "
                             + (", ".join(s.domain for s in sites) or "none"))
        chosen = next((s for s in sites if site is None or s.domain == normalise_domain(site)),
                      None)
        if chosen is None:
            raise BadRequest(f"site {site} is not registered")
        kafka_hours = None
        if self.settings.transport == "kafka":
            from contract.transports.kafka_topics import live_retention_ms

            kafka_hours = live_retention_ms(self.settings, self.settings.kafka_topic) // 3_600_000
        dsn = self.settings.dsn
        storage = ("our own server (an embedded ClickHouse database)" if dsn.startswith("chdb")
                   else f"our own ClickHouse server ({urlsplit(dsn).hostname})")
        facts = NoticeFacts(site=chosen, days=live_days(self.retention.show(), chosen.domain),
                            kafka_hours=kafka_hours,
                            salt_grace_hours=self.settings.salt_grace_hours,
                            k_anonymity=self.settings.k_anonymity,
                            geo=self._geo_level(chosen.city_geo), storage=storage)
        if fmt not in ("md", "html"):
            raise BadRequest("format must be md or html")
        return render_markdown(facts) if fmt == "md" else render_html(facts)

    def _geo_level(self, site_wants_city: bool) -> str:
        """What the collector looks up for a site, from the configured database's edition."""
        from collector.geo import has_cities
        from crumbless.notice import geo_level

        path = self.settings.geoip_db
        try:
            cities = bool(path) and has_cities(Path(path))
        except ValueError as exc:
            raise ConfigError(f"geoip_db: {exc}") from exc
        return geo_level(database=bool(path), database_has_cities=cities,
                         site_wants_city=site_wants_city)

    def list_sites(self) -> list[dict[str, Any]]:
        """Every registered site with its policy."""
        return [_site_dict(s) for s in self.sites.list()]

    def add_site(self, domain: str, **policy: Any) -> dict[str, Any]:
        """Register or update a site."""
        return _site_dict(self.sites.add(domain, **policy))

    def remove_site(self, domain: str) -> None:
        """Unregister a site and revoke its Stats API keys (re-adding it revives none)."""
        self.sites.remove(domain)
        self.keys.revoke_site(domain)

    def create_key(self, site: str) -> str:
        """A new Stats API key for `site`."""
        return self.keys.create(site)

    def list_keys(self, site: str | None) -> list[dict[str, Any]]:
        """Every Stats API key (of `site`): id, site, created, revoked; never the key."""
        return [k.as_dict() for k in self.keys.list_keys(site)]

    def revoke_key(self, key_or_id: str) -> dict[str, Any]:
        """Revoke one key, named by the key or its id; returns what was revoked."""
        return self.keys.revoke(key_or_id).as_dict()

    def migrate(self) -> list[int]:
        """Apply pending migrations."""
        return migrate(self.client, self.settings)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix stream socket (the admin listener)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        """Connect to the socket file instead of a TCP address."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def unix_request(path: str, method: str, target: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None,
                 timeout: float = 300) -> tuple[int, bytes]:
    """One HTTP request over the Unix socket at `path`: (status, body); OSError if unreachable."""
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class RemoteAdmin:
    """Admin operations sent to a running `crumbless serve` over its admin socket."""

    def __init__(self, socket_path: str, token: str) -> None:
        self.socket_path = socket_path
        self.token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, raw = unix_request(self.socket_path, method, path, data,
                                       {"Authorization": f"Bearer {self.token}",
                                        "Content-Type": "application/json"})
        except OSError as exc:
            raise StorageError(f"cannot reach the running server at {self.socket_path}: "
                               f"{exc}") from exc
        if status >= 400:
            try:
                reason = json.loads(raw).get("error", f"HTTP {status}")
            except (ValueError, AttributeError):
                reason = f"HTTP {status}"
            raise BadRequest(str(reason))
        return json.loads(raw or b"null")

    def list_sites(self) -> list[dict[str, Any]]:
        """Every registered site with its policy."""
        return list(self._call("GET", "/api/admin/sites"))

    def add_site(self, domain: str, **policy: Any) -> dict[str, Any]:
        """Register or update a site."""
        return dict(self._call("POST", "/api/admin/sites", {"domain": domain, **policy}))

    def remove_site(self, domain: str) -> None:
        """Unregister a site."""
        self._call("DELETE", f"/api/admin/sites/{domain}")

    def create_key(self, site: str) -> str:
        """A new Stats API key for `site`."""
        return str(self._call("POST", "/api/admin/keys", {"site": site})["key"])

    def list_keys(self, site: str | None) -> list[dict[str, Any]]:
        """Every Stats API key (of `site`), never the key itself."""
        query = urllib.parse.urlencode({"site": site} if site else {})
        return list(self._call("GET", f"/api/admin/keys?{query}"))

    def revoke_key(self, key_or_id: str) -> dict[str, Any]:
        """Revoke one key through the running server (the key travels in the body)."""
        return dict(self._call("POST", "/api/admin/keys/revoke", {"key": key_or_id}))

    def list_goals(self, site: str) -> list[dict[str, str]]:
        """A site's configured goals."""
        return list(self._call("GET", "/api/admin/goals?"
                               + urllib.parse.urlencode({"site": site})))

    def add_goal(self, site: str, **goal: str | None) -> dict[str, str]:
        """Add or replace a goal through the running server."""
        return dict(self._call("POST", "/api/admin/goals", {"site": site, **goal}))

    def remove_goal(self, site: str, name: str) -> None:
        """Remove a goal by its name."""
        self._call("POST", "/api/admin/goals/remove", {"site": site, "name": name})

    def migrate(self) -> list[int]:
        """Apply pending migrations."""
        return list(self._call("POST", "/api/admin/migrate", {})["applied"])

    def retention_show(self) -> dict[str, Any]:
        """Live TTLs, sizes and ages per table and site, and the effective policy."""
        return dict(self._call("GET", "/api/admin/retention"))

    def retention_plan(self, site: str | None, tier: str, days: int) -> dict[str, Any]:
        """What a change would expire (dry run)."""
        return dict(self._call("POST", "/api/admin/retention/plan",
                               {"site": site, "tier": tier, "days": days}))

    def retention_apply(self, site: str | None, tier: str, days: int,
                        actor: str) -> dict[str, Any]:
        """Apply a change through the running server."""
        return dict(self._call("POST", "/api/admin/retention/apply",
                               {"site": site, "tier": tier, "days": days, "actor": actor}))

    def retention_audit(self) -> list[dict[str, Any]]:
        """The audit trail, newest first."""
        return list(self._call("GET", "/api/admin/retention/audit"))

    def add_user(self, email: str, password_hash: str, is_admin: bool) -> str:
        """Create a dashboard user through the running server (the hash, never a password)."""
        return str(self._call("POST", "/api/admin/users", {
            "email": email, "password_hash": password_hash, "admin": is_admin})["email"])

    def grant(self, email: str, site: str, role: str) -> None:
        """Give a user a role on a site."""
        self._call("POST", "/api/admin/users/grant", {"email": email, "site": site,
                                                      "role": role})

    def revoke(self, email: str, site: str) -> None:
        """Take a user's role on a site away."""
        self._call("POST", "/api/admin/users/revoke", {"email": email, "site": site})

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with roles."""
        return list(self._call("GET", "/api/admin/users"))

    def remove_user(self, email: str) -> None:
        """Delete a user."""
        self._call("DELETE", f"/api/admin/users/{urllib.parse.quote(email)}")

    def drain(self, timeout: float) -> bool:
        """Wait until the server has written every event it accepted; False on timeout."""
        query = urllib.parse.urlencode({"timeout": timeout})
        return bool(self._call("POST", f"/api/admin/drain?{query}", {})["drained"])

    def privacy_notice(self, site: str | None, fmt: str) -> str:
        """The privacy notice, rendered by the running server."""
        query = urllib.parse.urlencode({k: v for k, v in (("site", site), ("format", fmt)) if v})
        return str(self._call("GET", f"/api/admin/privacy-notice?{query}")["notice"])


def write_server_file(data_dir: Path, admin_socket: Path, token: str) -> Path:
    """Tell admin commands where the running server's admin socket is (owner-only)."""
    path = data_dir / SERVER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"admin_socket": str(admin_socket), "token": token, "pid": os.getpid()}, fh)
    return path


def find_server(data_dir: Path) -> RemoteAdmin | None:
    """A RemoteAdmin for a live server on this data directory, or None."""
    path = data_dir / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        status, _ = unix_request(info["admin_socket"], "GET", "/api/health", timeout=5)
        return RemoteAdmin(info["admin_socket"], info["token"]) if status == 200 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


NO_CONSENT_CHOICES = ("drop", "anonymous", "full")
MAX_DRAIN_S = 600.0


def site_policy(raw: dict[str, Any]) -> dict[str, Any]:
    """The policy fields of an add-site body, type-checked; BadRequest names the field."""
    policy: dict[str, Any] = {}
    if raw.get("no_consent") is not None:
        if raw["no_consent"] not in NO_CONSENT_CHOICES:
            raise BadRequest(f"no_consent: expected one of {', '.join(NO_CONSENT_CHOICES)}")
        policy["no_consent"] = raw["no_consent"]
    for flag in ("store_truncated_ip", "city_geo"):
        if raw.get(flag) is not None:
            if not isinstance(raw[flag], bool):
                raise BadRequest(f"{flag}: expected true or false")
            policy[flag] = raw[flag]
    return policy


def drain_timeout(raw: str | None) -> float:
    """The drain endpoint's `timeout` query parameter in seconds (default 30, 0 to 600)."""
    if raw is None:
        return 30.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"timeout: expected seconds as a number, 0 to {MAX_DRAIN_S:.0f}") \
            from exc
    if not math.isfinite(value) or not 0 <= value <= MAX_DRAIN_S:
        raise BadRequest(f"timeout: expected seconds as a number, 0 to {MAX_DRAIN_S:.0f}")
    return value


def admin_blueprint(runtime: Any) -> Blueprint:
    """The /api/admin endpoints over a Runtime, authenticated by its admin token."""
    bp = Blueprint("admin", __name__, url_prefix="/api/admin")
    ops = DirectAdmin(runtime.client, runtime.settings)
    ops.sites = runtime.sites  # share the collector's cache so changes apply at once
    ops.keys = runtime.keys
    ops.retention = runtime.retention  # and the sink's policy cache

    @bp.before_request
    def authenticate() -> Response | None:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given, runtime.admin_token):
            response = jsonify(error="admin token required (see server.json in the data dir)")
            response.status_code = 401
            return response
        return None

    @bp.errorhandler(CrumblessError)
    def failed(exc: CrumblessError) -> Response:
        response = jsonify(error=str(exc))
        response.status_code = getattr(exc, "status", 503)
        return response

    def body() -> dict[str, Any]:
        raw = request.get_json(silent=True)
        if not isinstance(raw, dict):
            raise BadRequest("body must be a JSON object")
        return raw

    @bp.get("/sites")
    def list_sites() -> Response:
        return jsonify(ops.list_sites())

    @bp.post("/sites")
    def add_site() -> Response:
        raw = body()
        policy = {k: raw[k] for k in SITE_OPTIONS if k in raw and raw[k] is not None}
        policy.update(site_policy(raw))  # the typed fields, checked
        return jsonify(ops.add_site(str(raw.get("domain", "")), **policy))

    @bp.delete("/sites/<domain>")
    def remove_site(domain: str) -> Response:
        ops.remove_site(domain)
        return jsonify(removed=domain)

    @bp.post("/keys")
    def create_key() -> Response:
        return jsonify(key=ops.create_key(str(body().get("site", ""))))

    @bp.get("/keys")
    def list_keys() -> Response:
        return jsonify(ops.list_keys(request.args.get("site") or None))

    def text(raw: dict[str, Any], name: str) -> str:
        """A string field of a body ("" when absent); BadRequest naming it otherwise."""
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name}: expected a string")
        return value or ""

    @bp.post("/keys/revoke")
    def revoke_key() -> Response:
        return jsonify(ops.revoke_key(text(body(), "key")))

    @bp.get("/goals")
    def list_goals() -> Response:
        return jsonify(ops.list_goals(request.args.get("site", "")))

    @bp.post("/goals")
    def add_goal() -> Response:
        raw = body()
        goal = {k: text(raw, k) for k in GOAL_OPTIONS if raw.get(k) is not None}
        return jsonify(ops.add_goal(text(raw, "site"), **goal))

    @bp.post("/goals/remove")
    def remove_goal() -> Response:
        raw = body()
        name = text(raw, "name")
        ops.remove_goal(text(raw, "site"), name)
        return jsonify(removed=name)

    @bp.post("/migrate")
    def run_migrate() -> Response:
        return jsonify(applied=ops.migrate())

    def change() -> tuple[str | None, str, int]:
        raw = body()
        try:
            days = int(str(raw.get("days")))
        except ValueError as exc:
            raise BadRequest("days must be an integer") from exc
        site = raw.get("site") or None
        if site is not None and not isinstance(site, str):
            raise BadRequest("site: expected a domain as a string, or null for the default")
        return site, str(raw.get("tier", "")), days

    @bp.get("/retention")
    def retention_show() -> Response:
        return jsonify(ops.retention_show())

    @bp.post("/retention/plan")
    def retention_plan() -> Response:
        return jsonify(ops.retention_plan(*change()))

    @bp.post("/retention/apply")
    def retention_apply() -> Response:
        actor = str(body().get("actor") or "admin-api")
        return jsonify(ops.retention_apply(*change(), actor=actor))

    @bp.get("/retention/audit")
    def retention_audit() -> Response:
        return jsonify(ops.retention_audit())

    @bp.get("/privacy-notice")
    def privacy_notice() -> Response:
        return jsonify(notice=ops.privacy_notice(request.args.get("site"),
                                                 request.args.get("format", "md")))

    @bp.get("/users")
    def users_list() -> Response:
        return jsonify(ops.list_users())

    @bp.post("/users")
    def users_add() -> Response:
        raw = body()
        hashed = str(raw.get("password_hash", ""))
        if not hashed.startswith("$argon2"):
            raise BadRequest("password_hash: an argon2 hash made by `crumbless users add`")
        return jsonify(email=ops.add_user(str(raw.get("email", "")), hashed,
                                          bool(raw.get("admin"))))

    @bp.post("/users/grant")
    def users_grant() -> Response:
        raw = body()
        ops.grant(str(raw.get("email", "")), str(raw.get("site", "")),
                  str(raw.get("role", "viewer")))
        return jsonify(granted=True)

    @bp.post("/users/revoke")
    def users_revoke() -> Response:
        raw = body()
        ops.revoke(str(raw.get("email", "")), str(raw.get("site", "")))
        return jsonify(revoked=True)

    @bp.delete("/users/<email>")
    def users_remove(email: str) -> Response:
        ops.remove_user(email)
        return jsonify(removed=email)

    @bp.post("/drain")
    def drain() -> Response:
        done = runtime.processor.drain(timeout=drain_timeout(request.args.get("timeout")))
        return jsonify(drained=done, committed=runtime.processor.committed)

    return bp
