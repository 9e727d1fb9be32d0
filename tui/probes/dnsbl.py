"""DNSBL: is an address or domain listed on public block lists?

Every selected list is asked at once (asyncio.gather): an A query for the reversed address
(IPv4 octets or IPv6 nibbles) or the domain under the list's zone, then a TXT query for the
lists that answered with a listing. Each list ends in one of four states:

  listed   an A answer that is a listing code (its meaning from the catalogue) + TXT reason
  clean    NXDOMAIN or no A record
  error    a documented error code (127.255.255.254 "public resolver blocked" …), any answer
           outside 127.0.0.0/8, 127.0.0.1, SERVFAIL, REFUSED or another DNS error
  timeout  no answer within Settings.dns_timeout

plus ``skipped`` when a list cannot answer for this target (no IPv6 support …). An error is
never reported as listed or clean.

The catalogue (tui/data/dnsbl.json) describes the live lists; a zone that is not in it is
treated as a generic IP list where any 127.0.0.x answer (other than .1) is a listing.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import importlib.resources
import ipaddress
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dns.asyncresolver

from tui.config import Settings
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import (
    failure_text,
    host_addresses,
    make_resolver,
    query,
    reversed_labels,
)
from tui.probes.rdns import MAX_ADDRESSES
from tui.probes.target import Target, TargetError, validate_hostname

ListKind = Literal["ip", "domain"]

MAX_CONCURRENT = 64  # DNS questions in flight at once (many addresses × many lists)
MAX_TXT = 8  # TXT strings kept per listing
MAX_TXT_CHARS = 512  # per TXT string; a reason is one line, not a document

_LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")
_CODE_NET = ipaddress.ip_network("127.0.0.0/24")


class ListStatus(enum.StrEnum):
    LISTED = "listed"
    CLEAN = "clean"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


# -- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsblList:
    id: str
    name: str
    zone: str
    kind: ListKind
    ipv4: bool
    ipv6: bool
    enabled: bool  # part of the default selection
    bitmask: bool  # the last octet is a sum of list bits (SURBL, URIBL)
    codes: Mapping[str, str]  # listing code -> meaning
    errors: Mapping[str, str]  # error code -> meaning (never a listing)
    test_listed: str | None  # RFC 5782 test entry if not the default
    delist: str
    info: str
    notes: str
    known: bool = True  # False for a zone given by the user that the catalogue lacks

    def test_entries(self) -> tuple[str, str]:
        """(entry that must be listed, entry that must not be), RFC 5782 section 5."""
        if self.kind == "domain":
            return (self.test_listed or "test", "invalid")
        if not self.ipv4:
            return (self.test_listed or "::ffff:7f00:2", "::ffff:7f00:1")
        return (self.test_listed or "127.0.0.2", "127.0.0.1")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(mapping))


@functools.lru_cache(maxsize=1)
def catalogue() -> tuple[DnsblList, ...]:
    """The curated list catalogue shipped in tui/data/dnsbl.json."""
    text = importlib.resources.files("tui").joinpath("data", "dnsbl.json").read_text("utf-8")
    data = json.loads(text)
    lists = []
    for item in data["lists"]:
        lists.append(
            DnsblList(
                id=item["id"],
                name=item["name"],
                zone=item["zone"].lower(),
                kind=item["kind"],
                ipv4=bool(item.get("ipv4", item["kind"] == "ip")),
                ipv6=bool(item.get("ipv6", False)),
                enabled=bool(item["enabled"]),
                bitmask=bool(item.get("bitmask", False)),
                codes=_frozen(item.get("codes", {})),
                errors=_frozen(item.get("errors", {})),
                test_listed=item.get("test_listed"),
                delist=item.get("delist", ""),
                info=item.get("info", ""),
                notes=item.get("notes", ""),
            )
        )
    return tuple(lists)


def generic_list(zone: str) -> DnsblList:
    """A user-supplied zone the catalogue does not know: an IP list, IPv4 and IPv6."""
    return DnsblList(
        id=zone, name=zone, zone=zone, kind="ip", ipv4=True, ipv6=True, enabled=True,
        bitmask=False, codes=_frozen({}), errors=_frozen({}), test_listed=None, delist="",
        info="", notes="not in the catalogue: any 127.0.0.x answer counts as a listing",
        known=False,
    )


def select_lists(settings: Settings, zones: Sequence[str] | None = None) -> tuple[DnsblList, ...]:
    """The lists to ask: ``zones`` (zone names or catalogue ids) if given, else
    Settings.dnsbl_zones, else the catalogue's default set. Raises TargetError (a
    ValueError) for a malformed zone name, before anything is sent."""
    names: Sequence[str] = zones or settings.dnsbl_zones
    if not names:
        return tuple(entry for entry in catalogue() if entry.enabled)
    by_zone = {entry.zone: entry for entry in catalogue()}
    by_id = {entry.id: entry for entry in catalogue()}
    chosen: dict[str, DnsblList] = {}
    for raw in names:
        text = (raw or "").strip().lower()
        if text in by_id:
            entry = by_id[text]
        else:
            try:
                zone = validate_hostname(text)
            except TargetError as exc:
                raise TargetError(f"DNSBL zone: {exc}") from None
            if "." not in zone:
                raise TargetError(f"DNSBL zone {raw!r}: a zone needs at least two labels")
            entry = by_zone.get(zone) or generic_list(zone)
        chosen.setdefault(entry.zone, entry)
    return tuple(chosen.values())


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListResult:
    list_id: str
    name: str
    zone: str
    kind: ListKind
    subject: str  # the address or domain asked about
    query: str  # the DNS name asked ("" when skipped)
    status: ListStatus
    codes: tuple[str, ...]  # A records as returned
    meanings: tuple[str, ...]  # one per code
    txt: tuple[str, ...]
    message: str
    delist: str
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class Counts:
    listed: int = 0
    clean: int = 0
    error: int = 0
    timeout: int = 0
    skipped: int = 0
    checked: int = 0  # listed + clean + error + timeout


@dataclass(frozen=True, slots=True)
class DnsblResult:
    target: str
    kind: str
    status: Status  # ok when at least one list gave a definite answer
    message: str  # the verdict line
    listed: bool
    counts: Counts
    subjects: tuple[str, ...]  # addresses / names that were checked
    results: tuple[ListResult, ...]
    resolve_message: str  # host name targets: what A/AAAA gave
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class SelfCheckEntry:
    list_id: str
    name: str
    zone: str
    ok: bool
    problem: str
    positive: ListResult  # the test entry, must be listed
    negative: ListResult  # 127.0.0.1 / "invalid", must not be listed


@dataclass(frozen=True, slots=True)
class SelfCheckResult:
    status: Status
    message: str
    ok: bool  # every list passed
    passed: int
    failed: int
    entries: tuple[SelfCheckEntry, ...]
    elapsed_ms: float


# -- answer classification -------------------------------------------------------------------


def _bitmask_meaning(entry: DnsblList, addr: ipaddress.IPv4Address) -> str:
    value = int(addr) & 0xFF
    parts = []
    for code, meaning in entry.codes.items():
        bit = int(ipaddress.IPv4Address(code)) & 0xFF
        if bit and value & bit == bit:
            parts.append(meaning)
            value &= ~bit
    if value:
        parts.append(f"undocumented bits {value:#x}")
    return "; ".join(parts) if parts else "undocumented return code"


def classify(entry: DnsblList, record: str) -> tuple[bool, str]:
    """One A record of a DNSBL answer -> (is a listing, meaning). False means an error:
    such an answer must never count as listed or clean."""
    try:
        addr = ipaddress.ip_address(record)
    except ValueError:
        return False, f"not an address: {record!r}"
    if addr.version != 4 or addr not in _LOOPBACK_NET:
        return False, (f"answer {record} is outside 127.0.0.0/8: not a DNSBL answer "
                       "(a resolver rewriting NXDOMAIN, or a dead zone)")
    if record in entry.errors:
        return False, entry.errors[record]
    if record in entry.codes:
        return True, entry.codes[record]
    if addr == ipaddress.IPv4Address("127.0.0.1"):
        # RFC 5782: 127.0.0.1 is never a listing; lists use it to signal a refused query.
        return False, "127.0.0.1 is not a listing code (query refused or list misbehaving)"
    if addr not in _CODE_NET:
        return False, f"undocumented answer {record} (outside 127.0.0.0/24: likely an error code)"
    if entry.bitmask:
        return True, _bitmask_meaning(entry, addr)
    if entry.codes:
        return True, "undocumented return code"
    return True, "listed"


def query_name(entry: DnsblList, subject: str) -> str:
    if entry.kind == "domain":
        return f"{subject}.{entry.zone}"
    return f"{reversed_labels(subject)}.{entry.zone}"


def _skip_reason(entry: DnsblList, subject: str) -> str | None:
    if entry.kind == "domain":
        return None
    version = ipaddress.ip_address(subject).version
    if version == 6 and not entry.ipv6:
        return "list has no IPv6 support"
    if version == 4 and not entry.ipv4:
        return "IPv6-only list"
    return None


async def _check(
    resolver: dns.asyncresolver.Resolver,
    entry: DnsblList,
    subject: str,
    limit: asyncio.Semaphore,
) -> ListResult:
    sw = Stopwatch()

    def result(status: ListStatus, message: str, qname: str = "", codes: tuple[str, ...] = (),
               meanings: tuple[str, ...] = (), txt: tuple[str, ...] = ()) -> ListResult:
        return ListResult(entry.id, entry.name, entry.zone, entry.kind, subject, qname, status,
                          codes, meanings, txt, message, entry.delist, sw.ms())

    reason = _skip_reason(entry, subject)
    if reason:
        return result(ListStatus.SKIPPED, reason)
    qname = query_name(entry, subject)
    if len(qname) > 253:
        return result(ListStatus.ERROR, "query name longer than 253 characters", qname)
    async with limit:
        answer = await query(resolver, qname, "A")
    if answer.status is Status.NXDOMAIN:
        return result(ListStatus.CLEAN, "not listed (NXDOMAIN)", qname)
    if answer.status is Status.NOANSWER:
        return result(ListStatus.CLEAN, "not listed (no A record)", qname)
    if answer.status is Status.TIMEOUT:
        return result(ListStatus.TIMEOUT, answer.message or "timeout", qname)
    if answer.status is not Status.OK:
        return result(ListStatus.ERROR, failure_text(answer), qname)
    codes = tuple(sorted(answer.records, key=_sort_key))
    verdicts = [classify(entry, code) for code in codes]
    meanings = tuple(meaning for _ok, meaning in verdicts)
    errors = [f"{code}: {meaning}" for code, (ok, meaning) in zip(codes, verdicts, strict=True)
              if not ok]
    if errors:
        return result(ListStatus.ERROR, "; ".join(errors), qname, codes, meanings)
    async with limit:
        txt_answer = await query(resolver, qname, "TXT")
    txt = tuple(t[:MAX_TXT_CHARS] for t in txt_answer.records[:MAX_TXT])
    summary = "; ".join(f"{c} {m}" for c, m in zip(codes, meanings, strict=True))
    return result(ListStatus.LISTED, summary, qname, codes, meanings, txt)


def _sort_key(record: str) -> tuple[int, Any]:
    try:
        return (0, ipaddress.ip_address(record))
    except ValueError:
        return (1, record)


async def _run_checks(
    resolver: dns.asyncresolver.Resolver,
    pairs: Sequence[tuple[DnsblList, str]],
    on_result: Callable[[ListResult], None] | None,
) -> tuple[ListResult, ...]:
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def one(entry: DnsblList, subject: str) -> ListResult:
        outcome = await _check(resolver, entry, subject, limit)
        if on_result is not None:
            on_result(outcome)
        return outcome

    return tuple(await asyncio.gather(*(one(e, s) for e, s in pairs)))


def _count(results: Sequence[ListResult]) -> Counts:
    tally = {s: 0 for s in ListStatus}
    for r in results:
        tally[r.status] += 1
    checked = len(results) - tally[ListStatus.SKIPPED]
    return Counts(tally[ListStatus.LISTED], tally[ListStatus.CLEAN], tally[ListStatus.ERROR],
                  tally[ListStatus.TIMEOUT], tally[ListStatus.SKIPPED], checked)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _verdict(counts: Counts, per_list: bool) -> str:
    unit = "lists" if per_list else "checks"
    extras = []
    if counts.error:
        extras.append(_plural(counts.error, "error"))
    if counts.timeout:
        extras.append(_plural(counts.timeout, "timeout"))
    if counts.skipped:
        extras.append(f"{counts.skipped} skipped")
    tail = f" ({', '.join(extras)})" if extras else ""
    if counts.listed:
        return f"Listed on {counts.listed} of {counts.checked} {unit}{tail}"
    if counts.clean:
        return f"Not listed on any of {counts.checked} {unit}{tail}"
    if counts.checked:
        return f"No list gave an answer{tail}"
    return f"No list applies to this target{tail}"


async def run(
    target: Target,
    settings: Settings,
    zones: Sequence[str] | None = None,
    on_result: Callable[[ListResult], None] | None = None,
) -> DnsblResult:
    """Check ``target`` on every selected list concurrently; ``on_result`` is called as
    each list finishes."""
    sw = Stopwatch()
    lists = select_lists(settings, zones)
    resolver = make_resolver(settings)
    ip_lists = [e for e in lists if e.kind == "ip"]
    domain_lists = [e for e in lists if e.kind == "domain"]
    pairs: list[tuple[DnsblList, str]] = []
    subjects: list[str] = []
    resolve_message = ""
    resolve_status = Status.OK
    if target.is_ip:
        subjects.append(target.text)
        pairs.extend((e, target.text) for e in ip_lists)
    else:
        if domain_lists:
            subjects.append(target.text)
            pairs.extend((e, target.text) for e in domain_lists)
        if ip_lists:
            addresses, resolve_status, resolve_message = await host_addresses(
                resolver, target.text
            )
            if len(addresses) > MAX_ADDRESSES:
                resolve_message += f"; the first {MAX_ADDRESSES} are checked"
            for addr in addresses[:MAX_ADDRESSES]:
                subjects.append(addr.compressed)
                pairs.extend((e, addr.compressed) for e in ip_lists)
    results = await _run_checks(resolver, pairs, on_result)
    counts = _count(results)
    per_list = len({r.list_id for r in results}) == len(results)
    message = _verdict(counts, per_list)
    if resolve_status is not Status.OK:
        not_checked = f"IP lists not checked: {resolve_message}"
        message = f"{message}; {not_checked}" if counts.checked else not_checked
    if counts.listed or counts.clean:
        status = Status.OK
    elif counts.checked and counts.timeout == counts.checked:
        status = Status.TIMEOUT
    elif not counts.checked and resolve_status is not Status.OK:
        status = resolve_status
    else:
        status = Status.ERROR
    return DnsblResult(
        target=target.text,
        kind=target.kind,
        status=status,
        message=message,
        listed=counts.listed > 0,
        counts=counts,
        subjects=tuple(subjects),
        results=results,
        resolve_message=resolve_message,
        elapsed_ms=sw.ms(),
    )


def _self_check_problem(positive: ListResult, negative: ListResult) -> str:
    problems = []
    if positive.status is ListStatus.CLEAN:
        problems.append(f"test entry {positive.subject} is not listed: broken list, or the "
                        "resolver blocks or rewrites its answers")
    elif positive.status is ListStatus.ERROR:
        problems.append(f"test entry {positive.subject}: {positive.message} "
                        "(broken list or resolver blocked)")
    elif positive.status is ListStatus.TIMEOUT:
        problems.append(f"test entry {positive.subject}: no answer ({positive.message})")
    if negative.status is ListStatus.LISTED:
        problems.append(f"{negative.subject} is listed: the zone answers yes to everything "
                        "(dead list listing the world?)")
    elif negative.status in (ListStatus.ERROR, ListStatus.TIMEOUT):
        problems.append(f"{negative.subject}: {negative.message}")
    return "; ".join(problems)


async def self_check(
    settings: Settings,
    zones: Sequence[str] | None = None,
    on_result: Callable[[SelfCheckEntry], None] | None = None,
) -> SelfCheckResult:
    """Ask every selected list for its RFC 5782 test entries: 127.0.0.2 (or ``test`` for a
    domain list) must be listed, 127.0.0.1 (``invalid``) must not. A list that fails is
    broken, or the resolver in use is blocked by it."""
    sw = Stopwatch()
    lists = select_lists(settings, zones)
    resolver = make_resolver(settings)
    limit = asyncio.Semaphore(MAX_CONCURRENT)

    async def one(entry: DnsblList) -> SelfCheckEntry:
        listed_entry, unlisted_entry = entry.test_entries()
        positive, negative = await asyncio.gather(
            _check(resolver, entry, listed_entry, limit),
            _check(resolver, entry, unlisted_entry, limit),
        )
        problem = _self_check_problem(positive, negative)
        outcome = SelfCheckEntry(entry.id, entry.name, entry.zone, not problem, problem,
                                 positive, negative)
        if on_result is not None:
            on_result(outcome)
        return outcome

    entries = tuple(await asyncio.gather(*(one(e) for e in lists)))
    passed = sum(1 for e in entries if e.ok)
    failed = len(entries) - passed
    answered = [e for e in entries
                if e.positive.status in (ListStatus.LISTED, ListStatus.CLEAN)
                or e.negative.status in (ListStatus.LISTED, ListStatus.CLEAN)]
    if not entries:
        status, message = Status.ERROR, "no list selected"
    elif not answered:
        all_timeout = all(e.positive.status is ListStatus.TIMEOUT for e in entries)
        status = Status.TIMEOUT if all_timeout else Status.ERROR
        message = f"Self-check: none of {len(entries)} lists answered"
    else:
        status = Status.OK
        message = f"Self-check: {passed} of {len(entries)} lists answer correctly"
        if failed:
            broken = ", ".join(e.zone for e in entries if not e.ok)
            message += f"; broken list or resolver blocked: {broken}"
    return SelfCheckResult(status, message, failed == 0 and bool(entries), passed, failed,
                           entries, sw.ms())
