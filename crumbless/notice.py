"""The analytics section of a site's privacy policy, written from the live configuration.

Every retention period stated is read from ClickHouse: a table whose TTL is a fixed
interval states that interval; a table whose TTL reads a per-row keep column states the
longest of the values its rows for this site carry and the policy's value for new rows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from contract.sites import Site

TIER_TABLE = {"raw": ("events", "keep_days"), "sessions": ("sessions", "keep_days"),
              "hourly": ("rollup_hourly", "keep_days"), "daily": ("rollup_daily", "keep_days")}
# The tables whose rows carry the visitor hash (column visitor_id, zeroed by its own TTL
# that reads id_keep_days), and the tier whose rows hold it: the hash is kept as long as
# the longest of the two.
ID_TABLES = {"events": "raw", "sessions": "sessions"}


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """Everything the notice states, each value taken from the live system."""

    site: Site
    days: dict[str, int]  # tier → live days
    kafka_hours: int | None  # None in the embedded mode
    salt_grace_hours: int
    k_anonymity: int
    geo: str  # what is looked up: one of GEO_LEVELS
    storage: str  # where the data is processed


# What the collector can look up: nothing (no database), the country (a Country edition),
# country and region (a City edition), or also the city (a City edition and the site's
# city opt-in).
GEO_LEVELS = ("none", "country", "region", "city")
GEO_TEXT = {"country": "your country", "region": "your country and region (such as a state)",
            "city": "your country, region and city"}


def geo_level(*, database: bool, database_has_cities: bool, site_wants_city: bool) -> str:
    """The GEO_LEVELS entry the collector applies for one site."""
    if not database:
        return "none"
    if not database_has_cities:
        return "country"
    return "city" if site_wants_city else "region"


def _ttl_days(expression: str) -> int | None:
    """The days of a fixed TTL interval (`... + toIntervalDay(30)`), None for a column's."""
    literal = re.search(r"toIntervalDay\((\d+)\)", expression)
    return int(literal.group(1)) if literal else None


def live_days(show: dict[str, Any], site: str) -> dict[str, int]:
    """Per tier, the longest period ClickHouse applies to `site` now or to its new rows.

    `show` is sinks.retention.RetentionStore.show(). A fixed TTL states its interval; a
    per-row TTL the longest of the value `site`'s rows carry and the policy's value for
    new rows, so the notice never understates. "ids" is how long the visitor hash lives:
    the longest over events and sessions, each at most its row's own life.
    """
    tables = {t["table"]: t for t in show["tables"]}
    policy = show["policy"]["sites"].get(site, show["policy"]["default"])

    def period(table: str, expression: str, column: str, policy_days: int) -> int:
        fixed = _ttl_days(expression)
        if fixed is not None:
            return fixed
        rows = next((s for s in tables[table]["sites"] if s["site"] == site), None)
        return max([*(int(d) for d in (rows or {}).get(column) or []), policy_days])

    days = {tier: period(table, tables[table]["ttl"], column, int(policy[tier]))
            for tier, (table, column) in TIER_TABLE.items()}
    id_policy = show["policy"].get("id_days", {})
    id_policy = id_policy.get("sites", {}).get(site, id_policy.get("default", {}))
    days["ids"] = max(
        min(period(table, tables[table]["column_ttls"].get("visitor_id", ""), "id_keep_days",
                   int(id_policy.get(table, policy["ids"]))), days[tier])
        for table, tier in ID_TABLES.items())
    return days


# What the site does with traffic that carries no consent signal, and the legal basis
# the notice states for it (GDPR Art. 6(1)(f) legitimate interest, 6(1)(a) consent).
NO_CONSENT_WORDING: dict[str, dict[str, str]] = {
    "full": {
        "what": "Without an explicit refusal, visits are counted with the daily identifier "
                "described above, which cannot recognise you on another day: this is what "
                "happens when your browser sends no consent choice at all.",
        "basis": "We count visits on the basis of our legitimate interest in knowing how "
                 "this site is used (GDPR Art. 6(1)(f)): no cookies, no profile, an "
                 "identifier that is unlinkable after a day, and only totals are reported. "
                 "You can object at any time by refusing analytics or with Do Not Track or "
                 "Global Privacy Control; your visit is then never counted with an "
                 "identifier.",
    },
    "anonymous": {
        "what": "**Without your consent,** your page view is counted without "
                "any identifier: it adds to totals, but cannot be linked to your other "
                "page views, not even within the same day.",
        "basis": "We count visits with the daily identifier only with your consent (GDPR "
                 "Art. 6(1)(a)), which you can withdraw at any time. Without consent we "
                 "only add your page view to anonymous totals, on the basis of our "
                 "legitimate interest (Art. 6(1)(f)).",
    },
    "drop": {
        "what": "**Without your consent,** nothing about your visit is recorded.",
        "basis": "We measure visits only with your consent (GDPR Art. 6(1)(a)), which you "
                 "can withdraw at any time.",
    },
}


def _span(days: int) -> str:
    if (days >= 60 and days % 30 in (0, 10)) or days >= 365:
        return f"{days} days (about {round(days / 30.4)} months)"
    return f"{days} day" + ("" if days == 1 else "s")


def _hours(n: int) -> str:
    return f"{n} hour" + ("" if n == 1 else "s")


def _after_day(grace_hours: int) -> str:
    return (f"{_hours(grace_hours)} after that day ends" if grace_hours
            else "when that day ends")


def _salt_life(grace_hours: int) -> str:
    return f"its day plus {_hours(grace_hours)}" if grace_hours else "its day"


def render_markdown(f: NoticeFacts) -> str:
    """The notice in Markdown, in plain language."""
    site = f.site
    ip_line = ("We keep only a shortened form of your IP address (the first three of four "
               "parts of an IPv4 address, /24, or the first 48 bits of an IPv6 address, /48), "
               "which identifies a network, not a device."
               if site.store_truncated_ip else
               "We do not store your IP address in any form.")
    no_consent = NO_CONSENT_WORDING[site.no_consent]
    lines = [
        f"## Web analytics on {site.domain}",
        "",
        f"We measure how {site.domain} is used with crumbless, a cookieless analytics "
        "system that we run ourselves. It places no cookies and stores nothing in your "
        "browser.",
        "",
        "### What is collected",
        "- the page you visit (its address without the query string, except campaign tags "
        "such as utm_source), the site that linked to it, and events such as a sign-up;",
        "- your browser, operating system and device type, read from the user agent;",
        *([f"- {GEO_TEXT[f.geo]}, looked up from your IP address in memory;"]
          if f.geo != "none" else []),
        "- the time of the visit.",
        "",
        "### What is not collected",
        f"- {ip_line} Your IP address and full user agent are used only in memory while "
        "your request is handled, then discarded.",
        *(["- Your location: it is not looked up."] if f.geo == "none" else []),
        "- No cookies, no local storage, no fingerprinting, no profiles across sites.",
        "",
        "### How visits are counted without identifying you",
        "To tell page views of one visit apart from another's, we compute a one-way hash of "
        "the site, your IP address and your browser's user agent, keyed with a random value "
        "(a salt) that is created for one day only. The salt is destroyed "
        f"{_after_day(f.salt_grace_hours)} (UTC). After that, nobody, "
        "including us, can link the stored hash back to you, and you are not recognised "
        "on the next day.",
        "",
        "### Your choices",
        "- **Do Not Track and Global Privacy Control** are honoured on our server: with "
        "`DNT: 1` or `Sec-GPC: 1`, your visit is never counted with an identifier"
        + (" and is not recorded at all." if site.no_consent == "drop" else
           "; it only adds to anonymous totals."),
        f"- {no_consent['what']}",
        "- **If you refuse analytics** where a consent choice is offered (the "
        "\"analytics\" category), your visit is never counted with an identifier"
        + (" and is not recorded at all." if site.no_consent == "drop" else
           "; it only adds to anonymous totals."),
        "",
        "### Legal basis",
        no_consent["basis"],
        "",
        "### How long data is kept",
        "| data | kept for |",
        "|---|---|",
        f"| individual page views and events | {_span(f.days['raw'])} |",
        f"| visit records (entry and exit page, duration) | {_span(f.days['sessions'])} |",
        f"| the daily visitor hash inside page views and visit records | "
        f"{_span(f.days['ids'])}, then removed |",
        f"| hourly totals | {_span(f.days['hourly'])} |",
        f"| daily totals (no individual records) | {_span(f.days['daily'])} |",
        f"| the daily salt | {_salt_life(f.salt_grace_hours)} |",
    ]
    if f.kafka_hours is not None:
        lines.append(f"| events in transit (message queue) | {_hours(f.kafka_hours)} |")
    lines += [
        "",
        "Everything is deleted automatically when its period ends.",
        "",
        "### Who sees it",
        f"Data is processed on {f.storage}, operated by us; no third party receives it. "
        + ("Reports show only totals, and any breakdown row that would describe fewer than "
           f"{f.k_anonymity} visitors is hidden." if f.k_anonymity > 1 else
           "Reports show only totals and breakdowns of them, never an individual visit."),
        "",
        "### Your rights",
        "Because we cannot link the stored data to you, we cannot find, show or delete "
        "records of your visits on request (GDPR Art. 11); nothing is kept that would let "
        "us, or anyone, identify you. For questions, contact us at the address in this "
        "privacy policy.",
        "",
    ]
    return "\n".join(lines)


def render_html(f: NoticeFacts) -> str:
    """The same notice as an HTML fragment."""
    out: list[str] = []
    in_list = in_table = False
    for line in render_markdown(f).splitlines():
        text = html.escape(line)
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        if in_list and not line.startswith("- "):
            out.append("</ul>")
            in_list = False
        if in_table and not line.startswith("|"):
            out.append("</table>")
            in_table = False
        if line.startswith("### "):
            out.append(f"<h3>{text[4:]}</h3>")
        elif line.startswith("## "):
            out.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{text[2:]}</li>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            if not in_table:
                out.append("<table>")
                in_table = True
            cells = [c.strip() for c in text.strip("|").split("|")]
            tag = "th" if cells[0] == "data" else "td"
            out.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
        elif line:
            out.append(f"<p>{text}</p>")
    if in_list:
        out.append("</ul>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"
