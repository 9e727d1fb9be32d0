"""Reverse DNS: PTR names for an address and forward confirmation (FCrDNS).

For an IP target: PTR lookup, then for each PTR name its A and AAAA records; the address is
forward-confirmed when one of its PTR names resolves back to it. For a host name target the
name's A and AAAA records are looked up first and every address (up to MAX_ADDRESSES) gets
the same treatment.

NXDOMAIN, no data, SERVFAIL, timeout and other errors stay distinct at every step, so "this
address has no PTR" is never confused with "the PTR lookup failed".
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import dns.asyncresolver

from tui.config import Settings
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import (
    DEFINITE,
    failure_text,
    host_addresses,
    make_resolver,
    query,
    reverse_name,
)
from tui.probes.target import Target

MAX_ADDRESSES = 16  # a host name with more addresses is checked on the first 16
MAX_PTR_NAMES = 8  # forward lookups per address; more PTR names than this is unusual

Outcome = Literal["confirmed", "unconfirmed", "no_ptr", "failed"]


@dataclass(frozen=True, slots=True)
class ForwardCheck:
    """One PTR name resolved forward."""

    name: str
    rdtype: str  # the lookup that decides: A for an IPv4 address, AAAA for IPv6
    status: Status  # of that lookup
    addresses: tuple[str, ...]  # A and AAAA records of the name
    confirmed: bool  # the original address is among them
    a_status: Status
    aaaa_status: Status
    message: str
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """PTR lookup and forward confirmation for one address."""

    ip: str
    ptr_name: str  # the in-addr.arpa / ip6.arpa name asked
    ptr_status: Status
    names: tuple[str, ...]  # PTR names (lower case, no final dot)
    forward: tuple[ForwardCheck, ...]
    confirmed: bool
    outcome: Outcome
    verdict: str
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class RdnsResult:
    target: str
    kind: str  # ipv4 / ipv6 / hostname
    status: Status  # ok when every lookup gave a definite answer
    message: str  # the verdict line
    fcrdns: bool  # every checked address is forward-confirmed
    addresses: tuple[AddressCheck, ...]
    host_status: Status | None  # host name targets: outcome of the A/AAAA lookups
    host_message: str
    truncated: bool  # the host name had more than MAX_ADDRESSES addresses
    elapsed_ms: float


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def name_matches(names: Iterable[str], hostname: str) -> bool:
    """True when ``hostname`` equals one of ``names`` (case-insensitive, trailing dot
    ignored). Used to compare an SMTP greeting or HELO name with PTR names."""
    wanted = _norm(hostname or "")
    if not wanted:
        return False
    return any(_norm(n) == wanted for n in names if n)


def _same_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


async def _forward(
    resolver: dns.asyncresolver.Resolver,
    name: str,
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ForwardCheck:
    sw = Stopwatch()
    a, aaaa = await asyncio.gather(query(resolver, name, "A"), query(resolver, name, "AAAA"))
    addresses = a.records + aaaa.records
    decisive = a if ip.version == 4 else aaaa
    confirmed = any(_same_ip(r, ip) for r in addresses)
    if confirmed:
        message = f"{name} resolves back to {ip.compressed}"
        status = Status.OK
    elif decisive.status is Status.OK:
        message = f"{name} resolves to {', '.join(decisive.records)}, not {ip.compressed}"
        status = Status.OK
    elif decisive.status is Status.NXDOMAIN:
        message = f"{name} does not exist (NXDOMAIN)"
        status = Status.NXDOMAIN
    elif decisive.status is Status.NOANSWER:
        message = f"{name} has no {decisive.rdtype} record"
        status = Status.NOANSWER
    else:
        message = f"{decisive.rdtype} lookup for {name} failed: {failure_text(decisive)}"
        status = decisive.status
    return ForwardCheck(
        name=name,
        rdtype=decisive.rdtype,
        status=status,
        addresses=addresses,
        confirmed=confirmed,
        a_status=a.status,
        aaaa_status=aaaa.status,
        message=message,
        elapsed_ms=sw.ms(),
    )


async def _check_address(
    resolver: dns.asyncresolver.Resolver, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> AddressCheck:
    sw = Stopwatch()
    ptr_name = reverse_name(ip)
    ptr = await query(resolver, ptr_name, "PTR")
    shown = ip.compressed
    if ptr.status is not Status.OK:
        if ptr.status is Status.NXDOMAIN:
            outcome: Outcome = "no_ptr"
            verdict = f"no PTR for {shown} (NXDOMAIN)"
        elif ptr.status is Status.NOANSWER:
            outcome = "no_ptr"
            verdict = f"no PTR for {shown} (the name exists but has no PTR record)"
        else:
            outcome = "failed"
            verdict = f"PTR lookup for {shown} failed: {failure_text(ptr)}"
        return AddressCheck(shown, ptr_name, ptr.status, (), (), False, outcome, verdict,
                            sw.ms())
    # Duplicates and case variants need one forward lookup; RRset order is arbitrary, so
    # sort for stable output.
    names = tuple(sorted({_norm(r) for r in ptr.records if _norm(r)}))
    checked = names[:MAX_PTR_NAMES]
    forward = tuple(await asyncio.gather(*(_forward(resolver, n, ip) for n in checked)))
    confirmed_by = [f for f in forward if f.confirmed]
    if confirmed_by:
        outcome = "confirmed"
        verdict = f"FCrDNS ok: {confirmed_by[0].name} ↔ {shown}"
    elif any(f.status not in DEFINITE for f in forward):
        outcome = "failed"
        failed = next(f for f in forward if f.status not in DEFINITE)
        verdict = f"cannot confirm PTR {failed.name} for {shown}: {failed.message}"
    else:
        outcome = "unconfirmed"
        first = forward[0]
        verdict = f"PTR {first.name} does not resolve back to {shown} ({_why_not(first)})"
        if len(forward) > 1:
            verdict = (f"none of the {len(forward)} PTR names of {shown} resolves back to it "
                       f"({first.name}: {_why_not(first)})")
    return AddressCheck(shown, ptr_name, ptr.status, names, forward, bool(confirmed_by),
                        outcome, verdict, sw.ms())


def _why_not(fwd: ForwardCheck) -> str:
    if fwd.status is Status.NXDOMAIN:
        return "NXDOMAIN"
    if fwd.status is Status.NOANSWER:
        return f"no {fwd.rdtype} record"
    return "it resolves to " + ", ".join(fwd.addresses)


def _summary(checks: tuple[AddressCheck, ...]) -> str:
    if len(checks) == 1:
        return checks[0].verdict
    bad = [c for c in checks if c.outcome != "confirmed"]
    if not bad:
        pairs = ", ".join(f"{next(f.name for f in c.forward if f.confirmed)} ↔ {c.ip}"
                          for c in checks[:3])
        more = f" and {len(checks) - 3} more" if len(checks) > 3 else ""
        return f"FCrDNS ok for all {len(checks)} addresses: {pairs}{more}"
    return f"{len(bad)} of {len(checks)} addresses fail: {bad[0].verdict}"


def _overall_status(checks: tuple[AddressCheck, ...]) -> Status:
    for check in checks:
        if check.outcome == "failed":
            if check.ptr_status not in DEFINITE:
                return check.ptr_status
            for fwd in check.forward:
                if fwd.status not in DEFINITE:
                    return fwd.status
    return Status.OK


async def run(target: Target, settings: Settings) -> RdnsResult:
    """PTR + FCrDNS for an IP, or for every address of a host name."""
    sw = Stopwatch()
    resolver = make_resolver(settings)
    host_status: Status | None = None
    host_message = ""
    truncated = False
    if target.is_ip:
        addresses = [target.ip]
    else:
        addresses, host_status, host_message = await host_addresses(resolver, target.text)
        if not addresses:
            return RdnsResult(target.text, target.kind, host_status, host_message, False, (),
                              host_status, host_message, False, sw.ms())
        truncated = len(addresses) > MAX_ADDRESSES
        addresses = addresses[:MAX_ADDRESSES]
    checks = tuple(await asyncio.gather(*(_check_address(resolver, ip) for ip in addresses)))
    message = _summary(checks)
    if truncated:
        message += f" (first {MAX_ADDRESSES} addresses checked)"
    return RdnsResult(
        target=target.text,
        kind=target.kind,
        status=_overall_status(checks),
        message=message,
        fcrdns=all(c.confirmed for c in checks),
        addresses=checks,
        host_status=host_status,
        host_message=host_message,
        truncated=truncated,
        elapsed_ms=sw.ms(),
    )
