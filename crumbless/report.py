"""Human-readable text for the admin commands' answers (the CLI prints JSON with --json).

Pure functions from the dicts the admin operations return (shapes: crumbless/admin.py and
sinks/retention.py) to plain-text tables; no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TIER_NAMES = {"raw": "raw events", "sessions": "sessions", "hourly": "hourly rollups",
              "daily": "daily rollups", "ids": "visitor ids", "kafka": "Kafka topic"}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int) for row in rows) and bool(rows)
               for i in range(len(header))]
    lines = []
    for r in cells:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric,
                                                                         strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def size(n: int) -> str:
    """Bytes as B, KB, MB, GB (powers of 1024, one decimal)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # not reached


def days(values: Sequence[int]) -> str:
    """A keep column's values for one site: "30 days", or "14, 30 days" while a change runs."""
    if not values:
        return "-"
    return ", ".join(str(v) for v in values) + (" day" if values == [1] else " days")


def _ids(tiers: dict[str, int]) -> str:
    # The effective ids period is at most the raw period; equal means "kept with the row"
    # (the --id-ttl-days default of 0), which a bare number would misstate.
    return "with the row" if tiers["ids"] >= tiers["raw"] else f"{tiers['ids']} days"


def sites(listed: list[dict[str, Any]]) -> str:
    """`crumbless sites list`."""
    if not listed:
        return "no sites registered yet; add one with: crumbless sites add DOMAIN"
    return table(("domain", "without consent", "truncated IP", "city"),
                 [(s["domain"], s["no_consent"], "kept" if s["store_truncated_ip"] else "no",
                   "yes" if s["city_geo"] else "no") for s in listed])


def goal_text(goal: dict[str, str]) -> str:
    """What a goal counts, in words."""
    if goal["kind"] == "page":
        return f"pageviews of {goal['page']}"
    revenue = (f", revenue in {goal['currency']}" if goal["currency"] else
               ", revenue in its events' currency when they carry only one")
    return f"custom event {goal['event']}{revenue}"


def goals(listed: list[dict[str, str]]) -> str:
    """`crumbless goals list SITE`."""
    note = ("Every custom event is also a goal of its own name without a row here.")
    if not listed:
        return ("no goals configured. " + note + " Add one with: crumbless goals add SITE "
                "--event NAME [--currency CODE] | --page /PATH")
    return table(("goal", "counts"), [(g["name"], goal_text(g)) for g in listed]) + \
        "\n" + note


def keys(listed: list[dict[str, Any]]) -> str:
    """`crumbless keys list`: one line per key, never the key itself."""
    if not listed:
        return "no Stats API keys; create one with: crumbless keys create --site DOMAIN"
    return table(("id", "site", "created (UTC)", "state"),
                 [(k["id"], k["site"], k["created"].replace("T", " ").removesuffix("+00:00"),
                   "revoked" if k["revoked"] else "live") for k in listed])


def retention_show(shown: dict[str, Any]) -> str:
    """`crumbless retention show`: the policy, then each table, then stored data per site."""
    policy = shown["policy"]
    rows = [("(default)", *_policy_row(policy["default"]))]
    rows += [(site, *_policy_row(t)) for site, t in sorted(policy["sites"].items())
             if site in policy["overrides"]]
    out = ["Retention policy (sites without an override follow the default)",
           table(("site", "raw", "sessions", "hourly", "daily", "visitor ids", "Kafka"), rows),
           "", "Tables (TTL as ClickHouse applies it)"]
    out.append(table(("table", "rows", "size", "TTL"),
                     [(t["table"], t["rows"], size(t["bytes"]), t["ttl"] or "none")
                      for t in shown["tables"]]))
    for t in shown["tables"]:
        for column, ttl in t["column_ttls"].items():
            out.append(f"  {t['table']}.{column}: TTL {ttl}")
    stored = [(t["table"], s["site"], s["rows"], size(s["bytes_estimate"]), s["oldest"],
               s["newest"], days(s["keep_days"]))
              for t in shown["tables"] for s in t["sites"]]
    out += ["", "Stored data per site"]
    out.append(table(("table", "site", "rows", "~size", "oldest", "newest", "kept for"), stored)
               if stored else "nothing stored yet")
    out += ["", f"Salts: {shown['salts']['lifetime']}"]
    return "\n".join(out)


def _policy_row(t: dict[str, int]) -> tuple[str, ...]:
    return (f"{t['raw']} days", f"{t['sessions']} days", f"{t['hourly']} days",
            f"{t['daily']} days", _ids(t), f"{t['kafka']} hours")


def retention_plan(plan: dict[str, Any]) -> str:
    """`crumbless retention plan` (and the preview of apply)."""
    out = [f"{TIER_NAMES.get(plan['tier'], plan['tier'])} for {plan['site']}: "
           f"{plan['old']} → {plan['new']} {plan['unit']}"]
    if plan["expires_now"]:
        out.append(table(("table", "site", "rows", "~size", "days affected", "what"),
                         [(e["table"], e["site"], e["rows"], size(e["bytes_estimate"]),
                           f"{e['first_day']} … {e['last_day']}", e["what"])
                          for e in plan["expires_now"]]))
    else:
        out.append("nothing stored expires because of this change")
    out.append(f"method: {plan['method']}")
    return "\n".join(out)


def retention_applied(done: dict[str, Any]) -> str:
    """`crumbless retention apply`: the steps run and what they removed."""
    out = []
    for step in done["steps"]:
        if "statement" in step:
            out.append(f"done: {step['statement']} ({step['seconds']} s)")
        else:
            out.append("done: " + ", ".join(f"{k}: {v}" for k, v in step.items()))
    for name, removed in done["removed"].items():
        out.append(f"{name}: {removed} {'ids zeroed' if done['tier'] == 'ids' else 'rows removed'}")
    return "\n".join(out) if out else "policy changed; nothing stored needed rewriting"


def retention_audit(entries: list[dict[str, Any]]) -> str:
    """`crumbless retention audit`, newest first."""
    if not entries:
        return "no retention changes recorded yet"
    return "\n".join(f"{e['at']} {e['actor']}: {e['tier']} for {e['site']} "
                     f"{e['old']} → {e['new']} ({e['action']})" for e in entries)
