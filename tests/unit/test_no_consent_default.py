"""The product decision of issue 10: no consent signal → counted with the daily id by default.

New sites get `full`; an explicit refusal, DNT or GPC still never gets an id; the notice
states what the site does and its legal basis, from the site's live policy.
"""

from __future__ import annotations

import pytest

from collector.consent import ConsentState, counting_mode
from contract.sites import DEFAULT_NO_CONSENT, Site
from crumbless.cli import build_parser
from crumbless.notice import NoticeFacts, render_markdown


def notice(policy: str) -> str:
    return render_markdown(NoticeFacts(
        site=Site("a.com", policy), days={"raw": 30, "sessions": 30, "hourly": 90,
                                          "daily": 760, "ids": 30},
        kafka_hours=None, salt_grace_hours=2, k_anonymity=5, geo="none",
        storage="our own server"))


def test_a_new_site_counts_traffic_without_a_consent_signal_with_the_daily_id() -> None:
    assert DEFAULT_NO_CONSENT == "full" and Site("a.com").no_consent == "full"
    assert counting_mode(ConsentState(), Site("a.com").no_consent, False) == "full"


def test_refusal_dnt_and_gpc_never_get_an_id_under_the_new_default() -> None:
    assert counting_mode(ConsentState(analytics=False), DEFAULT_NO_CONSENT, False) == "anonymous"
    assert counting_mode(ConsentState(), DEFAULT_NO_CONSENT, True) == "anonymous"
    assert counting_mode(ConsentState(analytics=True), DEFAULT_NO_CONSENT, True) == "anonymous"


def test_cli_sites_add_leaves_the_policy_unset_so_existing_sites_keep_theirs() -> None:
    args = build_parser().parse_args(["sites", "add", "a.com"])
    assert args.no_consent is None


@pytest.mark.parametrize(("policy", "basis", "absent"), [
    ("full", "legitimate interest in knowing how this site is used (GDPR Art. 6(1)(f))",
     "only with your consent"),
    ("anonymous", "with the daily identifier only with your consent (GDPR Art. 6(1)(a))",
     "legitimate interest in knowing"),
    ("drop", "We measure visits only with your consent (GDPR Art. 6(1)(a))",
     "legitimate interest"),
])
def test_notice_states_the_sites_no_consent_practice_and_its_legal_basis(
        policy: str, basis: str, absent: str) -> None:
    text = notice(policy)
    legal = text.split("### Legal basis")[1].split("###")[0]
    assert basis in legal and absent not in legal
    assert ("counted with the daily identifier" in text) == (policy == "full")
