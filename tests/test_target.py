"""Target validation: what the user typed is checked before anything reaches the wire."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.probes.target import TargetError, parse_target


@pytest.mark.parametrize(
    ("raw", "text", "kind"),
    [
        ("192.0.2.1", "192.0.2.1", "ipv4"),
        ("  192.0.2.1 ", "192.0.2.1", "ipv4"),
        ("2001:DB8::1", "2001:db8::1", "ipv6"),
        ("[2001:db8::1]", "2001:db8::1", "ipv6"),
        ("Mail.Example.COM.", "mail.example.com", "hostname"),
        ("_dmarc.example.com", "_dmarc.example.com", "hostname"),
        ("bücher.example", "xn--bcher-kva.example", "hostname"),
        ("localhost", "localhost", "hostname"),
    ],
)
def test_accepts(raw: str, text: str, kind: str) -> None:
    target = parse_target(raw)
    assert (target.text, target.kind) == (text, kind)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("mx.example.com\r\nMAIL FROM:<x>", "CR/LF"),
        ("mx.example.com\n", "CR/LF"),
        ("a b.example", "white space"),
        ("mx..example.com", "empty label"),
        ("-mx.example.com", "label"),
        ("mx.exa$mple.com", "label"),
        ("999.1.1.1", "not a valid one"),
        ("1.2.3", "not a valid one"),
        ("fe80::1%eth0", "scoped"),
        ("a" * 64 + ".example", "label"),
        ("x" * 2000, "at most"),
        ("1:2:3", "neither an IP address nor a host name"),
        ("mx\x00.example", "NUL"),
    ],
)
def test_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        parse_target(raw)


def test_ip_property() -> None:
    assert str(parse_target("::1").ip) == "::1"
    with pytest.raises(TypeError):
        _ = parse_target("example.com").ip


@given(st.text(max_size=300))
def test_arbitrary_text_is_a_target_or_a_target_error(raw: str) -> None:
    try:
        target = parse_target(raw)
    except TargetError as exc:
        assert str(exc)
    else:
        assert "\n" not in target.text and "\r" not in target.text and " " not in target.text
