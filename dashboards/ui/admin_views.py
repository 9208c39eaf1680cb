"""Retention for engineers in the browser, and each site's privacy notice.

The same operations and guards as `crumbless retention`: the pages call the one
sinks.retention.RetentionStore (show, plan, apply, audit) that the CLI and the admin API
call. Applying needs an explicit confirmation (a checked box naming the change) and runs
in a background job whose progress lines the page polls. Only admins see these pages;
any user with a role on a site (and no shared link) can read its privacy notice.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from contract.errors import BadRequest, CrumblessError
from contract.retention import SITE_TIERS, TIER_TABLES
from contract.sites import normalise_domain
from dashboards.ui import auth
from dashboards.ui.views import install_identity
from sinks.retention import RetentionStore
from sinks.users import UserStore

log = logging.getLogger(__name__)
TIERS = ("raw", "sessions", "hourly", "daily", "ids", "kafka")


@dataclass
class Job:
    """One retention change running in the background."""

    id: int
    description: str
    state: str = "running"  # running | done | failed
    progress: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None


def admin_ui_blueprint(users: UserStore, retention: RetentionStore,
                       notice_html: Callable[[str], str],
                       domains: Callable[[], list[str]]) -> Blueprint:
    """Pages under /admin (admins) and /sites/<d>/privacy-notice; needs the ui blueprint."""
    bp = Blueprint("ui_admin", __name__, template_folder="templates")
    install_identity(bp, users)
    jobs: dict[int, Job] = {}
    counter = itertools.count(1)

    def require_admin() -> None:
        user = g.get("user")
        if user is None:
            abort(redirect(url_for("ui.login", next=request.full_path.rstrip("?"))))
        if not user.is_admin:
            abort(403, "Retention is for administrators.")

    def check_csrf() -> None:
        if not auth.csrf_ok(g.get("csrf_cookie"), request.form.get("csrf")):
            abort(400, "The form expired or came from another site; reload and try again.")

    def change() -> tuple[str | None, str, int]:
        try:
            site = normalise_domain(request.form["site"]) if request.form.get("site") else None
        except BadRequest as exc:
            abort(400, str(exc))
        tier = request.form.get("tier", "")
        try:
            days = int(request.form.get("days", ""))
        except ValueError:
            abort(400, "days: a whole number (hours for the kafka tier)")
        return site, tier, days

    def page(**extra: Any) -> str:
        site = request.values.get("site") or None
        shown = retention.show()
        if site:
            for table in shown["tables"]:
                table["sites"] = [s for s in table["sites"] if s["site"] == site]
        return render_template("retention.html", shown=shown, audit=retention.audit(),
                               site=site, sites=domains(), tiers=TIERS, site_tiers=SITE_TIERS,
                               tier_tables=TIER_TABLES, user=g.user, **extra)

    @bp.get("/admin/retention")
    def retention_page() -> str:
        require_admin()
        return page()

    @bp.post("/admin/retention/plan")
    def plan() -> str | tuple[str, int]:
        require_admin()
        check_csrf()
        site, tier, days = change()
        try:
            planned = retention.plan(site, tier, days)
        except CrumblessError as exc:
            return page(error=str(exc)), 400
        return page(plan=planned, change=(site or "", tier, days))

    @bp.post("/admin/retention/apply")
    def apply() -> BaseResponse | tuple[str, int]:
        require_admin()
        check_csrf()
        site, tier, days = change()
        if request.form.get("confirm") != "yes":
            return page(error="Tick the confirmation box to apply the change."), 400
        try:  # the guards first, synchronously, so a refused change is said at once
            retention.plan(site, tier, days)
        except CrumblessError as exc:
            return page(error=str(exc)), 400
        job = Job(next(counter), f"{tier} for {site or 'the default'} → {days}")
        jobs[job.id] = job
        actor = f"{g.user.email} (web)"

        def work() -> None:
            try:
                job.result = retention.apply(site, tier, days, actor=actor,
                                             progress=job.progress.append)
                job.state = "done"
            except Exception as exc:  # the page shows it; the log names the type only
                log.warning("retention apply from the web failed: %s", type(exc).__name__)
                job.progress.append(f"failed: {exc}")
                job.state = "failed"

        threading.Thread(target=work, name=f"retention-job-{job.id}", daemon=True).start()
        return redirect(url_for("ui_admin.job_page", job_id=job.id))

    @bp.get("/admin/retention/jobs/<int:job_id>")
    def job_page(job_id: int) -> str:
        require_admin()
        if job_id not in jobs:
            abort(404, "No such job.")
        return render_template("retention_job.html", job=jobs[job_id], user=g.user)

    @bp.get("/admin/retention/jobs/<int:job_id>.json")
    def job_json(job_id: int) -> BaseResponse:
        require_admin()
        if job_id not in jobs:
            abort(404, "No such job.")
        job = jobs[job_id]
        return jsonify(state=job.state, progress=job.progress, description=job.description)

    @bp.get("/sites/<domain>/privacy-notice")
    def notice(domain: str) -> str:
        user = g.get("user")
        if user is None:
            abort(redirect(url_for("ui.login", next=request.full_path.rstrip("?"))))
        if user.role_for(domain.lower()) is None:
            abort(403, "You have no access to this site.")
        return render_template("notice.html", domain=domain.lower(),
                               notice=notice_html(domain.lower()), user=user)

    return bp
