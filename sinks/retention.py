"""Retention as ClickHouse holds it: the stored policy, `show`, `plan`, `apply`, audit.

`apply` writes the new period into the rows' keep columns (ALTER UPDATE) so the TTL
expressions see it. When a change shortens retention it then runs MATERIALIZE TTL at
once: deletion is a promise to visitors, and waiting for a TTL merge can take hours
(merge_with_ttl_timeout) or longer for parts that never merge. When it lengthens
retention nothing is deleted, so the UPDATE alone is enough: the rewritten parts carry
the new expiry and later merges follow it. Every change is audited (who, when, old, new).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from contract.errors import StorageError
from contract.retention import (
    SITE_TIERS,
    TIER_TABLES,
    RetentionPolicy,
    TierDays,
    check_change,
    check_policy,
)
from contract.settings import Settings
from sinks.client import command, first_line, run

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TableShape:
    """How retention reads in one table: its time column and per-tier keep column."""

    time_expr: str  # as a DateTime
    keep_column: str  # the row-expiry column
    id_condition: str  # rows that still carry an id


TABLES: dict[str, TableShape] = {
    "events": TableShape("toDateTime(ts)", "keep_days", "visitor_id != 0"),
    "sessions": TableShape("toDateTime(start)", "keep_days", "visitor_id != 0"),
    "rollup_hourly": TableShape("hour", "keep_days", "0"),
    "rollup_daily": TableShape("toDateTime(day)", "keep_days", "0"),
    "rollup_daily_visitors": TableShape("toDateTime(day)", "keep_days", "0"),
}


# The tables whose rows carry the visitor hash, and the tier that sets each one's life.
ID_TABLES = {"events": "raw", "sessions": "sessions"}


def _keep_column(tier: str, table: str) -> str:
    if tier == "ids":
        return "id_keep_days"
    return TABLES[table].keep_column


class RetentionStore:
    """The retention policy in `retention_policies`, and the work of changing it."""

    def __init__(self, client: Client, settings: Settings,
                 registered_sites: Callable[[], list[str]]) -> None:
        self.client = client
        self.settings = settings
        self.registered_sites = registered_sites
        self._lock = threading.Lock()
        self._policy: RetentionPolicy | None = None
        self._loaded = 0.0

    # -- the policy --------------------------------------------------------------
    def policy(self) -> RetentionPolicy:
        """The effective policy (settings, then stored changes), cached for 30 s."""
        with self._lock:
            if self._policy is not None and time.monotonic() - self._loaded < 30:
                return self._policy
        rows = run(self.client, """SELECT site, tier, argMax(days, version),
            argMax(deleted, version) FROM retention_policies GROUP BY site, tier""")
        policy = RetentionPolicy.from_settings(self.settings)
        for site, tier, days, deleted in sorted(rows, key=lambda r: r[0]):
            if not deleted:
                policy = policy.with_change(site or None, tier, int(days))
        with self._lock:
            self._policy, self._loaded = policy, time.monotonic()
        return policy

    def invalidate(self) -> None:
        """Forget the cached policy (after a change made through this instance)."""
        with self._lock:
            self._policy = None

    def keep_for(self, site: str) -> TierDays:
        """The periods for a site's new rows (used by the sink)."""
        return self.policy().for_site(site)

    def known_sites(self) -> list[str]:
        """Registered sites and every site that still has rows."""
        stored = run(self.client, "SELECT DISTINCT site FROM events UNION DISTINCT "
                     "SELECT DISTINCT site FROM rollup_daily")
        return sorted(set(self.registered_sites()) | {r[0] for r in stored})

    def _table_size(self, table: str) -> tuple[int, int]:
        """(rows, bytes on disk) of a table's active parts."""
        parts = run(self.client, "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts "
                    "WHERE database = currentDatabase() AND table = {t:String} AND active",
                    {"t": table})
        return int(parts[0][0] or 0), int(parts[0][1] or 0)

    # -- show -------------------------------------------------------------------
    def show(self) -> dict[str, Any]:
        """Each table's TTL as ClickHouse has it, its size and age, per site; the policy."""
        tables = []
        for name, shape in TABLES.items():
            ddl = run(self.client, "SELECT create_table_query FROM system.tables WHERE "
                      "database = currentDatabase() AND name = {t:String}", {"t": name})
            rows_total, bytes_total = self._table_size(name)
            ids = ("groupUniqArray(toUInt32(id_keep_days))" if shape.id_condition != "0"
                   else "[]")
            per_site = run(self.client, f"""SELECT site, count(), min({shape.time_expr}),
                max({shape.time_expr}), groupUniqArray(toUInt32({shape.keep_column})), {ids}
                FROM {name} GROUP BY site ORDER BY site""")
            tables.append({
                "table": name,
                "ttl": _ttl_clause(ddl[0][0] if ddl else ""),
                "column_ttls": _column_ttls(ddl[0][0] if ddl else ""),
                "rows": rows_total, "bytes": bytes_total,
                "sites": [{"site": s, "rows": int(n), "oldest": str(lo), "newest": str(hi),
                           "keep_days": sorted(int(k) for k in keep),
                           "id_keep_days": sorted(int(k) for k in id_keep),
                           "bytes_estimate": _share(bytes_total, rows_total, int(n))}
                          for s, n, lo, hi, keep, id_keep in per_site],
            })
        policy = self.policy()
        return {
            "tables": tables,
            "policy": {"default": _tier_dict(policy.defaults),
                       "sites": {s: _tier_dict(policy.for_site(s))
                                 for s in self.known_sites()},
                       "overrides": {s: dict(t) for s, t in policy.overrides.items()},
                       # how long new rows of each table keep the visitor hash
                       "id_days": {"default": _id_days(policy.defaults),
                                   "sites": {s: _id_days(policy.for_site(s))
                                             for s in self.known_sites()}}},
            "salts": {"lifetime": f"the UTC day of use plus {self.settings.salt_grace_hours} "
                                  "hours, then destroyed"},
        }

    # -- plan and apply -----------------------------------------------------------
    def _targets(self, site: str | None, tier: str, policy: RetentionPolicy) -> list[str]:
        if site is not None:
            return [site]
        return policy.sites_following_default(tier, self.known_sites())

    def plan(self, site: str | None, tier: str, days: int) -> dict[str, Any]:
        """What a change would expire, per table and site, before anything changes."""
        check_change(tier, days, site)
        policy = self.policy()
        new_policy = policy.with_change(site, tier, days)
        check_policy(new_policy, self.known_sites())
        old = (policy.for_site(site) if site else policy.defaults).get(tier)
        targets = self._targets(site, tier, policy)
        effects = []
        for table in TIER_TABLES[tier] if targets else ():
            shape = TABLES[table]
            extra = f" AND {shape.id_condition}" if tier == "ids" else ""
            rows_total, bytes_total = self._table_size(table)
            for s, n, first, last in run(self.client, f"""SELECT site, count(),
                    min(toDate({shape.time_expr})), max(toDate({shape.time_expr}))
                    FROM {table} WHERE site IN {{sites:Array(String)}}
                    AND {shape.time_expr} + toIntervalDay({{days:UInt32}}) <= now(){extra}
                    GROUP BY site ORDER BY site""", {"sites": targets, "days": days}):
                effects.append({"table": table, "site": s, "rows": int(n),
                                "bytes_estimate": _share(bytes_total, rows_total, int(n)),
                                "first_day": str(first), "last_day": str(last),
                                "what": "ids zeroed" if tier == "ids" else "rows deleted"})
        return {
            "site": site or "(default)", "tier": tier, "old": old, "new": days,
            "unit": "hours" if tier == "kafka" else "days", "sites_affected": targets,
            "expires_now": effects, "method": _method(tier, shorter=days < old),
        }

    def apply(self, site: str | None, tier: str, days: int, *, actor: str,
              progress: Progress | None = None) -> dict[str, Any]:
        """Make the change, applying it to stored rows; returns the plan and what it did."""
        say = progress or (lambda _m: None)
        plan = self.plan(site, tier, days)
        targets = plan["sites_affected"]
        self._audit(actor, site, tier, plan["old"], days, "apply", plan["method"])
        self.client.insert("retention_policies", [[site or "", tier, days, 0, time.time_ns()]],
                           column_names=["site", "tier", "days", "deleted", "version"])
        self.invalidate()
        steps: list[dict[str, Any]] = []
        removed: dict[str, int] = {}
        if tier == "kafka":
            steps.append(self._apply_kafka(days, say))
        for table in TIER_TABLES[tier] if targets and tier != "kafka" else ():
            shape = TABLES[table]
            extra = f" AND {shape.id_condition}" if tier == "ids" else ""
            count_sql = (f"SELECT count() FROM {table} WHERE site IN {{sites:Array(String)}}"
                         f"{extra}")
            before = int(run(self.client, count_sql, {"sites": targets})[0][0])
            column = _keep_column(tier, table)
            statements = [f"ALTER TABLE {table} UPDATE {column} = {{days:UInt32}} "
                          f"WHERE site IN {{sites:Array(String)}}"]
            if days < plan["old"]:
                statements.append(f"ALTER TABLE {table} MATERIALIZE TTL")
            for sql in statements:
                started = time.monotonic()
                say(f"{table}: {sql.split(' WHERE')[0]} …")
                command(self.client, sql, {"days": days, "sites": targets},
                        settings={"mutations_sync": 2})
                steps.append({"table": table, "statement": sql.split(" WHERE")[0],
                              "seconds": round(time.monotonic() - started, 3)})
                say(f"{table}: done in {steps[-1]['seconds']} s")
            after = int(run(self.client, count_sql, {"sites": targets})[0][0])
            removed[table] = before - after
        return {**plan, "applied": True, "steps": steps, "removed": removed}

    def _apply_kafka(self, hours: int, say: Progress) -> dict[str, Any]:
        if self.settings.transport != "kafka":
            return {"kafka": "not used in embedded mode; stored for the distributed mode"}
        from dataclasses import replace

        from contract.transports.kafka_topics import ensure_topics

        say("Kafka: setting retention.ms on the topics …")
        configs = ensure_topics(replace(self.settings, kafka_retention_hours=hours))
        return {"kafka": {t: c["retention.ms"] for t, c in configs.items()}}

    def _audit(self, actor: str, site: str | None, tier: str, old: int, new: int,
               action: str, detail: str) -> None:
        try:
            self.client.insert("retention_audit", [[dt.datetime.now(dt.UTC), actor, site or "",
                                                    tier, old, new, action, detail]],
                               column_names=["at", "actor", "site", "tier", "old_days",
                                             "new_days", "action", "detail"])
        except Exception as exc:
            raise StorageError(f"cannot write the audit trail: {first_line(exc)}") from exc

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest changes, newest first."""
        rows = run(self.client, "SELECT at, actor, site, tier, old_days, new_days, action, "
                   "detail FROM retention_audit ORDER BY at DESC LIMIT {n:UInt32}", {"n": limit})
        return [{"at": str(a), "actor": who, "site": s or "(default)", "tier": t,
                 "old": int(o), "new": int(n), "action": act, "detail": d}
                for a, who, s, t, o, n, act, d in rows]


def _method(tier: str, *, shorter: bool) -> str:
    """How apply will make a change take effect, and why."""
    if tier == "kafka":
        return "topic config retention.ms (distributed mode)"
    if shorter:
        return ("ALTER UPDATE of the keep column, then MATERIALIZE TTL now: a shorter period "
                "is a deletion promise, and TTL merges may take hours")
    return ("ALTER UPDATE of the keep column only: nothing expires, the rewritten parts carry "
            "the new expiry and merges follow it")


def _tier_dict(days: TierDays) -> dict[str, int]:
    return {t: days.get(t) for t in (*SITE_TIERS, "kafka")}


def _id_days(days: TierDays) -> dict[str, int]:
    return {table: days.id_days_in(tier) for table, tier in ID_TABLES.items()}


def _share(total_bytes: int, total_rows: int, rows: int) -> int:
    """A table's bytes apportioned by rows (ClickHouse keeps no per-row size)."""
    return round(total_bytes * rows / total_rows) if total_rows else 0


def _ttl_clause(ddl: str) -> str:
    match = re.search(r"\bTTL (.+?)(?: SETTINGS |$)", ddl.split("ENGINE")[-1], re.DOTALL)
    return match.group(1).strip() if match else ""


def _column_ttls(ddl: str) -> dict[str, str]:
    columns = ddl.split("ENGINE")[0]
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"`?(\w+)`? \w+(?:\([^)]*\))? TTL ([^,\n]+)", columns)}
