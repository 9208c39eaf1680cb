"""The consent gate: which events are counted, and how, decided on the server.

| signal                                  | site policy drop | anonymous | full |
|-----------------------------------------|------------------|-----------|------|
| consent.analytics = true, no DNT/GPC    | full             | full      | full |
| no consent given (no analytics key)     | drop             | anonymous | full |
| consent.analytics = false               | drop             | anonymous | anonymous |
| DNT: 1 or Sec-GPC: 1 (whatever else)    | drop             | anonymous | anonymous |

"anonymous" means counted with no visitor id: the event feeds pageview and event
totals but never unique visitors or visits. An explicit refusal, DNT and GPC are never
counted with an id, whatever the tracker or the site's policy says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.errors import BadRequest, DropEvent

MAX_CATEGORIES = 16


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The consent categories a beacon carried (None: the category was not stated)."""

    analytics: bool | None = None
    marketing: bool | None = None

    @property
    def label(self) -> str:
        """granted / denied / unset, as the event contract records it."""
        return {True: "granted", False: "denied", None: "unset"}[self.analytics]


def parse_consent(raw: Any) -> ConsentState:
    """Read the beacon's optional `consent` object: {category: bool}; BadRequest if malformed."""
    if raw is None:
        return ConsentState()
    if not isinstance(raw, dict) or len(raw) > MAX_CATEGORIES:
        raise BadRequest(f"consent must be an object of at most {MAX_CATEGORIES} "
                         "category: true/false pairs")
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise BadRequest(f"consent.{str(key)[:40]} must be true or false")
    return ConsentState(analytics=raw.get("analytics"), marketing=raw.get("marketing"))


def opted_out(headers: Mapping[str, str] | Any) -> bool:
    """True when the browser sent DNT: 1 or Sec-GPC: 1 (header names in any case)."""
    values = {k.lower(): v.strip() for k, v in headers.items() if k.lower() in _OPT_OUT}
    return "1" in values.values()


_OPT_OUT = frozenset(("dnt", "sec-gpc"))


def counting_mode(consent: ConsentState, no_consent_policy: str, browser_opt_out: bool) -> str:
    """`full` or `anonymous` for this event, or raise DropEvent; see the table above."""
    if consent.analytics is True and not browser_opt_out:
        return "full"
    if no_consent_policy == "drop":
        raise DropEvent("no analytics consent and the site drops such traffic")
    if consent.analytics is False or browser_opt_out:
        return "anonymous"
    return no_consent_policy
