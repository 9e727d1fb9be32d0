"""Validate SMTP envelope addresses before any of them reaches the wire.

Two levels of checking:

* ``validate_mailbox`` — a user-supplied address (``--mail-from``, ``--rcpt-to``,
  Settings.relay_mail_from / relay_rcpt_to) must be an RFC 5321 Mailbox: a dot-atom or
  quoted-string local part of at most 64 octets, ``@``, then a domain name or an address
  literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``); at most 254 octets in all. The null
  sender ``<>`` is accepted only when ``allow_null`` (MAIL FROM). Non-ASCII is accepted
  only with ``utf8=True`` (the server offers SMTPUTF8, RFC 6531).
* ``check_path`` — the deliberately odd forms the relay probe builds (``user%ext@[ip]``,
  ``@host:user@ext``, ``ext!user``, ``"user@ext"`` …) are not all valid mailboxes, so they
  get the wire-safety part only: no CR/LF/NUL or other control characters, no white space
  outside quotes, balanced quotes, no angle brackets, ASCII unless ``utf8``, bounded length.

Every failure raises AddressError (a ValueError) whose message is one line.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass

MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1
MAX_MAILBOX = 254  # RFC 5321 path limit (256) minus the angle brackets
MAX_DOMAIN = 253  # DNS text form without the final dot
MAX_LABEL = 63
MAX_PATH = 256  # RFC 5321 4.5.3.1.3, for the probe's built forms
MAX_INPUT = 1024  # refuse to even look at longer input

# RFC 5322 atext (RFC 5321 Atom): letters, digits and these specials.
_ATEXT_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~")
_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_IPV6_PREFIX = "ipv6:"


class AddressError(ValueError):
    """The address cannot be used; str(exc) is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A validated envelope address. The null sender has empty local and domain."""

    local: str  # as written, including the quotes of a quoted-string
    domain: str  # as written: a domain name or "[…]" address literal

    @property
    def is_null(self) -> bool:
        return not self.local and not self.domain

    @property
    def quoted(self) -> bool:
        return self.local.startswith('"')

    @property
    def is_literal(self) -> bool:
        return self.domain.startswith("[")

    @property
    def text(self) -> str:
        return "" if self.is_null else f"{self.local}@{self.domain}"

    @property
    def path(self) -> str:
        """The SMTP reverse-/forward-path form: ``<local@domain>`` or ``<>``."""
        return f"<{self.text}>"

    def __str__(self) -> str:
        return self.text


def _octets(text: str) -> int:
    return len(text.encode("utf-8"))


def _is_atext(ch: str, utf8: bool) -> bool:
    if ch.isascii():
        return ch.isalnum() or ch in _ATEXT_SPECIALS
    return utf8  # RFC 6531: any UTF8-non-ascii is atext (controls were refused earlier)


def _check_characters(text: str, utf8: bool, what: str) -> None:
    """The wire-safety checks shared by every entry point."""
    if "\r" in text or "\n" in text:
        raise AddressError(f"{what} contains a line break (CR/LF)")
    if "\x00" in text:
        raise AddressError(f"{what} contains a NUL byte")
    if len(text) > MAX_INPUT:
        raise AddressError(f"{what} is {len(text)} characters long; at most {MAX_INPUT}")
    if not text.isascii():
        if not utf8:
            raise AddressError(
                f"{what} contains non-ASCII characters and the server does not offer SMTPUTF8"
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise AddressError(f"{what} is not valid Unicode (lone surrogate)") from None
    in_quotes = escaped = False
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise AddressError(f"{what} contains a control character ({ch!r})")
        if escaped:
            escaped = False
        elif in_quotes and ch == "\\":
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
        elif not in_quotes and (ch.isspace() or category[0] == "Z"):
            raise AddressError(f"{what} contains white space outside quotes")
    if in_quotes:
        raise AddressError(f"{what} has an unterminated quoted string")


def _parse_quoted(text: str, utf8: bool) -> int:
    """Index just after the closing quote of the quoted string at text[0]."""
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if not (nxt.isascii() and 32 <= ord(nxt) <= 126):
                raise AddressError(f"bad quoted pair \\{nxt!r} in the local part")
            i += 2
            continue
        if ch == '"':
            return i + 1
        if ch.isascii() and not 32 <= ord(ch) <= 126:
            raise AddressError(f"character {ch!r} is not allowed in a quoted local part")
        if not ch.isascii() and not utf8:
            raise AddressError("non-ASCII in the local part and the server does not offer SMTPUTF8")
        i += 1
    raise AddressError("unterminated quoted local part")


def _check_dot_string(local: str, utf8: bool) -> None:
    if not local:
        raise AddressError("empty local part before '@'")
    for atom in local.split("."):
        if not atom:
            raise AddressError(f"local part {local!r} has an empty atom (leading, trailing or double dot)")
        for ch in atom:
            if not _is_atext(ch, utf8):
                raise AddressError(
                    f"character {ch!r} is not allowed in an unquoted local part "
                    "(quote the local part to use it)"
                )


def validate_domain(text: str, *, utf8: bool = False, allow_literal: bool = True) -> str:
    """A domain name (LDH labels, or U-labels with ``utf8``) or, with ``allow_literal``, an
    address literal ``[IPv4]`` / ``[IPv6:…]``. Returns it unchanged. Raises AddressError."""
    if not isinstance(text, str):
        raise AddressError("domain is not text")
    _check_characters(text, utf8, "domain")
    if not text:
        raise AddressError("empty domain")
    if text.startswith("["):
        if not allow_literal:
            raise AddressError(f"{text!r}: an address literal is not allowed here")
        _check_literal(text)
        return text
    _check_domain_name(text, utf8)
    return text


def _check_literal(text: str) -> None:
    if not text.endswith("]") or len(text) < 3:
        raise AddressError(f"address literal {text!r} must end with ']'")
    inner = text[1:-1]
    if inner[: len(_IPV6_PREFIX)].lower() == _IPV6_PREFIX:
        body = inner[len(_IPV6_PREFIX) :]
        if "%" in body:
            raise AddressError(f"{text!r}: scoped IPv6 addresses are not allowed")
        try:
            ipaddress.IPv6Address(body)
        except ValueError:
            raise AddressError(f"{text!r}: not a valid IPv6 address literal") from None
        return
    if ":" in inner:
        # RFC 5321 General-address-literal (tag:content) names no usable protocol here.
        raise AddressError(f"{text!r}: only [IPv4] and [IPv6:…] address literals are allowed")
    parts = inner.split(".")
    if len(parts) != 4 or not all(
        p.isascii() and p.isdigit() and 1 <= len(p) <= 3 and int(p) <= 255 for p in parts
    ):
        raise AddressError(f"{text!r}: not a valid IPv4 address literal")


def _check_domain_name(text: str, utf8: bool) -> None:
    labels = text.split(".")
    ascii_labels: list[str] = []
    for label in labels:
        if not label:
            raise AddressError(f"domain {text!r} has an empty label (leading, trailing or double dot)")
        if label.isascii():
            ascii_label = label
        else:
            try:
                ascii_label = label.encode("idna").decode("ascii")
            except UnicodeError:
                raise AddressError(f"domain label {label!r} is not a valid internationalised label") from None
        if not _LDH_LABEL.match(ascii_label):
            raise AddressError(
                f"domain label {label!r} may only hold letters, digits and inner hyphens "
                f"(1-{MAX_LABEL} characters)"
            )
        ascii_labels.append(ascii_label)
    ascii_name = ".".join(ascii_labels)
    if len(ascii_name) > MAX_DOMAIN:
        raise AddressError(f"domain is {len(ascii_name)} characters; at most {MAX_DOMAIN}")
    if all(label.isdigit() for label in ascii_labels):
        # Legal by the grammar, but "user@192.0.2.1" means the literal [192.0.2.1].
        raise AddressError(f"domain {text!r} looks like an IP address: write it as [{text}]")


def validate_mailbox(text: str, *, utf8: bool = False, allow_null: bool = False) -> Mailbox:
    """Parse one envelope address, with or without the surrounding ``<>``.

    ``allow_null``: accept ``<>`` (or an empty string), the null reverse-path, which only
    MAIL FROM may carry. Raises AddressError with a one-line reason.
    """
    if not isinstance(text, str):
        raise AddressError("address is not text")
    _check_characters(text, utf8, "address")
    body = text
    if body.startswith("<") or body.endswith(">"):
        if not (body.startswith("<") and body.endswith(">") and len(body) >= 2):
            raise AddressError("unbalanced angle brackets around the address")
        body = body[1:-1]
    if not body:
        if allow_null:
            return Mailbox("", "")
        raise AddressError("the null address <> is only allowed as the sender (MAIL FROM)")
    if body.startswith("@"):
        raise AddressError("source routes (@host:…) are not accepted in an address you supply")
    if body.startswith('"'):
        end = _parse_quoted(body, utf8)
        local, rest = body[:end], body[end:]
        if not rest.startswith("@"):
            raise AddressError("a quoted local part must be followed by '@domain'")
        domain = rest[1:]
    else:
        local, at, domain = body.partition("@")
        if not at:
            raise AddressError(f"{body!r} has no '@domain'")
        _check_dot_string(local, utf8)
    if _octets(local) > MAX_LOCAL:
        raise AddressError(f"local part is {_octets(local)} octets; at most {MAX_LOCAL}")
    if "@" in domain and not domain.startswith("["):
        raise AddressError(f"{body!r} has more than one '@' outside quotes")
    validate_domain(domain, utf8=utf8)
    if _octets(body) > MAX_MAILBOX:
        raise AddressError(f"address is {_octets(body)} octets; at most {MAX_MAILBOX}")
    return Mailbox(local, domain)


def check_path(text: str, *, utf8: bool = False) -> str:
    """Wire-safety check for a built path body (what goes between ``<`` and ``>``).

    The relay probe deliberately builds non-standard forms, so this checks only what keeps
    the command line intact: no CR/LF/NUL/control characters, no white space outside
    quotes, balanced quotes, no angle brackets, ASCII unless ``utf8``, at most 256 octets.
    """
    if not isinstance(text, str):
        raise AddressError("path is not text")
    _check_characters(text, utf8, "path")
    in_quotes = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif in_quotes and ch == "\\":
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
        elif not in_quotes and ch in "<>":
            raise AddressError("path contains an angle bracket outside quotes")
    if _octets(text) > MAX_PATH:
        raise AddressError(f"path is {_octets(text)} octets; at most {MAX_PATH}")
    return text
