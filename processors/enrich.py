"""Enrichment: traffic source and channel from referrer and UTM, with no I/O."""

from __future__ import annotations

import dataclasses

from contract.event import AnonymousEvent
from processors.referrers import classify_source, is_internal, referrer_host


@dataclasses.dataclass(frozen=True, slots=True)
class EnrichedEvent:
    """An anonymous event plus what the processors derive from it."""

    event: AnonymousEvent
    source: str
    channel: str
    referrer: str  # "" for direct traffic and self-referrals


def enrich(event: AnonymousEvent) -> EnrichedEvent:
    """Classify where the event's visit came from."""
    host = referrer_host(event.referrer)
    traffic = classify_source(
        referrer_host=host, site_host=event.site, page_host=event.hostname,
        utm_source=event.utm_source, utm_medium=event.utm_medium,
        utm_campaign=event.utm_campaign,
    )
    own = is_internal(host, event.site, event.hostname)
    return EnrichedEvent(event=event, source=traffic.source, channel=traffic.channel,
                         referrer="" if own else event.referrer)
