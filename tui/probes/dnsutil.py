"""DNS plumbing shared by the probes: a resolver built from Settings, a query helper that
turns every outcome (answer, NXDOMAIN, no data, SERVFAIL, timeout) into a value, and the
A/AAAA lookup of a host name."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import TypeVar

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from tui.config import Settings, parse_nameserver
from tui.probes.base import Status, Stopwatch

R = TypeVar("R", bound=dns.resolver.BaseResolver)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Answers that settle a question, as opposed to a lookup that failed.
DEFINITE = (Status.OK, Status.NXDOMAIN, Status.NOANSWER)


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """An async resolver using Settings.nameservers (host[:port]) or the system config."""
    return new_resolver(dns.asyncresolver.Resolver, settings)


def new_resolver(cls: type[R], settings: Settings) -> R:
    """A ``cls`` (dnspython's Resolver, async or blocking, or a subclass) asking
    Settings.nameservers, or the system's servers when none are set; no cache."""
    if settings.nameservers:
        resolver = cls(configure=False)
        nameservers: list[str] = []
        ports: dict[str, int] = {}
        for entry in settings.nameservers:
            host, port = parse_nameserver(entry)
            nameservers.append(host)
            ports[host] = port
        resolver.nameservers = nameservers
        resolver.nameserver_ports = ports
    else:
        try:
            resolver = cls()
        except dns.resolver.NoResolverConfiguration:
            resolver = cls(configure=False)
            resolver.nameservers = ["127.0.0.1"]
    resolver.timeout = settings.dns_timeout
    resolver.lifetime = settings.dns_timeout
    resolver.cache = None
    return resolver


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """The outcome of one DNS question. ``records`` holds rdata as text (TXT unquoted)."""

    name: str
    rdtype: str
    status: Status
    records: tuple[str, ...] = ()
    ttl: int | None = None
    message: str = ""
    elapsed_ms: float = 0.0


def _rdata_text(rdata: object) -> str:
    rdtype = getattr(rdata, "rdtype", None)
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return rdata.target.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}"  # type: ignore[attr-defined]
    return rdata.to_text()  # type: ignore[attr-defined]


async def query(
    resolver: dns.asyncresolver.Resolver, name: str | dns.name.Name, rdtype: str
) -> DnsAnswer:
    """Ask one question; never raises for a DNS outcome."""
    qname = name.to_text(omit_final_dot=True) if isinstance(name, dns.name.Name) else name
    sw = Stopwatch()
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(qname, rdtype, Status.NXDOMAIN, message="no such domain (NXDOMAIN)",
                         elapsed_ms=sw.ms())
    except dns.resolver.LifetimeTimeout:
        return DnsAnswer(qname, rdtype, Status.TIMEOUT,
                         message=f"no DNS answer within {resolver.lifetime:g} s",
                         elapsed_ms=sw.ms())
    except dns.resolver.NoNameservers as exc:
        text = str(exc)
        status = Status.SERVFAIL if "SERVFAIL" in text else Status.ERROR
        msg = "server failure (SERVFAIL)" if status is Status.SERVFAIL else f"DNS error: {text}"
        return DnsAnswer(qname, rdtype, status, message=msg, elapsed_ms=sw.ms())
    except dns.exception.DNSException as exc:
        return DnsAnswer(qname, rdtype, Status.ERROR, message=f"DNS error: {exc}",
                         elapsed_ms=sw.ms())
    except OSError as exc:
        return DnsAnswer(qname, rdtype, Status.ERROR, message=f"network error: {exc}",
                         elapsed_ms=sw.ms())
    rrset = answer.rrset
    if rrset is None:
        return DnsAnswer(qname, rdtype, Status.NOANSWER, message=f"no {rdtype} record",
                         elapsed_ms=sw.ms())
    records = tuple(_rdata_text(r) for r in rrset)
    return DnsAnswer(qname, rdtype, Status.OK, records=records, ttl=rrset.ttl, elapsed_ms=sw.ms())


def reverse_name(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """1.2.3.4 -> 4.3.2.1.in-addr.arpa; IPv6 -> nibbles under ip6.arpa (no final dot)."""
    return dns.reversename.from_address(str(ip)).to_text(omit_final_dot=True)


def reversed_labels(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The DNSBL form: reversed octets or nibbles without the arpa suffix."""
    addr = ipaddress.ip_address(str(ip))
    if addr.version == 4:
        return ".".join(reversed(addr.exploded.split(".")))
    return ".".join(reversed(addr.exploded.replace(":", "")))


def failure_text(answer: DnsAnswer) -> str:
    """A failed lookup in a few words: 'server failure (SERVFAIL)', 'query refused …'."""
    if answer.status is Status.SERVFAIL:
        return "server failure (SERVFAIL)"
    if "REFUSED" in answer.message:
        return "query refused (REFUSED)"
    return answer.message or answer.status.value


async def host_addresses(
    resolver: dns.asyncresolver.Resolver, host: str
) -> tuple[list[IPAddress], Status, str]:
    """A and AAAA of a host name, asked at once: (addresses, status, message). Addresses
    are deduplicated and sorted, IPv4 first, so output is stable (RRset order is not)."""
    a, aaaa = await asyncio.gather(query(resolver, host, "A"), query(resolver, host, "AAAA"))
    addresses: list[IPAddress] = []
    for record in a.records + aaaa.records:
        try:
            addr = ipaddress.ip_address(record)
        except ValueError:
            continue
        if addr not in addresses:
            addresses.append(addr)
    if addresses:
        addresses.sort(key=lambda x: (x.version, int(x)))
        failed = [x for x in (a, aaaa) if x.status not in DEFINITE]
        note = ""
        if failed:
            note = f" ({failed[0].rdtype} lookup failed: {failure_text(failed[0])})"
        return addresses, Status.OK, f"{host} has {len(addresses)} address(es){note}"
    # No address: report the more informative failure (a real error beats "no data").
    for answer in (a, aaaa):
        if answer.status not in DEFINITE:
            return [], answer.status, f"cannot resolve {host}: {failure_text(answer)}"
    if Status.NXDOMAIN in (a.status, aaaa.status):
        return [], Status.NXDOMAIN, f"{host} does not exist (NXDOMAIN)"
    return [], Status.NOANSWER, f"{host} has no A or AAAA record"
