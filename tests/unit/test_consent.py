"""The consent gate: DNT, GPC and consent categories decided on the server."""

import pytest
from werkzeug.datastructures import Headers

from collector.consent import ConsentState, counting_mode, opted_out, parse_consent
from contract.errors import BadRequest, DropEvent

GRANTED, DENIED, UNSET = ConsentState(True), ConsentState(False), ConsentState()


@pytest.mark.parametrize(("consent", "policy", "opt_out", "expected"), [
    (GRANTED, "drop", False, "full"),
    (GRANTED, "anonymous", False, "full"),
    (GRANTED, "full", False, "full"),
    (UNSET, "drop", False, "drop"),
    (UNSET, "anonymous", False, "anonymous"),
    (UNSET, "full", False, "full"),
    (DENIED, "drop", False, "drop"),
    (DENIED, "anonymous", False, "anonymous"),
    (DENIED, "full", False, "anonymous"),  # an explicit refusal is never counted with an id
    (GRANTED, "full", True, "anonymous"),  # DNT/GPC win over whatever the tracker sent
    (UNSET, "full", True, "anonymous"),
    (UNSET, "drop", True, "drop"),
    (GRANTED, "drop", True, "drop"),
])
def test_consent_matrix(consent: ConsentState, policy: str, opt_out: bool, expected: str) -> None:
    if expected == "drop":
        with pytest.raises(DropEvent):
            counting_mode(consent, policy, opt_out)
    else:
        assert counting_mode(consent, policy, opt_out) == expected


@pytest.mark.parametrize("headers", [{"DNT": "1"}, {"dnt": "1"}, {"Sec-GPC": "1"},
                                     {"sec-gpc": " 1 "}])
def test_dnt_and_gpc_headers_are_read_case_insensitively(headers: dict[str, str]) -> None:
    assert opted_out(Headers(headers))


@pytest.mark.parametrize("headers", [{}, {"DNT": "0"}, {"Sec-GPC": "0"}, {"DNT": "yes"}])
def test_other_header_values_are_not_an_opt_out(headers: dict[str, str]) -> None:
    assert not opted_out(Headers(headers))


def test_consent_object_parses_categories() -> None:
    state = parse_consent({"analytics": True, "marketing": False})
    assert state == ConsentState(True, False) and state.label == "granted"
    assert parse_consent(None).label == "unset"
    assert parse_consent({"analytics": False}).label == "denied"


@pytest.mark.parametrize("raw", ["yes", ["analytics"], {"analytics": "true"},
                                 {f"c{i}": True for i in range(17)}])
def test_malformed_consent_is_a_bad_request(raw: object) -> None:
    with pytest.raises(BadRequest, match="consent"):
        parse_consent(raw)
