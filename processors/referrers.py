"""Name the traffic source of a visit and put it in a marketing channel.

A visit's *source* is a display name ("Google", "Facebook", "Hacker News", the bare
referrer host for sites we do not know, or "Direct / None"); its *channel* is one of
:data:`CHANNELS`, a simplified form of Google Analytics 4's default channel grouping,
so that numbers line up with what marketers already know.

Source, first match wins:

1. ``utm_source`` when given. A known name or alias, any case (``fb``, ``facebook``,
   ``facebook.com``, ``l.facebook.com`` → "Facebook"; ``google``/``adwords`` → "Google";
   ``newsletter`` → "Newsletter"; ``email``/``e-mail`` → "Email") becomes the canonical
   name. Anything else is shown exactly as tagged (trimmed, at most 100 characters):
   what a marketer writes in their links is what they see.
2. The referrer host, unless it is the site itself (same host, its ``www.`` variant or
   any subdomain: a self-referral is an internal click, so it counts as direct). Known
   hosts get their display name (``google.co.uk`` → "Google", ``l.facebook.com`` →
   "Facebook", ``mail.google.com`` → "Gmail"); unknown hosts are the source as they are.
3. Otherwise "Direct / None".

Channel, first match wins (GA4 order; "medium" is ``utm_medium`` lowercased; a
*paid medium* matches ``^(.*cp.*|ppc|retargeting|paid.*)$`` as in GA4, so cpc, cpm, cpv,
ppc, paid-social...):

- no utm_source/utm_medium and no (external) referrer → Direct
  (a ``utm_campaign`` alone does not make a visit tagged)
- campaign contains "cross-network", or medium is "cross-network" → Cross-network
- paid medium and (shopping source or a shopping campaign) → Paid Shopping
- paid medium and a search / social / video source → Paid Search / Paid Social / Paid Video
- medium display, banner, expandable, interstitial or cpm → Display
- any other paid medium → Cross-network (GA4's "Paid Other" has no place in CHANNELS;
  paid traffic from a network we cannot name is closest to "across networks")
- shopping source or shopping campaign → Organic Shopping
- social source, or medium social, social-network, social-media, sm → Organic Social
- video source, or medium containing "video" → Organic Video
- search source, or medium organic → Organic Search
- medium referral, app or link → Referral
- webmail / email source, or medium email, e-mail, e_mail, e mail, newsletter → Email
- medium affiliate(s) or partner(s) → Affiliates
- medium audio or podcast → Audio
- source or medium sms → SMS
- medium ending in "push", containing "mobile" or "notification" → Push
- anything else → Referral (GA4 says "Unassigned", which CHANNELS has no room for)

Hacker News counts as social, like GA4 and Plausible count it: people share and discuss
links there. AI assistants (ChatGPT, Perplexity, Gemini, Copilot) get names but stay
in Referral: GA4 has no channel for them yet. Mastodon has thousands of instances; only
the large ones are listed, the rest appear as Referral with their host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["CHANNELS", "TrafficSource", "classify_source", "referrer_host"]

CHANNELS: tuple[str, ...] = (
    "Direct", "Organic Search", "Paid Search", "Organic Social", "Paid Social", "Email",
    "Referral", "Affiliates", "Display", "Organic Video", "Paid Video", "Organic Shopping",
    "Paid Shopping", "SMS", "Audio", "Push", "Cross-network",
)  # fmt: skip

DIRECT_SOURCE = "Direct / None"
_MAX_SOURCE_LENGTH = 100


@dataclass(frozen=True, slots=True)
class TrafficSource:
    """Display name of where a visit came from, and its marketing channel."""

    source: str
    channel: str  # one of CHANNELS


# Kinds of source; the channel rules above turn a kind plus the medium into a channel.
SEARCH, SOCIAL, VIDEO, SHOPPING, EMAIL, OTHER = (
    "search", "social", "video", "shopping", "email", "other",
)  # fmt: skip

# Host (or a parent domain of it) → (display name, kind). A host matches its own entry
# or its nearest listed parent: "l.facebook.com" finds "facebook.com".
_KNOWN_HOSTS: dict[str, tuple[str, str]] = {
    # search engines (Google, Yahoo!, Yandex, Baidu... also match by brand, see below)
    "bing.com": ("Bing", SEARCH),
    "duckduckgo.com": ("DuckDuckGo", SEARCH),
    "duck.com": ("DuckDuckGo", SEARCH),
    "ya.ru": ("Yandex", SEARCH),
    "ecosia.org": ("Ecosia", SEARCH),
    "qwant.com": ("Qwant", SEARCH),
    "startpage.com": ("Startpage", SEARCH),
    "search.brave.com": ("Brave Search", SEARCH),
    "kagi.com": ("Kagi", SEARCH),
    "search.naver.com": ("Naver", SEARCH),
    "naver.com": ("Naver", SEARCH),
    "seznam.cz": ("Seznam", SEARCH),
    "sogou.com": ("Sogou", SEARCH),
    "so.com": ("360 Search", SEARCH),
    "ask.com": ("Ask", SEARCH),
    "search.aol.com": ("AOL", SEARCH),
    "mojeek.com": ("Mojeek", SEARCH),
    "swisscows.com": ("Swisscows", SEARCH),
    "metager.org": ("MetaGer", SEARCH),
    "metager.de": ("MetaGer", SEARCH),
    "presearch.com": ("Presearch", SEARCH),
    "you.com": ("You.com", SEARCH),
    "search.daum.net": ("Daum", SEARCH),
    "petalsearch.com": ("Petal Search", SEARCH),
    "coccoc.com": ("Cốc Cốc", SEARCH),
    "search.lilo.org": ("Lilo", SEARCH),
    "dogpile.com": ("Dogpile", SEARCH),
    "go.mail.ru": ("Mail.ru Search", SEARCH),
    # social networks, forums, messengers
    "facebook.com": ("Facebook", SOCIAL),
    "fb.com": ("Facebook", SOCIAL),
    "fb.me": ("Facebook", SOCIAL),
    "messenger.com": ("Facebook", SOCIAL),
    "instagram.com": ("Instagram", SOCIAL),
    "twitter.com": ("Twitter", SOCIAL),
    "t.co": ("Twitter", SOCIAL),
    "x.com": ("Twitter", SOCIAL),
    "linkedin.com": ("LinkedIn", SOCIAL),
    "lnkd.in": ("LinkedIn", SOCIAL),
    "reddit.com": ("Reddit", SOCIAL),
    "redd.it": ("Reddit", SOCIAL),
    "pinterest.com": ("Pinterest", SOCIAL),
    "pin.it": ("Pinterest", SOCIAL),
    "tiktok.com": ("TikTok", SOCIAL),
    "bsky.app": ("Bluesky", SOCIAL),
    "threads.net": ("Threads", SOCIAL),
    "threads.com": ("Threads", SOCIAL),
    "mastodon.social": ("Mastodon", SOCIAL),
    "mastodon.online": ("Mastodon", SOCIAL),
    "mstdn.social": ("Mastodon", SOCIAL),
    "fosstodon.org": ("Mastodon", SOCIAL),
    "hachyderm.io": ("Mastodon", SOCIAL),
    "infosec.exchange": ("Mastodon", SOCIAL),
    "vk.com": ("VK", SOCIAL),
    "vk.ru": ("VK", SOCIAL),
    "ok.ru": ("Odnoklassniki", SOCIAL),
    "weibo.com": ("Weibo", SOCIAL),
    "weibo.cn": ("Weibo", SOCIAL),
    "quora.com": ("Quora", SOCIAL),
    "news.ycombinator.com": ("Hacker News", SOCIAL),
    "lobste.rs": ("Lobsters", SOCIAL),
    "producthunt.com": ("Product Hunt", SOCIAL),
    "tumblr.com": ("Tumblr", SOCIAL),
    "snapchat.com": ("Snapchat", SOCIAL),
    "t.me": ("Telegram", SOCIAL),
    "web.telegram.org": ("Telegram", SOCIAL),
    "whatsapp.com": ("WhatsApp", SOCIAL),
    "wa.me": ("WhatsApp", SOCIAL),
    "discord.com": ("Discord", SOCIAL),
    "discordapp.com": ("Discord", SOCIAL),
    "slack.com": ("Slack", SOCIAL),
    "medium.com": ("Medium", SOCIAL),
    "xing.com": ("XING", SOCIAL),
    "line.me": ("LINE", SOCIAL),
    "flipboard.com": ("Flipboard", SOCIAL),
    "stackoverflow.com": ("Stack Overflow", SOCIAL),
    "dev.to": ("DEV Community", SOCIAL),
    # video
    "youtube.com": ("YouTube", VIDEO),
    "youtu.be": ("YouTube", VIDEO),
    "youtube-nocookie.com": ("YouTube", VIDEO),
    "vimeo.com": ("Vimeo", VIDEO),
    "twitch.tv": ("Twitch", VIDEO),
    "dailymotion.com": ("Dailymotion", VIDEO),
    "rumble.com": ("Rumble", VIDEO),
    "bilibili.com": ("Bilibili", VIDEO),
    "nicovideo.jp": ("Niconico", VIDEO),
    "ted.com": ("TED", VIDEO),
    # webmail
    "mail.google.com": ("Gmail", EMAIL),
    "outlook.live.com": ("Outlook.com", EMAIL),
    "outlook.office.com": ("Outlook", EMAIL),
    "outlook.office365.com": ("Outlook", EMAIL),
    "mail.yahoo.com": ("Yahoo! Mail", EMAIL),
    "mail.aol.com": ("AOL Mail", EMAIL),
    "mail.proton.me": ("Proton Mail", EMAIL),
    "mail.zoho.com": ("Zoho Mail", EMAIL),
    "mail.yandex.ru": ("Yandex Mail", EMAIL),
    "e.mail.ru": ("Mail.ru Mail", EMAIL),
    "app.fastmail.com": ("Fastmail", EMAIL),
    "app.tuta.com": ("Tuta", EMAIL),
    # shopping
    "shopping.google.com": ("Google Shopping", SHOPPING),
    "etsy.com": ("Etsy", SHOPPING),
    "walmart.com": ("Walmart", SHOPPING),
    "aliexpress.com": ("AliExpress", SHOPPING),
    "aliexpress.ru": ("AliExpress", SHOPPING),
    "target.com": ("Target", SHOPPING),
    "bestbuy.com": ("Best Buy", SHOPPING),
    "shop.app": ("Shop (Shopify)", SHOPPING),
    "otto.de": ("Otto", SHOPPING),
    "allegro.pl": ("Allegro", SHOPPING),
    "taobao.com": ("Taobao", SHOPPING),
    "tmall.com": ("Tmall", SHOPPING),
    "jd.com": ("JD.com", SHOPPING),
    "temu.com": ("Temu", SHOPPING),
    "shein.com": ("Shein", SHOPPING),
    # named, but plain referrals: Google's non-search products, AI assistants
    "docs.google.com": ("Google Docs", OTHER),
    "drive.google.com": ("Google Drive", OTHER),
    "sites.google.com": ("Google Sites", OTHER),
    "groups.google.com": ("Google Groups", OTHER),
    "play.google.com": ("Google Play", OTHER),
    "accounts.google.com": ("Google Accounts", OTHER),
    "gemini.google.com": ("Gemini", OTHER),
    "chatgpt.com": ("ChatGPT", OTHER),
    "chat.openai.com": ("ChatGPT", OTHER),
    "perplexity.ai": ("Perplexity", OTHER),
    "copilot.microsoft.com": ("Copilot", OTHER),
    "claude.ai": ("Claude", OTHER),
    "github.com": ("GitHub", OTHER),
}

# Brands with a site under many country domains: "google" matches google.com,
# google.de, google.co.uk, google.com.br and their subdomains (after _KNOWN_HOSTS,
# so mail.google.com stays Gmail).
_MULTI_COUNTRY_BRANDS: dict[str, tuple[str, str]] = {
    "google": ("Google", SEARCH),
    "yahoo": ("Yahoo!", SEARCH),
    "yandex": ("Yandex", SEARCH),
    "baidu": ("Baidu", SEARCH),
    "pinterest": ("Pinterest", SOCIAL),
    "amazon": ("Amazon", SHOPPING),
    "ebay": ("eBay", SHOPPING),
    "zalando": ("Zalando", SHOPPING),
    "idealo": ("idealo", SHOPPING),
    "rakuten": ("Rakuten", SHOPPING),
    "mercadolibre": ("Mercado Libre", SHOPPING),
    "mercadolivre": ("Mercado Libre", SHOPPING),
}
# Second-level labels under a country code: google.co.uk, amazon.com.br, yahoo.co.jp.
_COUNTRY_SECOND_LEVELS = frozenset({"co", "com", "org", "net", "ne", "or", "ac", "gob", "gov"})

# utm_source spellings that are not a display name or a host in the tables above.
_SOURCE_ALIASES: dict[str, tuple[str, str]] = {
    "fb": ("Facebook", SOCIAL),
    "meta": ("Facebook", SOCIAL),
    "ig": ("Instagram", SOCIAL),
    "tw": ("Twitter", SOCIAL),
    "x": ("Twitter", SOCIAL),
    "li": ("LinkedIn", SOCIAL),
    "hn": ("Hacker News", SOCIAL),
    "ycombinator": ("Hacker News", SOCIAL),
    "yt": ("YouTube", VIDEO),
    "ddg": ("DuckDuckGo", SEARCH),
    "adwords": ("Google", SEARCH),
    "google ads": ("Google", SEARCH),
    "google_ads": ("Google", SEARCH),
    "googleads": ("Google", SEARCH),
    "microsoft ads": ("Bing", SEARCH),
    "bingads": ("Bing", SEARCH),
    "newsletter": ("Newsletter", EMAIL),
    "email": ("Email", EMAIL),
    "e-mail": ("Email", EMAIL),
    "e_mail": ("Email", EMAIL),
    "e mail": ("Email", EMAIL),
    "mailchimp": ("Mailchimp", EMAIL),
    "sendgrid": ("SendGrid", EMAIL),
    "brevo": ("Brevo", EMAIL),
    "sms": ("SMS", OTHER),
}
# Every display name is also its own alias: utm_source=duckduckgo → "DuckDuckGo".
_SOURCE_NAMES: dict[str, tuple[str, str]] = {
    **{name.lower(): (name, kind) for name, kind in _KNOWN_HOSTS.values()},
    **{name.lower(): (name, kind) for name, kind in _MULTI_COUNTRY_BRANDS.values()},
    **_SOURCE_ALIASES,
}

_PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_SHOPPING_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
_DISPLAY_MEDIA = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_SOCIAL_MEDIA = frozenset(
    {"social", "social-network", "social-media", "sm", "social network", "social media"}
)
_REFERRAL_MEDIA = frozenset({"referral", "app", "link"})
_EMAIL_MEDIA = frozenset({"email", "e-mail", "e_mail", "e mail", "newsletter"})
_AFFILIATE_MEDIA = frozenset({"affiliate", "affiliates", "partner", "partners"})
_AUDIO_MEDIA = frozenset({"audio", "podcast"})
_PAID_KIND_CHANNELS = {SEARCH: "Paid Search", SOCIAL: "Paid Social", VIDEO: "Paid Video"}

_INVALID_HOST_CHARACTERS = re.compile(r"[\s/\\@<>\"'{}|^`%]")


def referrer_host(referrer: str) -> str:
    """Lowercase hostname of an http(s) referrer URL without "www."; "" if none or invalid."""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except (ValueError, AttributeError):
        return ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    if _INVALID_HOST_CHARACTERS.search(host):
        return ""
    return _without_www(host.rstrip("."))


def is_internal(referrer_host: str, site: str, page_host: str = "") -> bool:
    """True when a referrer host is the site itself: a click inside it, not a source.

    The one rule for self-referrals: the registered site domain and every subdomain of it
    (`www.`, `blog.`), and the page's own host and its subdomains, are internal.
    """
    host = _bare_host(referrer_host)
    if not host:
        return False
    for own in (_bare_host(site), _bare_host(page_host)):
        if own and (host == own or host.endswith("." + own)):
            return True
    return False


def classify_source(
    *,
    referrer_host: str,
    site_host: str,
    page_host: str = "",
    utm_source: str = "",
    utm_medium: str = "",
    utm_campaign: str = "",
) -> TrafficSource:
    """Source name and channel of a visit from its referrer host and UTM tags."""
    host = "" if is_internal(referrer_host, site_host, page_host) else _bare_host(referrer_host)
    tag = utm_source.strip()[:_MAX_SOURCE_LENGTH]
    medium = utm_medium.strip().lower()
    campaign = utm_campaign.strip().lower()

    if tag:
        source, kind = _source_from_tag(tag)
    elif host:
        source, kind = _source_from_host(host) or (host, OTHER)
    else:
        source, kind = DIRECT_SOURCE, ""
    if not (tag or medium or host):
        return TrafficSource(DIRECT_SOURCE, "Direct")
    return TrafficSource(source, _channel(kind, medium, campaign, tag.lower()))


def _channel(kind: str, medium: str, campaign: str, tag: str) -> str:
    """Apply the channel rules of the module docstring, in order."""
    if "cross-network" in campaign or medium == "cross-network":
        return "Cross-network"
    paid = bool(_PAID_MEDIUM.match(medium))
    shopping = kind == SHOPPING or bool(_SHOPPING_CAMPAIGN.match(campaign))
    if paid:
        if shopping:
            return "Paid Shopping"
        if kind in _PAID_KIND_CHANNELS:
            return _PAID_KIND_CHANNELS[kind]
    if medium in _DISPLAY_MEDIA:
        return "Display"
    if paid:
        return "Cross-network"
    if shopping:
        return "Organic Shopping"
    if kind == SOCIAL or medium in _SOCIAL_MEDIA:
        return "Organic Social"
    if kind == VIDEO or "video" in medium:
        return "Organic Video"
    if kind == SEARCH or medium == "organic":
        return "Organic Search"
    if medium in _REFERRAL_MEDIA:
        return "Referral"
    if kind == EMAIL or medium in _EMAIL_MEDIA:
        return "Email"
    if medium in _AFFILIATE_MEDIA:
        return "Affiliates"
    if medium in _AUDIO_MEDIA:
        return "Audio"
    if medium == "sms" or tag == "sms":
        return "SMS"
    if medium.endswith("push") or "mobile" in medium or "notification" in medium:
        return "Push"
    return "Referral"


def _source_from_tag(tag: str) -> tuple[str, str]:
    """Display name and kind for a utm_source value; unknown tags stay as written."""
    key = tag.lower()
    if key in _SOURCE_NAMES:
        return _SOURCE_NAMES[key]
    if "." in key and (known := _source_from_host(_bare_host(key))):
        return known
    return tag, OTHER


def _source_from_host(host: str) -> tuple[str, str] | None:
    """Display name and kind of a known referrer host, or None."""
    labels = host.split(".")
    for start in range(len(labels) - 1):
        if (entry := _KNOWN_HOSTS.get(".".join(labels[start:]))) is not None:
            return entry
    return _MULTI_COUNTRY_BRANDS.get(_brand_label(labels))


def _brand_label(labels: list[str]) -> str:
    """The registrable label of a host: "google" for google.de and news.google.co.uk."""
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _COUNTRY_SECOND_LEVELS:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else ""


def _bare_host(host: str) -> str:
    """Lowercase a host, drop a port, a trailing dot and a leading "www."."""
    host = host.strip().lower()
    if host.startswith("["):  # "[2001:db8::1]:8080"
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:  # "example.com:8080"; a bare IPv6 address has several
        host = host.partition(":")[0]
    return _without_www(host.rstrip("."))


def _without_www(host: str) -> str:
    """Drop one leading "www." label."""
    return host[4:] if host.startswith("www.") else host
