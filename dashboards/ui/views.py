"""The UI's routes: sign-in, site picker, dashboard, CSV, realtime, shared links.

A thin shell: state comes from the URL (dashboards.ui.panels), numbers from the Stats
API's query layer (dashboards.ui.data), access from sinks.users. Every route that shows a
site checks the signed-in user's role on it, or the shared link's one site. Retention
admin pages live in dashboards.ui.admin_views.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from contract.errors import BadQuery, BadRequest, StorageError
from contract.sites import Site
from dashboards.query import EVENT_DIMENSIONS, VISIT_DIMENSIONS
from dashboards.stats import StatsService
from dashboards.ui import auth
from dashboards.ui.chart import series_svg
from dashboards.ui.data import PanelRows, load_dashboard, panel_rows, realtime, visible_panels
from dashboards.ui.panels import (
    COMPARISONS,
    LOWER_IS_BETTER,
    METRIC_LABELS,
    PANEL_BY_KEY,
    PERIODS,
    DashboardState,
    Filter,
    format_metric,
    parse_state,
)
from dashboards.ui.security import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    SHARE_COOKIE,
    add_security_headers,
    nonce,
    set_cookie,
)
from sinks.registry import SiteRegistry
from sinks.users import SharedLink, User, UserStore

log = logging.getLogger(__name__)
SESSION_LIFETIME = dt.timedelta(hours=12)
FILTERABLE = EVENT_DIMENSIONS + VISIT_DIMENSIONS


@dataclass(frozen=True, slots=True)
class UiContext:
    """What the UI needs from the process it runs in."""

    stats: StatsService
    users: UserStore
    sites: SiteRegistry
    clock: Callable[[], dt.datetime]
    script_url: str = "/js/script.js"  # the tracker's address, for the empty state


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: a signed-in user, or a shared link (read-only, one site)."""

    user: User | None
    link: SharedLink | None = None

    def may_view(self, site: str) -> bool:
        if self.link is not None:
            return hmac.compare_digest(self.link.site.encode(), site.encode())
        return self.user is not None and self.user.role_for(site) is not None

    def is_owner(self, site: str) -> bool:
        return self.link is None and self.user is not None and \
            self.user.role_for(site) == "owner"


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:  # no value (e.g. revenue without a goal currency): an empty cell
        return ""
    if isinstance(value, dict):  # revenue: its amount, the currency in its own cell is lost
        amount = value.get("value")
        value = "" if amount is None else f"{amount} {value.get('currency', '')}".strip()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def install_identity(bp: Blueprint, users: UserStore) -> None:
    """Who is signed in, the CSRF token of forms, security headers and HTML errors."""
    @bp.before_request
    def identify() -> None:
        if request.endpoint == "ui.static":
            return
        token = request.cookies.get(SESSION_COOKIE)
        email = users.session_user(token) if token else None
        g.user = users.user(email) if email else None
        # Forms of signed-in users are bound to the session; others (sign-in, a shared
        # link's password) to a pre-login cookie set on first sight.
        g.csrf_cookie = token if g.user else request.cookies.get(PRELOGIN_COOKIE)
        g.new_prelogin = None
        if g.csrf_cookie is None:
            g.new_prelogin = secrets.token_urlsafe(32)
        g.csrf = auth.csrf_token(g.csrf_cookie or g.new_prelogin)

    @bp.after_request
    def finish(response: BaseResponse) -> BaseResponse:
        if g.get("new_prelogin"):
            set_cookie(response, PRELOGIN_COOKIE, g.new_prelogin, max_age=3600,
                       same_site="Strict")
        return add_security_headers(response)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> BaseResponse:
        if 300 <= (exc.code or 0) < 400 or exc.response is not None:
            return exc.get_response()
        response = make_response(render_template("error.html", code=exc.code,
                                                 message=exc.description,
                                                 user=g.get("user")), exc.code or 500)
        return response


def ui_blueprint(ctx: UiContext) -> Blueprint:
    """The UI's Blueprint; register it on an app that also serves the Stats API."""
    bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/ui/static")
    throttle = auth.LoginThrottle()

    install_identity(bp, ctx.users)

    @bp.app_context_processor
    def helpers() -> dict[str, Any]:
        return {"csp_nonce": nonce, "fmt": format_metric, "METRIC_LABELS": METRIC_LABELS,
                "csrf": lambda: g.get("csrf", "")}

    @bp.errorhandler(StorageError)
    def storage_down(exc: StorageError) -> tuple[str, int]:
        log.warning("dashboard query failed: %s", exc)
        return render_template("error.html", code=503, user=g.get("user"),
                               message="Storage is unavailable; try again shortly."), 503

    # -- identity -----------------------------------------------------------------------
    def require_user() -> User:
        if g.get("user") is None:
            abort(redirect(url_for("ui.login", next=request.full_path.rstrip("?"))))
        user: User = g.user
        return user

    def check_csrf() -> None:
        if not auth.csrf_ok(g.get("csrf_cookie"), request.form.get("csrf")):
            abort(400, "The form expired or came from another site; reload and try again.")

    def site_or_404(domain: str) -> Site:
        site = ctx.sites.get(domain.lower())
        if site is None:
            ctx.sites.refresh()
            site = ctx.sites.get(domain.lower())
        if site is None:
            abort(404, "No such site.")
        return site

    def viewable(domain: str) -> tuple[Site, Viewer]:
        user = require_user()
        viewer = Viewer(user)
        # The same answer for an unknown site and a forbidden one: no probing of sites.
        if not viewer.may_view(domain.lower()):
            abort(403, "You have no access to this site.")
        return site_or_404(domain), viewer

    # -- sign-in ------------------------------------------------------------------------
    @bp.get("/")
    def index() -> BaseResponse:
        return redirect(url_for("ui.sites") if g.get("user") else url_for("ui.login"))

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int]:
        target = request.values.get("next", "")
        if not target.startswith("/") or target.startswith("//"):
            target = url_for("ui.sites")
        error, status = "", 200
        if request.method == "POST":
            check_csrf()
            email = request.form.get("email", "").strip().lower()[:254]
            network = request.remote_addr or ""
            wait = throttle.wait_seconds(account=email, network=network)
            user = ctx.users.user(email) if email else None
            if wait > 0:
                seconds = int(wait) + 1
                error, status = (f"Too many failed sign-ins. Try again in {seconds} "
                                 f"second{'' if seconds == 1 else 's'}."), 429
            elif auth.verify_password(user.password_hash if user else None,
                                      request.form.get("password", "")):
                throttle.succeeded(account=email)
                token = ctx.users.open_session(email, SESSION_LIFETIME)
                response = redirect(target)
                set_cookie(response, SESSION_COOKIE, token,
                           max_age=int(SESSION_LIFETIME.total_seconds()))
                response.delete_cookie(PRELOGIN_COOKIE)
                return response
            else:
                throttle.failed(account=email, network=network)
                error, status = "Wrong e-mail or password.", 401
        return make_response(render_template("login.html", error=error, next=target,
                                             user=None), status)

    @bp.post("/logout")
    def logout() -> BaseResponse:
        check_csrf()
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            ctx.users.close_session(token)
        response = redirect(url_for("ui.login"))
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- sites and dashboards -------------------------------------------------------------
    @bp.get("/sites")
    def sites() -> str:
        user = require_user()
        shown = [s for s in ctx.sites.list() if user.role_for(s.domain) is not None]
        return render_template("sites.html", sites=shown, user=user)

    def state_for(site: Site) -> DashboardState:
        return parse_state(request.args, today=ctx.stats.today(),
                           allowed_dimensions=FILTERABLE)

    def render_dashboard(site: Site, viewer: Viewer, base: str) -> str:
        state = state_for(site)
        board = load_dashboard(ctx.stats, site.domain, state, city_geo=site.city_geo)
        chart = "" if board.series_hidden else series_svg(
            board.labels, board.series, board.comparison, hourly=state.hourly, nonce=nonce(),
            title=f"Visitors per {'hour' if state.hourly else 'day'}")
        return render_template(
            "dashboard.html", site=site, state=state, board=board, chart=chart, base=base,
            viewer=viewer, user=viewer.user, periods=PERIODS, comparisons=COMPARISONS,
            lower_is_better=LOWER_IS_BETTER, k=ctx.stats.k, Filter=Filter,
            script_url=request.host_url.rstrip("/") + ctx.script_url,
            shared=viewer.link is not None)

    @bp.get("/sites/<domain>")
    def dashboard(domain: str) -> str:
        site, viewer = viewable(domain)
        return render_dashboard(site, viewer, url_for("ui.dashboard", domain=site.domain))

    def export(site: Site) -> BaseResponse:
        state = state_for(site)
        wanted = request.args.get("panel", "all")
        panels = visible_panels(ctx.stats, site.domain, state, city_geo=site.city_geo)
        if wanted != "all":
            if wanted not in PANEL_BY_KEY or PANEL_BY_KEY[wanted] not in panels:
                abort(404, "No such panel.")
            panels = [PANEL_BY_KEY[wanted]]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["panel", "dimension", "value", "metric", "number"])
        for panel in panels:
            result: PanelRows = panel_rows(ctx.stats, site.domain, state, panel, limit=10_000)
            for value, metrics in result.rows:
                for metric, number in zip(panel.metrics, metrics, strict=True):
                    writer.writerow([panel.key, panel.dimension, csv_cell(value), metric,
                                     csv_cell(number)])
            writer.writerow([panel.key, panel.dimension,
                             f"rows under {ctx.stats.k} visitors are never shown "
                             "(privacy)", "", ""])
        name = f"{site.domain}-{wanted}-{state.first}-{state.last}.csv"
        response = Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @bp.get("/sites/<domain>/export.csv")
    def export_csv(domain: str) -> BaseResponse:
        site, _ = viewable(domain)
        return export(site)

    @bp.get("/sites/<domain>/realtime.json")
    def realtime_json(domain: str) -> BaseResponse:
        site, _ = viewable(domain)
        return jsonify(realtime(ctx.stats, site.domain, ctx.clock()))

    # -- shared links ----------------------------------------------------------------------
    @bp.route("/sites/<domain>/share", methods=["GET", "POST"])
    def share_manage(domain: str) -> str:
        site, viewer = viewable(domain)
        if not viewer.is_owner(site.domain):
            abort(403, "Only an owner of this site can manage shared links.")
        created = ""
        if request.method == "POST":
            check_csrf()
            if request.form.get("action") == "revoke":
                try:  # the link must be this site's: the owner checked is of this site only
                    ctx.users.revoke_link(request.form.get("link", ""), site=site.domain)
                except LookupError:
                    abort(403, "No such shared link on this site.")
            else:
                password = request.form.get("password", "")
                try:
                    hashed = auth.hash_password(password) if password else ""
                except ValueError as exc:
                    abort(400, str(exc))
                token = ctx.users.create_link(site.domain, password_hash=hashed,
                                              label=request.form.get("label", "")[:100],
                                              created_by=viewer.user.email)  # type: ignore[union-attr]
                created = request.host_url.rstrip("/") + url_for("ui.shared", token=token)
        return render_template("share.html", site=site, links=ctx.users.links(site.domain),
                               created=created, user=viewer.user, k=ctx.stats.k)

    def link_or_404(token: str) -> SharedLink:
        link = ctx.users.link(token) if 20 <= len(token) <= 100 else None
        if link is None:
            abort(404, "This shared link does not exist or was revoked.")
        return link

    def unlock_proof(token: str, link: SharedLink) -> str:
        return hmac.new(token.encode(), b"unlocked:" + link.password_hash.encode(),
                        hashlib.sha256).hexdigest()

    def shared_viewer(token: str) -> tuple[Site, Viewer] | None:
        """The link's site and viewer, or None when its password is still needed."""
        link = link_or_404(token)
        if link.password_hash and not hmac.compare_digest(
                request.cookies.get(SHARE_COOKIE, ""), unlock_proof(token, link)):
            return None
        return site_or_404(link.site), Viewer(None, link)

    @bp.route("/share/<token>", methods=["GET", "POST"])
    def shared(token: str) -> BaseResponse | str | tuple[str, int]:
        link = link_or_404(token)
        if request.method == "POST":  # the password form
            check_csrf()
            network = request.remote_addr or ""
            wait = throttle.wait_seconds(account="link:" + link.token_hash, network=network)
            if wait <= 0 and auth.verify_password(link.password_hash,
                                                  request.form.get("password", "")):
                response = redirect(url_for("ui.shared", token=token))
                set_cookie(response, SHARE_COOKIE, unlock_proof(token, link),
                           max_age=int(SESSION_LIFETIME.total_seconds()),
                           path=url_for("ui.shared", token=token))
                return response
            throttle.failed(account="link:" + link.token_hash, network=network)
            return render_template("share_password.html", error="Wrong password.",
                                   user=None), 401
        found = shared_viewer(token)
        if found is None:
            return render_template("share_password.html", error="", user=None)
        site, viewer = found
        return render_dashboard(site, viewer, url_for("ui.shared", token=token))

    @bp.get("/share/<token>/export.csv")
    def shared_export(token: str) -> BaseResponse:
        found = shared_viewer(token)
        if found is None:
            abort(403, "This shared link needs its password.")
        return export(found[0])

    @bp.get("/share/<token>/realtime.json")
    def shared_realtime(token: str) -> BaseResponse:
        found = shared_viewer(token)
        if found is None:
            abort(403, "This shared link needs its password.")
        return jsonify(realtime(ctx.stats, found[0].domain, ctx.clock()))

    @bp.errorhandler(BadQuery)
    def bad_query(exc: BadQuery) -> tuple[str, int]:
        return render_template("error.html", code=400, message=str(exc),
                               user=g.get("user")), 400

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> tuple[str, int]:
        return render_template("error.html", code=400, message=str(exc),
                               user=g.get("user")), 400

    return bp
