"""Matomo tracking hits (`/matomo.php`, `/piwik.php`) translated into beacon fields, no I/O.

Source of the format: Matomo's Tracking HTTP API reference (developer.matomo.org,
api-reference/tracking-api), its tracker response (core/Tracker/Response.php) and bulk
tracking (plugins/BulkTracking) in the matomo-org/matomo repository. A hit is a set of
query parameters, sent as a GET query string, a POST form body, or one string of a bulk
`{"requests": ["?idsite=1&rec=1&url=...", ...]}` body.

Mapping (one hit → at most one crumbless event):

==========================  ==============================================================
Matomo                      crumbless
==========================  ==============================================================
idsite (required)           the site mapped to that Matomo site id
rec=1 (required)            Matomo records nothing without it; neither does crumbless
url (required)              page path + utm_*; mtm_*/pk_* campaign parameters become the
                            matching utm_* (campaign, source, medium, keyword → term,
                            content) when the URL has no utm_* of that kind
urlref                      referrer
e_c, e_a, e_n, e_v          event "<e_c>: <e_a>" (or whichever of the two is set), props
                            category, action, name, value
link=URL / download=URL     "Outbound Link: Click" / "File Download", props.url = URL
idgoal=N (N > 0)            "Goal N", props goal = N, with revenue if sent
idgoal=0 with ec_id         "Ecommerce Order" with revenue (ec_id itself is not kept)
idgoal=0 without ec_id      "Ecommerce Cart Update" (a cart total is not revenue)
revenue                     revenue amount in the site's Matomo currency (setting
                            matomo_currency, USD by default: Matomo hits carry none)
anything else with url      a pageview (action_name, the page title, is not kept)
ping=1, ca=1, c_n/c_i       heartbeats, custom actions (media, crashes) and content
                            impressions: accepted, nothing stored
==========================  ==============================================================

Parameters that identify a visitor or override what the server sees (`_id`, `uid`, `cid`,
`cdt`, `cip`, `_idts`, `_viewts`, `_idvc`, `_ref`, `_rcn`, `_rck`, `uadata`, `pv_id`,
`ec_id`, custom variables and dimensions, cookies) are never copied into the fields: they
are discarded by design, and the visitor id is always crumbless's own daily-salted hash of
the connection's IP and user agent. `ua`, Matomo's documented user-agent override for
server-side trackers, stands in for the User-Agent header (it feeds the bot filter, the
device parse and the daily hash like the header would, and is then dropped the same way).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from collector.beacon import MAX_NAME, MAX_PROP_VALUE, MAX_URL, load_json
from contract.errors import BadRequest, PayloadTooLarge
from contract.sites import MAX_MATOMO_SITE_ID, Site

MAX_BULK_REQUESTS = 100
IGNORED_KINDS = ("ping", "ca", "c_n", "c_i")
# Matomo campaign parameters (mtm_* current, pk_* older) and the utm_* key each feeds.
CAMPAIGN_KEYS = {
    "utm_campaign": ("mtm_campaign", "pk_campaign", "mtm_cpn", "pk_cpn"),
    "utm_source": ("mtm_source", "pk_source"),
    "utm_medium": ("mtm_medium", "pk_medium"),
    "utm_term": ("mtm_keyword", "pk_keyword", "pk_kwd", "mtm_kwd"),
    "utm_content": ("mtm_content", "pk_content"),
}

Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class MatomoHit:
    """One hit's beacon fields (None: accepted, nothing to store) and its `ua` override."""

    fields: dict[str, Any] | None
    user_agent: str | None = None


def params_of(query: str) -> dict[str, str]:
    """Parameters of a query string or form body (leading "?" and any path before it cut)."""
    if "?" in query:
        query = query.split("?", 1)[1]
    return dict(parse_qsl(query, keep_blank_values=True))


def bulk_requests(body: bytes, *, max_bytes: int) -> list[dict[str, str]] | None:
    """The hits of a bulk body, or None when the body is not a bulk request.

    Matomo's JavaScript tracker sends its bulk JSON with a form Content-Type, so the body
    is recognised by its shape (a JSON object with "requests"), not by its header.
    """
    if not body.lstrip().startswith(b"{"):
        return None
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body is over {max_bytes} bytes, the limit")
    raw = load_json(body)
    if not isinstance(raw, dict) or not isinstance(raw.get("requests"), list):
        raise BadRequest('requests must be a list: {"requests": ["?idsite=1&rec=1&url=..."]}')
    requests = raw["requests"]
    if not requests:
        raise BadRequest("requests is empty")
    if len(requests) > MAX_BULK_REQUESTS:
        raise BadRequest(f"requests has {len(requests)} hits; the limit is {MAX_BULK_REQUESTS}")
    hits = []
    for i, item in enumerate(requests):
        if isinstance(item, str):
            hits.append(params_of(item))
        elif isinstance(item, dict):
            hits.append({str(k): _scalar(v) for k, v in item.items() if _scalar(v)})
        else:
            raise BadRequest(f"requests[{i}] must be a query string such as ?idsite=1&rec=1")
    return hits


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value) if isinstance(value, str | int | float) else ""


def site_id_of(params: Params) -> int:
    """The hit's idsite; BadRequest names it when missing or not a Matomo site id."""
    raw = params.get("idsite", "").strip()
    if not raw:
        raise BadRequest("idsite is required: the Matomo site id")
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_MATOMO_SITE_ID:
        raise BadRequest("idsite must be a positive integer")
    return int(raw)


def with_campaign_as_utm(url: str) -> str:
    """`url` with Matomo campaign parameters also present as utm_* (utm_* already set win)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in pairs}
    values = dict(pairs)
    extra = [(utm, next(values[k] for k in keys if values.get(k)))
             for utm, keys in CAMPAIGN_KEYS.items()
             if utm not in present and any(values.get(k) for k in keys)]
    if not extra:
        return url
    return urlunsplit(parts._replace(query=urlencode(pairs + extra)))


def _page_url(params: Params, site: Site) -> str:
    url = params.get("url", "").strip()
    if not url:
        raise BadRequest("url is required: the full URL of the page")
    if url.startswith("/"):  # not what Matomo documents, but a path is still a page
        url = f"https://{site.domain}{url}"
    return with_campaign_as_utm(short_url(url))


def short_url(url: str) -> str:
    """`url` cut to MAX_URL characters: a long query goes first (only utm_* of it is kept)."""
    if len(url) <= MAX_URL:
        return url
    return url.split("?", 1)[0][:MAX_URL]


def _amount(raw: str) -> str | None:
    try:
        value = decimal.Decimal(raw.strip())
    except decimal.InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= decimal.Decimal(10) ** 15:
        return None
    return str(value)


def _event(params: Params) -> tuple[str, dict[str, str], bool] | None:
    """(name, props, revenue counts) of a non-pageview hit, or None for a pageview."""
    category, action = params.get("e_c", "").strip(), params.get("e_a", "").strip()
    if category or action:
        props = {key: params[param].strip()[:MAX_PROP_VALUE]
                 for key, param in (("category", "e_c"), ("action", "e_a"), ("name", "e_n"),
                                    ("value", "e_v"))
                 if params.get(param, "").strip()}
        name = f"{category}: {action}" if category and action else category or action
        return name[:MAX_NAME], props, True
    for param, name in (("link", "Outbound Link: Click"), ("download", "File Download")):
        target = params.get(param, "").strip()
        if target:
            return name, {"url": target[:MAX_PROP_VALUE]}, False
    goal = params.get("idgoal", "").strip()
    if goal.isascii() and goal.isdigit() and int(goal) > 0:
        return f"Goal {int(goal)}", {"goal": str(int(goal))}, True
    if goal == "0":
        if params.get("ec_id", "").strip():
            return "Ecommerce Order", {}, True
        return "Ecommerce Cart Update", {}, False
    return None


def matomo_hit(params: Params, site: Site) -> MatomoHit:
    """Translate one hit for `site` (the site its idsite maps to); BadRequest names a field."""
    if params.get("rec", "").strip() != "1":
        raise BadRequest("rec must be 1: Matomo records a hit only with rec=1")
    ua = params.get("ua", "").strip() or None
    event = _event(params)
    if event is None and any(params.get(k, "").strip() not in ("", "0") for k in IGNORED_KINDS):
        return MatomoHit(None, ua)
    url = _page_url(params, site)
    fields: dict[str, Any] = {"url": url, "domain": site.domain,
                              "referrer": short_url(params.get("urlref", "").strip())}
    if event is None:
        fields["name"] = "pageview"
        return MatomoHit(fields, ua)
    name, props, revenue_counts = event
    fields.update(name=name, props=props)
    amount = _amount(params.get("revenue", "")) if revenue_counts else None
    if amount is not None:
        fields["revenue"] = {"amount": amount, "currency": site.matomo_currency}
    return MatomoHit(fields, ua)


def merge_params(*sources: Params) -> dict[str, str]:
    """One hit from several parameter sources, earlier ones winning (PHP's $_GET + $_POST)."""
    merged: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            merged.setdefault(key, value)
    return merged
