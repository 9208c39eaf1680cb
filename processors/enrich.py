"""Enrichment: traffic source and channel from referrer and UTM, with no I/O."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from contract.wire import EventFields
from processors.referrers import classify_source, is_internal, referrer_host


class EnrichedEvent(NamedTuple):
    """An anonymous event plus what the processors derive from it.

    A NamedTuple, immutable like a frozen dataclass but built in C: one is made per event.
    """

    event: EventFields  # an AnonymousEvent or its msgspec twin (contract/wire.py)
    source: str
    channel: str
    referrer: str  # "" for direct traffic and self-referrals


def enrich(event: EventFields) -> EnrichedEvent:
    """Classify where the event's visit came from."""
    source, channel, referrer = traffic_of(
        event.referrer, event.site, event.hostname, event.utm_source, event.utm_medium,
        event.utm_campaign)
    return EnrichedEvent(event=event, source=source, channel=channel, referrer=referrer)


@lru_cache(maxsize=65_536)
def traffic_of(referrer: str, site: str, hostname: str, utm_source: str, utm_medium: str,
               utm_campaign: str) -> tuple[str, str, str]:
    """(source, channel, stored referrer) of one combination; cached, being pure.

    Real traffic repeats a few thousand combinations (mostly no referrer at all), so the
    URL parsing and classification run once per combination, not once per event.
    """
    host = referrer_host(referrer)
    traffic = classify_source(
        referrer_host=host, site_host=site, page_host=hostname,
        utm_source=utm_source, utm_medium=utm_medium, utm_campaign=utm_campaign,
    )
    own = is_internal(host, site, hostname)
    return traffic.source, traffic.channel, "" if own else referrer
