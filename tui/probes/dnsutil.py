"""DNS plumbing shared by the probes: a resolver built from Settings, and a query helper
that turns every outcome (answer, NXDOMAIN, no data, SERVFAIL, timeout) into a value."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """An async resolver using Settings.nameservers (host[:port]) or the system config."""
    if settings.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
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
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            resolver = dns.asyncresolver.Resolver(configure=False)
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
