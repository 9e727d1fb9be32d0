"""The envelope-address validator: RFC 5321 mailbox syntax, the null sender, SMTPUTF8, and
the wire-safety check for the relay probe's built forms."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tui.probes.address import (
    MAX_LOCAL,
    AddressError,
    check_path,
    validate_domain,
    validate_mailbox,
)


@pytest.mark.parametrize(
    ("text", "local", "domain"),
    [
        ("user@example.com", "user", "example.com"),
        ("<user@example.com>", "user", "example.com"),
        ("first.last+tag@sub.example.org", "first.last+tag", "sub.example.org"),
        ("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~", "example.com"),
        ('"john doe"@example.com', '"john doe"', "example.com"),
        ('"a\\"b\\\\c"@example.com', '"a\\"b\\\\c"', "example.com"),
        ('"user@ext"@example.com', '"user@ext"', "example.com"),
        ("postmaster@[192.0.2.1]", "postmaster", "[192.0.2.1]"),
        ("postmaster@[IPv6:2001:db8::1]", "postmaster", "[IPv6:2001:db8::1]"),
        ("postmaster@[ipv6:::1]", "postmaster", "[ipv6:::1]"),
        ("x@localhost", "x", "localhost"),
        ("x@Mail-1.Example.COM", "x", "Mail-1.Example.COM"),
        ("a" * MAX_LOCAL + "@example.com", "a" * MAX_LOCAL, "example.com"),
    ],
)
def test_valid_mailboxes(text: str, local: str, domain: str) -> None:
    box = validate_mailbox(text)
    assert (box.local, box.domain) == (local, domain)
    assert box.path == f"<{local}@{domain}>"
    assert not box.is_null


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("user@example.com\r\nDATA", "CR/LF"),
        ("user@example.com\n", "CR/LF"),
        ("user\r@example.com", "CR/LF"),
        ("us\x00er@example.com", "NUL"),
        ("us\ter@example.com", "control character"),
        ("user name@example.com", "white space outside quotes"),
        ("user@exa mple.com", "white space outside quotes"),
        (" user@example.com", "white space outside quotes"),
        ("user\u3000x@example.com", "non-ASCII"),
        ("üser@example.com", "non-ASCII"),
        ("user@bücher.example", "non-ASCII"),
        ("", "null address"),
        ("<>", "null address"),
        ("user", "no '@domain'"),
        ("user@", "empty domain"),
        ("@example.com", "source routes"),
        ("@relay.example:user@example.com", "source routes"),
        ("a..b@example.com", "empty atom"),
        (".a@example.com", "empty atom"),
        ("a.@example.com", "empty atom"),
        ("a(b)@example.com", "not allowed in an unquoted local part"),
        ("a\\b@example.com", "not allowed in an unquoted local part"),
        ("a@b@example.com", "more than one '@'"),
        ('"unterminated@example.com', "unterminated quoted"),
        ('"a"b@example.com', "followed by '@domain'"),
        ('"a\x7f"@example.com', "control character"),
        ("a" * (MAX_LOCAL + 1) + "@example.com", "local part is 65 octets"),
        ("a@" + ".".join(["b" * 63] * 4), "characters; at most 253"),
        ("a" * 60 + "@" + ".".join(["b" * 60] * 4), "at most 254"),
        ("a@-example.com", "letters, digits and inner hyphens"),
        ("a@example-.com", "letters, digits and inner hyphens"),
        ("a@exa_mple.com", "letters, digits and inner hyphens"),
        ("a@" + "b" * 64 + ".com", "letters, digits and inner hyphens"),
        ("a@example..com", "empty label"),
        ("a@example.com.", "empty label"),
        ("a@192.0.2.1", "looks like an IP address"),
        ("a@[192.0.2.256]", "not a valid IPv4"),
        ("a@[192.0.2]", "not a valid IPv4"),
        ("a@[IPv6:2001:db8::g]", "not a valid IPv6"),
        ("a@[IPv6:fe80::1%eth0]", "scoped"),
        ("a@[2001:db8::1]", r"only \[IPv4\] and \[IPv6:"),
        ("a@[192.0.2.1", "must end with ']'"),
        ("<a@example.com", "unbalanced angle brackets"),
        ("a@example.com>", "unbalanced angle brackets"),
        ("x" * 5000, "at most 1024"),
    ],
)
def test_invalid_mailboxes(text: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason) as info:
        validate_mailbox(text)
    assert "\n" not in str(info.value)


def test_null_sender_only_when_allowed() -> None:
    for text in ("<>", ""):
        assert validate_mailbox(text, allow_null=True).is_null
        assert validate_mailbox(text, allow_null=True).path == "<>"
        with pytest.raises(AddressError, match="only allowed as the sender"):
            validate_mailbox(text)


def test_smtputf8_flag_allows_international_addresses() -> None:
    box = validate_mailbox("üser@bücher.example", utf8=True)
    assert (box.local, box.domain) == ("üser", "bücher.example")
    assert validate_mailbox('"jö doe"@example.com', utf8=True).quoted
    with pytest.raises(AddressError, match="non-ASCII"):
        validate_mailbox('"jö doe"@example.com')
    # Even with SMTPUTF8: no Unicode line/paragraph separators, no lone surrogates, no
    # non-ASCII white space outside quotes, no invalid IDN label, octet limits in UTF-8.
    for bad, reason in [
        ("a\u2028b@example.com", "control character"),
        ("a\ud800@example.com", "control character|surrogate"),
        ("a\u3000b@example.com", "white space"),
        ("a@xn--\u00fc.example", "internationalised|letters"),
        ("ü" * 33 + "@example.com", "66 octets"),
    ]:
        with pytest.raises(AddressError, match=reason):
            validate_mailbox(bad, utf8=True)


def test_validate_domain() -> None:
    assert validate_domain("mx.example.com") == "mx.example.com"
    assert validate_domain("[127.0.0.1]") == "[127.0.0.1]"
    with pytest.raises(AddressError, match="not allowed here"):
        validate_domain("[127.0.0.1]", allow_literal=False)
    with pytest.raises(AddressError, match="CR/LF"):
        validate_domain("mx.example.com\r\nQUIT")
    with pytest.raises(AddressError, match="empty domain"):
        validate_domain("")


@pytest.mark.parametrize(
    "form",
    [
        "user%ext.example@[192.0.2.1]",
        '"user@ext.example"',
        '"user@ext.example"@[IPv6:2001:db8::1]',
        "user@ext.example@mx.example.com",
        "@[192.0.2.1]:user@ext.example",
        "ext.example!user@mx.example.com",
        '"a <b>"@x.example',
    ],
)
def test_check_path_accepts_relay_forms(form: str) -> None:
    assert check_path(form) == form


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ("user@ext\r\nDATA", "CR/LF"),
        ("user@ext\x00", "NUL"),
        ("user @ext", "white space"),
        ('"user@ext', "unterminated"),
        ("user>@ext", "angle bracket"),
        ("<user@ext", "angle bracket"),
        ("ü@ext", "non-ASCII"),
        ("a" * 257, "at most 256"),
    ],
)
def test_check_path_refuses_unsafe_forms(form: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        check_path(form)


# -- properties -----------------------------------------------------------------------------


@given(st.text(max_size=300), st.booleans(), st.booleans())
@example("\ud800@x.example", True, False)  # a lone surrogate cannot be encoded
@example("a@xn--.example", True, False)
@example('"\\', False, True)
@example("a@[IPv6:", False, False)
def test_arbitrary_text_only_raises_address_error(text: str, utf8: bool, allow_null: bool) -> None:
    for call in (
        lambda: validate_mailbox(text, utf8=utf8, allow_null=allow_null),
        lambda: validate_domain(text, utf8=utf8),
        lambda: check_path(text, utf8=utf8),
    ):
        try:
            call()
        except AddressError as exc:
            assert str(exc) and "\n" not in str(exc)


@given(st.text(max_size=200))
def test_accepted_addresses_are_wire_safe(text: str) -> None:
    """Whatever is accepted can be put on an SMTP command line without breaking it."""
    try:
        box = validate_mailbox(text, allow_null=True)
    except AddressError:
        return
    path = box.path
    assert path.isascii()
    assert not any(ch in path for ch in "\r\n\x00")
    assert len(path.encode()) <= 256
    check_path(box.text)  # a valid mailbox passes the looser check too


_ATEXT = st.sampled_from("abcxyzABC0189!#$%&'*+-/=?^_`{|}~")
_ATOM = st.text(_ATEXT, min_size=1, max_size=8)
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(
    st.lists(_ATOM, min_size=1, max_size=4),
    st.lists(_LABEL, min_size=1, max_size=4).filter(lambda ls: not all(x.isdigit() for x in ls)),
)
def test_generated_rfc5321_mailboxes_are_accepted(atoms: list[str], labels: list[str]) -> None:
    local, domain = ".".join(atoms), ".".join(labels)
    box = validate_mailbox(f"{local}@{domain}")
    assert (box.local, box.domain) == (local, domain)


@given(st.ip_addresses())
def test_address_literals_round_trip(ip: object) -> None:
    literal = f"[IPv6:{ip}]" if ":" in str(ip) else f"[{ip}]"
    assert validate_mailbox(f"postmaster@{literal}").domain == literal
