"""Diagnose: one domain or host end to end — MX → addresses → every check on each address.

A domain's MX records are looked up (no MX: the name itself, RFC 5321 §5.1 implicit MX);
each exchange's A/AAAA addresses (at most MAX_ADDRESSES in all) then get every check
concurrently: ping summary, PTR/FCrDNS, whois, GeoIP, ports, SMTP greeting + MTA, relay
verdict, DNSBL. Each finished check becomes a Cell with a level (pass / warn / fail /
info) and a one-line summary, reported through ``on_cell`` as it completes, so a verdict
table can fill cell by cell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tui.config import Settings
from tui.probes import dnsbl, geoip, ping, ports, rdns, relay, smtp, whois
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import make_resolver, query
from tui.probes.target import Target, TargetError, parse_target

CHECKS: tuple[str, ...] = ("ping", "rdns", "whois", "geoip", "ports", "smtp", "relay", "dnsbl")
MAX_ADDRESSES = 8
MAX_PARALLEL = 12  # checks in flight at once, over all addresses
PING_COUNT = 3

Level = Literal["pass", "warn", "fail", "info"]
_RANK: dict[str, int] = {"pass": 0, "info": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True, slots=True)
class MxHost:
    preference: int | None  # None: implicit MX (the name itself) or an address target
    name: str
    addresses: tuple[str, ...]
    status: Status  # of the address lookup
    message: str


@dataclass(frozen=True, slots=True)
class Cell:
    ip: str
    check: str
    level: Level
    summary: str
    result: Any  # the probe's own result dataclass


@dataclass(frozen=True, slots=True)
class DiagnoseResult:
    target: str
    status: Status
    message: str
    mx_status: Status | None  # None for an address target
    mx: tuple[MxHost, ...]
    cells: tuple[Cell, ...]
    problems: tuple[str, ...]  # "open relay on 127.0.3.25", …
    elapsed_ms: float

    def cell(self, ip: str, check: str) -> Cell | None:
        return next((c for c in self.cells if c.ip == ip and c.check == check), None)


# -- per-check summaries -------------------------------------------------------------------------


def _ping(r: ping.PingResult) -> tuple[Level, str]:
    if r.received:
        level: Level = "pass" if r.loss_pct == 0 else "warn"
        return level, f"{r.loss_pct:.0f} % loss, avg {r.avg_ms:.2f} ms ({r.method})"
    return "warn", f"no reply ({r.method or 'no method'}): {r.message}"


def _rdns(r: rdns.RdnsResult) -> tuple[Level, str]:
    if r.fcrdns:
        return "pass", r.message
    return ("fail" if r.status is Status.OK else "warn"), r.message


def _whois(r: whois.WhoisResult) -> tuple[Level, str]:
    if r.status is not Status.OK:
        return "warn", r.message
    if r.special_range:
        return "info", f"{r.special_range}: no public registration"
    abuse = ", ".join(r.abuse_emails) or "no abuse contact"
    return "info", f"AS{r.asn or '?'} {r.org_name or r.network_name or ''}; {abuse}".strip()


def _geoip(r: geoip.GeoipResult) -> tuple[Level, str]:
    if r.status is Status.OK:
        place = ", ".join(x for x in (r.city, r.country_name) if x)
        return "info", f"{r.country_code} {place}".strip()
    return "warn", r.message


def _ports(r: ports.PortsResult) -> tuple[Level, str]:
    if r.cert_problems or r.tls_failed:
        return "fail", r.message
    if not r.open:
        return "fail", r.message
    return ("warn" if r.expiring else "pass"), r.message


def _smtp(r: smtp.SmtpResult) -> tuple[Level, str]:
    if not r.answered:
        return "fail", r.message
    mta = r.mta
    name = mta.product or mta.category
    version = f" {mta.version}" if mta.version else ""
    first = r.greeting[0] if r.greeting else ""
    return "info", f"{name}{version} [{mta.category}] — {first[:60]}"


def relay_headline(r: relay.RelayResult) -> str:
    """The verdict in capitals, then the probe's explanation (without saying it twice)."""
    label = r.verdict.replace("-", " ").upper()
    text = r.message
    if text.upper().startswith(label):
        text = text[len(label):].lstrip(" :—-")
    return f"{label}: {text}" if text else label


def _relay(r: relay.RelayResult) -> tuple[Level, str]:
    level: Level = {"open-relay": "fail", "closed": "pass", "auth-required": "pass"}.get(
        r.verdict, "warn")  # type: ignore[assignment]
    return level, relay_headline(r)


def _dnsbl(r: dnsbl.DnsblResult) -> tuple[Level, str]:
    if r.listed:
        return "fail", r.message
    if r.counts.error or r.counts.timeout or r.status is not Status.OK:
        return "warn", r.message
    return "pass", r.message


# What a finished result means at a glance; the tabs use the same judgement.
SUMMARIES: dict[str, Callable[[Any], tuple[Level, str]]] = {
    "ping": _ping, "rdns": _rdns, "whois": _whois, "geoip": _geoip, "ports": _ports,
    "smtp": _smtp, "relay": _relay, "dnsbl": _dnsbl,
}


def _checks(settings: Settings, names: dict[str, str]
            ) -> dict[str, Callable[[Target], Awaitable[Any]]]:
    """How each check runs; ``names`` maps an address to its MX name for certificate checks.
    SUMMARIES judges the results."""
    return {
        "ping": lambda t: ping.run(t, settings, count=PING_COUNT,
                                   interval=min(settings.ping_interval, 0.2)),
        "rdns": lambda t: rdns.run(t, settings),
        "whois": lambda t: whois.run(t, settings),
        "geoip": lambda t: geoip.run(t, settings),
        "ports": lambda t: ports.run(t, settings, expected_host=names.get(t.text)),
        "smtp": lambda t: smtp.run(t, settings, port=settings.smtp_port),
        "relay": lambda t: relay.run(t, settings),
        "dnsbl": lambda t: dnsbl.run(t, settings),
    }


# -- MX and addresses --------------------------------------------------------------------------


async def _addresses(resolver: Any, name: str) -> tuple[tuple[str, ...], Status, str]:
    a, aaaa = await asyncio.gather(query(resolver, name, "A"), query(resolver, name, "AAAA"))
    found = tuple(sorted(a.records)) + tuple(sorted(aaaa.records))
    if found:
        return found, Status.OK, ""
    worst = a if a.status is not Status.NOANSWER else aaaa
    return (), worst.status, worst.message or "no A/AAAA record"


async def mx_hosts(target: Target, settings: Settings) -> tuple[Status | None, tuple[MxHost, ...]]:
    """The mail hosts for ``target``: its MX exchanges by preference, or itself."""
    if target.is_ip:
        return None, (MxHost(None, target.text, (target.text,), Status.OK, ""),)
    resolver = make_resolver(settings)
    answer = await query(resolver, target.text, "MX")
    exchanges: list[tuple[int, str]] = []
    if answer.status is Status.OK:
        for record in answer.records:
            pref, _, name = record.partition(" ")
            if name in ("", "."):
                continue  # RFC 7505 null MX: the domain accepts no mail
            exchanges.append((int(pref), name.rstrip(".")))
        exchanges.sort()
    elif answer.status not in (Status.NOANSWER, Status.NXDOMAIN):
        return answer.status, ()
    if answer.status is Status.OK and not exchanges:
        return Status.OK, ()  # null MX
    if not exchanges:
        addrs, status, message = await _addresses(resolver, target.text)
        return answer.status, (MxHost(None, target.text, addrs, status, message),)
    lookups = await asyncio.gather(*(_addresses(resolver, name) for _, name in exchanges))
    return Status.OK, tuple(
        MxHost(pref, name, addrs, status, message)
        for (pref, name), (addrs, status, message) in zip(exchanges, lookups, strict=True)
    )


# -- the run ----------------------------------------------------------------------------------


async def run(
    target: Target,
    settings: Settings,
    *,
    checks: Sequence[str] = CHECKS,
    on_mx: Callable[[tuple[MxHost, ...]], None] | None = None,
    on_cell: Callable[[Cell], None] | None = None,
) -> DiagnoseResult:
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks: {', '.join(sorted(unknown))}")
    sw = Stopwatch()
    mx_status, hosts = await mx_hosts(target, settings)
    if on_mx is not None:
        on_mx(hosts)
    ips: list[str] = []
    for host in hosts:
        for ip in host.addresses:
            if ip not in ips and len(ips) < MAX_ADDRESSES:
                ips.append(ip)
    if not ips:
        if mx_status is Status.OK and not hosts:
            why = "null MX: the domain says it accepts no mail"
        elif mx_status not in (None, Status.OK, Status.NOANSWER):
            why = f"MX lookup failed ({mx_status})"
        else:
            why = "no mail host address found"
        status = Status.NOANSWER if mx_status in (Status.OK, Status.NOANSWER) else (
            mx_status or Status.ERROR)
        return DiagnoseResult(target.text, status, why, mx_status, hosts, (), (), sw.ms())

    names = {ip: host.name for host in hosts for ip in host.addresses
             if host.preference is not None or host.name != ip}
    table = _checks(settings, names)
    gate = asyncio.Semaphore(MAX_PARALLEL)
    cells: list[Cell] = []

    async def one(ip: str, check: str) -> None:
        run_check, summarise = table[check], SUMMARIES[check]
        async with gate:
            try:
                result = await run_check(parse_target(ip))
            except (ValueError, TargetError) as exc:  # configuration problems, e.g. bad HELO
                cell = Cell(ip, check, "warn", f"not run: {exc}", None)
            else:
                level, summary = summarise(result)
                cell = Cell(ip, check, level, summary, result)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)

    await asyncio.gather(*(one(ip, check) for ip in ips for check in checks))
    order = {(ip, check): i for i, (ip, check) in
             enumerate((ip, c) for ip in ips for c in checks)}
    cells.sort(key=lambda c: order[(c.ip, c.check)])
    failed = [c for c in cells if c.level == "fail"]
    problems = tuple(f"{c.check} on {c.ip}: {c.summary}" for c in failed)
    worst = max((_RANK[c.level] for c in cells), default=0)
    hosts_text = f"{len(ips)} address{'es' if len(ips) != 1 else ''}"
    if worst == 2:
        # Not problems split at ':' — an IPv6 address has colons of its own.
        message = f"{hosts_text} checked: {len(problems)} problem(s) — " + "; ".join(
            f"{c.check} on {c.ip}" for c in failed)
    elif worst == 1:
        message = f"{hosts_text} checked: warnings, no hard failures"
    else:
        message = f"{hosts_text} checked: all good"
    return DiagnoseResult(target.text, Status.OK, message, mx_status, hosts, tuple(cells),
                          problems, sw.ms())
