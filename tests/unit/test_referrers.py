"""processors.referrers: traffic source names and marketing channels."""

from __future__ import annotations

import pytest

from processors.referrers import CHANNELS, TrafficSource, classify_source, referrer_host

SITE = "example.com"


def classify(referrer: str = "", **utm: str) -> TrafficSource:
    """Classify a visit to SITE from a full referrer URL and UTM tags."""
    return classify_source(referrer_host=referrer_host(referrer), site_host=SITE, **utm)


# referrer_host


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        ("https://www.google.co.uk/search?q=crumbless", "google.co.uk"),
        ("https://L.Facebook.com/l.php?u=x", "l.facebook.com"),
        ("http://news.ycombinator.com/item?id=1", "news.ycombinator.com"),
        ("https://www.example.org:8443/path", "example.org"),
        ("https://example.org./", "example.org"),
        ("https://user:secret@example.org/", "example.org"),
        ("https://[2001:db8::1]:8080/", "2001:db8::1"),
        ("https://www2.example.org/", "www2.example.org"),
    ],
)
def test_referrer_host_is_the_lowercase_host_without_www(referrer: str, host: str) -> None:
    assert referrer_host(referrer) == host


@pytest.mark.parametrize(
    "referrer",
    [
        "",
        "   ",
        "not a url",
        "example.com/path",
        "//example.com/",
        "ftp://example.com/",
        "android-app://com.google.android.gm/",
        "javascript:alert(1)",
        "https://",
        "http://[::1",
        "http://exa mple.com/",
    ],
)
def test_referrer_host_is_empty_for_missing_invalid_or_non_http_referrers(referrer: str) -> None:
    assert referrer_host(referrer) == ""


# direct and self-referrals


def test_no_referrer_and_no_tags_is_direct() -> None:
    assert classify() == TrafficSource("Direct / None", "Direct")


@pytest.mark.parametrize(
    "referrer",
    ["https://example.com/pricing", "https://www.example.com/", "https://blog.example.com/post"],
)
def test_self_referral_counts_as_direct(referrer: str) -> None:
    assert classify(referrer) == TrafficSource("Direct / None", "Direct")


def test_self_referral_matches_a_www_site_host_with_a_port() -> None:
    source = classify_source(referrer_host="example.com", site_host="WWW.Example.com:8080")
    assert source == TrafficSource("Direct / None", "Direct")


def test_parent_domain_of_the_site_is_not_a_self_referral() -> None:
    source = classify_source(referrer_host="example.com", site_host="shop.example.com")
    assert source == TrafficSource("example.com", "Referral")


def test_lookalike_domain_is_not_a_self_referral() -> None:
    assert classify("https://notexample.com/") == TrafficSource("notexample.com", "Referral")


def test_utm_campaign_alone_does_not_make_a_visit_tagged() -> None:
    assert classify(utm_campaign="spring") == TrafficSource("Direct / None", "Direct")


# referrer hosts


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://www.google.com/", "Google"),
        ("https://www.google.co.uk/", "Google"),
        ("https://www.google.com.br/", "Google"),
        ("https://google.de/", "Google"),
        ("https://www.bing.com/search?q=x", "Bing"),
        ("https://duckduckgo.com/", "DuckDuckGo"),
        ("https://de.search.yahoo.com/", "Yahoo!"),
        ("https://yandex.ru/search/", "Yandex"),
        ("https://www.baidu.com/", "Baidu"),
        ("https://www.ecosia.org/", "Ecosia"),
        ("https://www.qwant.com/", "Qwant"),
        ("https://www.startpage.com/", "Startpage"),
        ("https://search.brave.com/search?q=x", "Brave Search"),
        ("https://kagi.com/search", "Kagi"),
        ("https://search.naver.com/", "Naver"),
        ("https://search.seznam.cz/", "Seznam"),
    ],
)
def test_search_engine_referrers_are_organic_search(referrer: str, source: str) -> None:
    assert classify(referrer) == TrafficSource(source, "Organic Search")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://l.facebook.com/l.php", "Facebook"),
        ("https://m.facebook.com/", "Facebook"),
        ("https://www.instagram.com/", "Instagram"),
        ("https://t.co/abc", "Twitter"),
        ("https://x.com/someone", "Twitter"),
        ("https://www.linkedin.com/feed/", "LinkedIn"),
        ("https://lnkd.in/abc", "LinkedIn"),
        ("https://old.reddit.com/r/python", "Reddit"),
        ("https://www.pinterest.de/", "Pinterest"),
        ("https://www.tiktok.com/", "TikTok"),
        ("https://bsky.app/profile/x", "Bluesky"),
        ("https://www.threads.net/", "Threads"),
        ("https://mastodon.social/@someone", "Mastodon"),
        ("https://news.ycombinator.com/item?id=1", "Hacker News"),
    ],
)
def test_social_network_referrers_are_organic_social(referrer: str, source: str) -> None:
    assert classify(referrer) == TrafficSource(source, "Organic Social")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://www.youtube.com/watch?v=1", "YouTube"),
        ("https://youtu.be/1", "YouTube"),
        ("https://vimeo.com/1", "Vimeo"),
        ("https://www.twitch.tv/x", "Twitch"),
    ],
)
def test_video_site_referrers_are_organic_video(referrer: str, source: str) -> None:
    assert classify(referrer) == TrafficSource(source, "Organic Video")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://mail.google.com/mail/u/0/", "Gmail"),
        ("https://outlook.live.com/mail/0/", "Outlook.com"),
        ("https://mail.yahoo.com/d/folders/1", "Yahoo! Mail"),
    ],
)
def test_webmail_referrers_are_email(referrer: str, source: str) -> None:
    assert classify(referrer) == TrafficSource(source, "Email")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://www.amazon.com/dp/1", "Amazon"),
        ("https://www.amazon.co.uk/dp/1", "Amazon"),
        ("https://www.ebay.de/itm/1", "eBay"),
        ("https://www.etsy.com/listing/1", "Etsy"),
    ],
)
def test_shopping_site_referrers_are_organic_shopping(referrer: str, source: str) -> None:
    assert classify(referrer) == TrafficSource(source, "Organic Shopping")


def test_google_products_that_are_not_search_are_named_referrals() -> None:
    assert classify("https://docs.google.com/document/d/1") == TrafficSource(
        "Google Docs", "Referral"
    )


def test_unknown_referrer_is_a_referral_named_by_its_host() -> None:
    assert classify("https://www.some-blog.net/post/1") == TrafficSource(
        "some-blog.net", "Referral"
    )


def test_invalid_referrer_string_counts_as_direct() -> None:
    assert classify("http://[::1") == TrafficSource("Direct / None", "Direct")


def test_referrer_host_argument_is_normalised_by_classify() -> None:
    source = classify_source(referrer_host="WWW.Google.CO.UK", site_host=SITE)
    assert source == TrafficSource("Google", "Organic Search")


# UTM tags


def test_utm_source_overrides_the_referrer_for_the_source_name() -> None:
    source = classify("https://www.google.com/", utm_source="newsletter", utm_medium="email")
    assert source == TrafficSource("Newsletter", "Email")


@pytest.mark.parametrize(
    ("utm_source", "name"),
    [
        ("fb", "Facebook"),
        ("Facebook", "Facebook"),
        ("facebook.com", "Facebook"),
        ("l.facebook.com", "Facebook"),
        ("GOOGLE", "Google"),
        ("duckduckgo", "DuckDuckGo"),
        ("ig", "Instagram"),
        ("news.ycombinator.com", "Hacker News"),
    ],
)
def test_known_utm_sources_map_to_one_name_in_any_spelling(utm_source: str, name: str) -> None:
    assert classify(utm_source=utm_source).source == name


def test_unknown_utm_source_is_shown_exactly_as_tagged() -> None:
    assert classify(utm_source="  Spring-Partner-X ") == TrafficSource(
        "Spring-Partner-X", "Referral"
    )


def test_overlong_utm_source_is_cut_to_100_characters() -> None:
    assert classify(utm_source="a" * 500).source == "a" * 100


def test_utm_tags_on_a_self_referral_still_count() -> None:
    source = classify("https://example.com/", utm_source="newsletter", utm_medium="email")
    assert source == TrafficSource("Newsletter", "Email")


@pytest.mark.parametrize(
    ("utm_source", "utm_medium", "channel"),
    [
        ("google", "cpc", "Paid Search"),
        ("bing", "ppc", "Paid Search"),
        ("google", "paid", "Paid Search"),
        ("facebook", "cpc", "Paid Social"),
        ("linkedin", "paid_social", "Paid Social"),
        ("youtube", "cpv", "Paid Video"),
        ("amazon", "cpc", "Paid Shopping"),
        ("google", "organic", "Organic Search"),
        ("facebook", "social", "Organic Social"),
        ("someblog", "social", "Organic Social"),
        ("some-network", "display", "Display"),
        ("some-network", "banner", "Display"),
        ("some-network", "cpm", "Display"),
        ("some-network", "cpc", "Cross-network"),
        ("some-network", "cross-network", "Cross-network"),
        ("partnerhub", "affiliate", "Affiliates"),
        ("crm", "email", "Email"),
        ("crm", "E-Mail", "Email"),
        ("crm", "newsletter", "Email"),
        ("twilio", "sms", "SMS"),
        ("onesignal", "push", "Push"),
        ("onesignal", "web-push", "Push"),
        ("spotify", "podcast", "Audio"),
        ("partner-site", "referral", "Referral"),
        ("tiktok", "video", "Organic Social"),
        ("creator", "video", "Organic Video"),
    ],
)
def test_utm_medium_decides_paid_organic_and_other_channels(
    utm_source: str, utm_medium: str, channel: str
) -> None:
    assert classify(utm_source=utm_source, utm_medium=utm_medium).channel == channel


def test_paid_medium_on_a_search_engine_referrer_without_source_is_paid_search() -> None:
    assert classify("https://www.google.de/", utm_medium="cpc") == TrafficSource(
        "Google", "Paid Search"
    )


def test_utm_medium_without_source_or_referrer_keeps_direct_as_the_source_name() -> None:
    assert classify(utm_medium="email") == TrafficSource("Direct / None", "Email")


def test_cross_network_campaign_wins_over_the_source() -> None:
    source = classify(utm_source="google", utm_medium="cpc", utm_campaign="PMax Cross-Network")
    assert source == TrafficSource("Google", "Cross-network")


def test_shopping_campaign_makes_paid_traffic_paid_shopping() -> None:
    source = classify(utm_source="google", utm_medium="cpc", utm_campaign="summer-shopping")
    assert source.channel == "Paid Shopping"


def test_email_utm_source_without_medium_is_email() -> None:
    assert classify(utm_source="newsletter") == TrafficSource("Newsletter", "Email")


def test_every_channel_returned_is_one_of_channels() -> None:
    mediums = ["", "cpc", "display", "email", "affiliate", "sms", "push", "audio", "organic"]
    sources = ["", "google", "facebook", "youtube", "amazon", "newsletter", "unknown"]
    referrers = ["", "https://www.google.com/", "https://blog.net/", "https://example.com/"]
    channels = {
        classify(referrer, utm_source=source, utm_medium=medium).channel
        for referrer in referrers
        for source in sources
        for medium in mediums
    }
    assert channels <= set(CHANNELS)
    assert len(CHANNELS) == 17


@pytest.mark.parametrize(("page_host", "referrer"), [
    ("example.com", "https://blog.example.com/post"),
    ("blog.example.com", "https://example.com/"),
    ("blog.example.com", "https://www.example.com/"),
    ("www.example.com", "https://shop.example.com/cart"),
])
def test_site_and_all_its_subdomains_are_internal_in_source_and_referrer(
        page_host: str, referrer: str) -> None:
    """One rule judges a self-referral: the source is Direct and the referrer is blanked
    together, never a Referral whose referrer is hidden (or the reverse)."""
    from contract.event import AnonymousEvent
    from processors.enrich import enrich

    event = AnonymousEvent(site="example.com", ts_ms=0, name="pageview", hostname=page_host,
                           pathname="/", referrer=referrer)
    enriched = enrich(event)
    assert (enriched.source, enriched.channel, enriched.referrer) == (
        "Direct / None", "Direct", "")


def test_another_site_is_still_a_referral_after_enrichment() -> None:
    from contract.event import AnonymousEvent
    from processors.enrich import enrich

    event = AnonymousEvent(site="example.com", ts_ms=0, name="pageview",
                           hostname="example.com", pathname="/",
                           referrer="https://notexample.com/x")
    enriched = enrich(event)
    assert (enriched.source, enriched.referrer) == ("notexample.com", "https://notexample.com/x")
