"""Validate what the user typed before anything reaches the wire.

``parse_target`` accepts an IPv4/IPv6 address (optionally in brackets) or a hostname /
domain, and raises TargetError (a ValueError) with a one-line reason otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

TargetKind = Literal["ipv4", "ipv6", "hostname"]

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_INPUT = 1024


class TargetError(ValueError):
    """The input is not a usable target; str(exc) is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Target:
    text: str  # normalised: lower-case hostname without trailing dot, or compressed IP
    kind: TargetKind

    @property
    def is_ip(self) -> bool:
        return self.kind != "hostname"

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        if not self.is_ip:
            raise TypeError(f"{self.text} is a hostname, not an IP address")
        return ipaddress.ip_address(self.text)

    def __str__(self) -> str:
        return self.text


def parse_target(raw: str) -> Target:
    if raw is None:
        raise TargetError("empty target: type a host name, domain or IP address")
    if len(raw) > MAX_INPUT:
        raise TargetError(f"target is {len(raw)} characters long; at most {MAX_INPUT}")
    if "\r" in raw or "\n" in raw:
        raise TargetError("target contains a line break (CR/LF)")
    if "\x00" in raw:
        raise TargetError("target contains a NUL byte")
    text = raw.strip()
    if not text:
        raise TargetError("empty target: type a host name, domain or IP address")
    if any(ch.isspace() for ch in text):
        raise TargetError(f"target {text!r} contains white space")
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if "%" in candidate:
        raise TargetError(f"{text!r}: scoped IPv6 addresses (with %zone) are not supported")
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        return Target(ip.compressed, "ipv4" if ip.version == 4 else "ipv6")
    return Target(validate_hostname(text), "hostname")


def validate_hostname(text: str) -> str:
    """Return the normalised hostname or raise TargetError naming the problem."""
    name = text.strip().rstrip(".").lower()
    if not name:
        raise TargetError("empty host name")
    if ":" in name:
        raise TargetError(f"{text!r} is neither an IP address nor a host name")
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise TargetError(f"{text!r}: not a valid internationalised domain name") from None
    if len(ascii_name) > 253:
        raise TargetError(f"host name is {len(ascii_name)} characters; at most 253")
    labels = ascii_name.split(".")
    for label in labels:
        if not label:
            raise TargetError(f"{text!r} has an empty label (two dots in a row)")
        if not _LABEL.match(label):
            raise TargetError(
                f"{text!r}: label {label!r} may only hold letters, digits and inner hyphens"
            )
    if all(label.isdigit() for label in labels):
        raise TargetError(f"{text!r} looks like an IP address but is not a valid one")
    return ascii_name
