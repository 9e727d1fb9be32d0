"""Where a survey's targets come from: files, CIDR ranges, stdin, a seeded random IPv4 sample.

Every source streams: a 10-million-line file or a /8 is walked one address at a time and
never sits in memory. Each emitted target gets a ``seq`` (0, 1, 2, … in a deterministic
order for the same source, exclusions and DNS answers) which the store uses as the resume
cursor, so the order below is part of the contract:

* ``cidr``: the listed networks collapsed (overlaps merged, sorted), addresses ascending;
* ``file``/``stdin``: lines in order; a CIDR line expands ascending, a name expands to its
  MX hosts' addresses by preference (A before AAAA, each sorted), or its own A/AAAA
  when it has no MX;
* ``random``: the first ``count`` allowed addresses of a seeded Feistel permutation of
  the universe (all IPv4 unless ``universe`` says otherwise).

Reserved ranges (RFC 6890 special-purpose blocks: the 16 IPv4 ranges of zmap's default
blocklist, and the IPv6 special-purpose registry) and the user's exclusions are never
emitted; 127.0.0.0/8 and ::1 only pass when ``allow_loopback`` is set (the lab). What is
left out is reported through ``on_skip(what, reason)``; ``reason`` starts with a stable
word — ``reserved``, ``excluded``, ``invalid``, ``unresolved``, ``too-large`` — followed by
": " and a fixed text (the range, the exclusion entry, the kind of problem); what varies
per target (address, line number, name) goes in ``what``, so the number of distinct
reasons stays small. A blocked block inside a CIDR is reported once per CIDR piece, not
once per address (``skipped_size(what)`` gives the number of addresses it stands for).
"""

from __future__ import annotations

import asyncio
import bisect
import codecs
import functools
import io
import ipaddress
import os
import random
import socket
import stat
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, TextIO

from tui.config import Settings
from tui.probes.base import Status
from tui.probes.dnsutil import make_resolver, query
from tui.probes.target import TargetError, parse_target

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SkipCallback = Callable[[str, str], None]


class SourceError(ValueError):
    """The source cannot be used (bad CIDR, missing file, bad random spec); one-line reason."""


class ExclusionError(ValueError):
    """The exclusion file is unreadable or has a line that is not an address or CIDR."""


# RFC 6890 special-purpose IPv4 blocks as listed in zmap's conf/blocklist.conf (IANA
# special-purpose and multicast registries).
_RESERVED_V4_LABELS: dict[str, str] = {
    "0.0.0.0/8": "this network (RFC 1122)",
    "10.0.0.0/8": "private use (RFC 1918)",
    "100.64.0.0/10": "shared address space (RFC 6598)",
    "127.0.0.0/8": "loopback (RFC 1122)",
    "169.254.0.0/16": "link local (RFC 3927)",
    "172.16.0.0/12": "private use (RFC 1918)",
    "192.0.0.0/24": "IETF protocol assignments (RFC 6890)",
    "192.0.2.0/24": "documentation TEST-NET-1 (RFC 5737)",
    "192.88.99.0/24": "6to4 relay anycast (RFC 3068)",
    "192.168.0.0/16": "private use (RFC 1918)",
    "198.18.0.0/15": "benchmarking (RFC 2544)",
    "198.51.100.0/24": "documentation TEST-NET-2 (RFC 5737)",
    "203.0.113.0/24": "documentation TEST-NET-3 (RFC 5737)",
    "240.0.0.0/4": "reserved (RFC 1112)",
    "255.255.255.255/32": "limited broadcast (RFC 919)",
    "224.0.0.0/4": "multicast (RFC 5771)",
}
RESERVED_V4: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(n) for n in _RESERVED_V4_LABELS
)

# IPv6 special-purpose registry (RFC 6890 and successors, as in zmap's blocklist), plus
# multicast, which no mail server listens on.
_RESERVED_V6_LABELS: dict[str, str] = {
    "::1/128": "loopback (RFC 4291)",
    "::/128": "unspecified (RFC 4291)",
    "::ffff:0:0/96": "IPv4-mapped (RFC 4291)",
    "64:ff9b::/96": "IPv4/IPv6 translation (RFC 6052)",
    "64:ff9b:1::/48": "IPv4/IPv6 translation (RFC 8215)",
    "100::/64": "discard only (RFC 6666)",
    "2001::/23": "IETF protocol assignments (RFC 2928)",
    "2001:db8::/32": "documentation (RFC 3849)",
    "2002::/16": "6to4 (RFC 3056)",
    "3fff::/20": "documentation (RFC 9637)",
    "5f00::/16": "SRv6 SIDs (RFC 9602)",
    "fc00::/7": "unique local (RFC 4193)",
    "fe80::/10": "link local (RFC 4291)",
    "ff00::/8": "multicast (RFC 4291)",
}
RESERVED_V6: tuple[ipaddress.IPv6Network, ...] = tuple(
    ipaddress.IPv6Network(n) for n in _RESERVED_V6_LABELS
)
_LOOPBACK = {ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")}

MAX_LINE = 1024  # longer source lines are junk, and are not read into memory whole
MAX_V6_PREFIX_ADDRESSES = 1 << 16  # an IPv6 CIDR line larger than a /112 cannot be walked
DNS_WINDOW = 32  # name lookups in flight at once, ahead of the emitted target
MAX_NAME_ADDRESSES = 32  # per name: a hostile zone cannot make one line explode
MAX_MX_HOSTS = 10
NAME_DEDUP_MAX = 1_000_000  # addresses remembered to skip MX hosts shared by many domains
_CHUNK = 1 << 16  # characters read at a time
_PIPE_BACKLOG = 64  # blocks read ahead from a pipe before the reader thread waits


# -- range sets ---------------------------------------------------------------------------------


class _RangeSet:
    """Disjoint, sorted integer ranges with a label each; lookups by bisection."""

    __slots__ = ("starts", "ends", "labels")

    def __init__(self, entries: Iterable[tuple[int, int, str]]) -> None:
        merged: list[list] = []
        for start, end, label in sorted(entries, key=lambda e: (e[0], -e[1])):
            if merged and start <= merged[-1][1]:
                # Overlap: keep one range (labelled by the earlier, wider entry) so
                # bisection over starts stays correct.
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, label])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]
        self.labels = [m[2] for m in merged]

    def __len__(self) -> int:
        return len(self.starts)

    def find(self, value: int) -> str | None:
        i = bisect.bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.labels[i]
        return None

    def overlaps(self, lo: int, hi: int) -> Iterator[tuple[int, int, str]]:
        """The ranges meeting [lo, hi], clipped to it, ascending."""
        i = bisect.bisect_left(self.ends, lo)
        while i < len(self.starts) and self.starts[i] <= hi:
            yield max(lo, self.starts[i]), min(hi, self.ends[i]), self.labels[i]
            i += 1


def _span(net: IPNetwork) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


class Exclusions:
    """The user's do-not-scan list: networks matched with a bisection over int ranges."""

    def __init__(self, networks: Iterable[str | IPNetwork | IPAddress] = ()) -> None:
        nets: list[IPNetwork] = []
        for n in networks:
            nets.append(ipaddress.ip_network(str(n) if not isinstance(n, str) else n, strict=False))
        self.networks: tuple[IPNetwork, ...] = tuple(nets)
        self._sets = {
            v: _RangeSet((*_span(n), f"excluded: {n}") for n in nets if n.version == v)
            for v in (4, 6)
        }

    @classmethod
    def from_file(cls, path: str | Path) -> Exclusions:
        """One address or CIDR per line; ``#`` starts a comment. A bad line is an error:
        silently dropping an exclusion could mean scanning someone who asked us not to."""
        nets: list[IPNetwork] = []
        try:
            with open(path, encoding="utf-8") as fh:
                for lineno, raw in enumerate(fh, 1):
                    text = raw.split("#", 1)[0].strip()
                    if not text:
                        continue
                    try:
                        nets.append(ipaddress.ip_network(text, strict=False))
                    except ValueError:
                        raise ExclusionError(
                            f"{path}:{lineno}: {text[:60]!r} is not an IP address or CIDR"
                        ) from None
        except OSError as exc:
            raise ExclusionError(f"exclusion file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ExclusionError(f"exclusion file {path}: not UTF-8 text") from None
        return cls(nets)

    def __len__(self) -> int:
        return len(self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def match(self, ip: str | IPAddress) -> str | None:
        """The skip reason (``excluded: <network>``) when ``ip`` is excluded, else None."""
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        return self._sets[addr.version].find(int(addr))

    def contains(self, ip: str | IPAddress) -> bool:
        return self.match(ip) is not None

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str | ipaddress.IPv4Address | ipaddress.IPv6Address) and self.contains(ip)


class Blocklist:
    """Reserved ranges (minus loopback when allowed) plus exclusions, per IP version."""

    def __init__(self, *, allow_loopback: bool = False, exclusions: Exclusions | None = None):
        entries: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        labels = {**_RESERVED_V4_LABELS, **_RESERVED_V6_LABELS}
        for net in (*RESERVED_V4, *RESERVED_V6):
            if allow_loopback and net in _LOOPBACK:
                continue
            entries[net.version].append((*_span(net), f"reserved: {net} {labels[str(net)]}"))
        if exclusions is not None:
            for net in exclusions.networks:
                entries[net.version].append((*_span(net), f"excluded: {net}"))
        self.sets = {v: _RangeSet(e) for v, e in entries.items()}

    def reason(self, addr: IPAddress) -> str | None:
        return self.sets[addr.version].find(int(addr))


@functools.cache
def _reserved_only(allow_loopback: bool) -> Blocklist:
    return Blocklist(allow_loopback=allow_loopback)


def is_reserved(ip: str | IPAddress, *, allow_loopback: bool = False) -> bool:
    """True for an address in a reserved/special-purpose range (loopback allowed on request)."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    return _reserved_only(allow_loopback).reason(addr) is not None


def skipped_size(what: str) -> int:
    """How many addresses an ``on_skip`` report stands for: a CIDR's size, else 1."""
    if "/" in what:
        try:
            return ipaddress.ip_network(what, strict=False).num_addresses
        except ValueError:
            return 1
    return 1


# -- the source spec ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    kind: Literal["file", "cidr", "stdin", "random"]
    value: str = ""  # path, CIDR list "a/b,c/d", or "" for stdin/random
    count: int = 0  # random: sample size
    seed: int = 0  # random: seed (deterministic)
    allow_loopback: bool = False  # the lab: permit 127.0.0.0/8 (only that reserved range)
    universe: str | None = None  # random: sample from this CIDR list instead of all IPv4


@dataclass(frozen=True, slots=True)
class TargetItem:
    seq: int
    address: str
    source: str


def _parse_networks(text: str, *, what: str) -> list[IPNetwork]:
    nets: list[IPNetwork] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SourceError(f"{what}: {part[:60]!r} is not an IP address or CIDR") from None
    if not nets:
        raise SourceError(f"{what}: no networks given")
    return nets


def _collapsed(nets: list[IPNetwork]) -> list[IPNetwork]:
    v4 = list(ipaddress.collapse_addresses(n for n in nets if n.version == 4))
    v6 = list(ipaddress.collapse_addresses(n for n in nets if n.version == 6))
    return [*v4, *v6]


def _looks_like_cidr(text: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF.:/, " for ch in text) and any(
        ch in text for ch in "./:")


def parse_source(text: str, **kw: object) -> SourceSpec:
    """``-`` = stdin; ``random:N[:SEED]``; a CIDR or IP (or a comma list); else a file path.

    Keyword arguments go to SourceSpec (``allow_loopback``, ``universe``, ``seed``). Raises
    SourceError with a one-line reason before anything is sent.
    """
    raw = (text or "").strip()
    if not raw:
        raise SourceError("empty source: give a file, a CIDR, '-' for stdin or random:N[:SEED]")
    spec: SourceSpec
    if raw == "-":
        spec = SourceSpec("stdin", "", **kw)  # type: ignore[arg-type]
    elif raw.lower().startswith("random:"):
        parts = raw.split(":")
        if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts[1:]):
            raise SourceError(f"{raw!r}: expected random:N or random:N:SEED (whole numbers)")
        count = int(parts[1])
        if count < 1:
            raise SourceError(f"{raw!r}: the sample size must be at least 1")
        options = dict(kw)
        if len(parts) == 3:
            options["seed"] = int(parts[2])
        spec = SourceSpec("random", "", count=count, **options)  # type: ignore[arg-type]
    elif _looks_like_cidr(raw) and not Path(raw).exists():
        nets = _parse_networks(raw, what="CIDR source")
        spec = SourceSpec("cidr", ",".join(str(n) for n in nets), **kw)  # type: ignore[arg-type]
    else:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise SourceError(f"{raw!r}: no such file (and not a CIDR, '-' or random:N)")
        if not os.access(path, os.R_OK):
            raise SourceError(f"{raw!r}: file is not readable")
        spec = SourceSpec("file", str(path), **kw)  # type: ignore[arg-type]
    validate_spec(spec)
    return spec


def _universe(spec: SourceSpec) -> list[ipaddress.IPv4Network]:
    if spec.universe is None:
        return [ipaddress.IPv4Network("0.0.0.0/0")]
    nets = _collapsed(_parse_networks(spec.universe, what="random universe"))
    if any(n.version != 4 for n in nets):
        raise SourceError("random universe: only IPv4 networks can be sampled")
    return nets  # type: ignore[return-value]


def validate_spec(spec: SourceSpec) -> None:
    """Raise SourceError when the spec cannot work (checked again by iter_targets)."""
    if spec.kind == "random":
        if spec.count < 1:
            raise SourceError("random: the sample size must be at least 1")
        _universe(spec)
    elif spec.kind == "cidr":
        for net in _parse_networks(spec.value, what="CIDR source"):
            if net.version == 6 and net.num_addresses > MAX_V6_PREFIX_ADDRESSES:
                raise SourceError(f"{net}: IPv6 prefixes larger than a /112 cannot be walked")
    elif spec.kind == "file":
        if not Path(spec.value).is_file():
            raise SourceError(f"{spec.value!r}: no such file")
    elif spec.kind != "stdin":
        raise SourceError(f"unknown source kind {spec.kind!r}")


def _effective_exclusions(settings: Settings, exclusions: Exclusions | None) -> Exclusions | None:
    if exclusions is not None:
        return exclusions
    if settings.survey_exclude_file:
        return Exclusions.from_file(settings.survey_exclude_file)
    return None


def count_hint(spec: SourceSpec, exclusions: Exclusions | None = None) -> int | None:
    """How many targets the source will emit when that is cheap to know (CIDR sizes minus
    reserved/excluded addresses, the random sample size); None for files and stdin."""
    if spec.kind not in ("cidr", "random"):
        return None
    blocked = Blocklist(allow_loopback=spec.allow_loopback, exclusions=exclusions)
    nets = (_collapsed(_parse_networks(spec.value, what="CIDR source")) if spec.kind == "cidr"
            else _universe(spec))
    allowed = sum(end - start + 1 for start, end in _allowed_intervals(nets, blocked))
    return allowed if spec.kind == "cidr" else min(spec.count, allowed)


# -- walking ranges --------------------------------------------------------------------------------


def _v4_text(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def _text(version: int) -> Callable[[int], str]:
    return _v4_text if version == 4 else (lambda v: str(ipaddress.IPv6Address(v)))


def _walk(net: IPNetwork, blocked: Blocklist, skip: SkipCallback) -> Iterator[str]:
    """Addresses of ``net`` ascending, jumping over blocked blocks (reported per CIDR)."""
    lo, hi = _span(net)
    text = _text(net.version)
    addr_cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    cur = lo
    for start, end, label in blocked.sets[net.version].overlaps(lo, hi):
        for value in range(cur, start):
            yield text(value)
        for piece in ipaddress.summarize_address_range(addr_cls(start), addr_cls(end)):
            skip(str(piece), label)
        cur = end + 1
    for value in range(cur, hi + 1):
        yield text(value)


class _Feistel:
    """A keyed permutation of [0, size): a balanced Feistel network over the smallest even
    bit width that holds ``size``, with cycle walking to stay inside the domain.

    Why not ``random.sample`` or a seen-set: both hold O(N) state (a set of 10 M ints is
    ~600 MB). The permutation needs O(1) memory, can never repeat, and is the same for the
    same seed on every run (resume replays it).
    """

    ROUNDS = 6

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        bits = max(2, (size - 1).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        rng = random.Random(seed)
        self.keys = tuple(rng.getrandbits(32) for _ in range(self.ROUNDS))

    def _round(self, value: int, key: int) -> int:
        x = ((value ^ key) * 0x45D9F3B) & 0xFFFFFFFF
        x ^= x >> 16
        x = (x * 0x45D9F3B) & 0xFFFFFFFF
        x ^= x >> 16
        return x & self.mask

    def _permute(self, value: int) -> int:
        left, right = value >> self.half, value & self.mask
        for key in self.keys:
            left, right = right, left ^ self._round(right, key)
        return (left << self.half) | right

    def __call__(self, index: int) -> int:
        value = self._permute(index)
        while value >= self.size:  # cycle walking: at most a few steps (domain ≤ 4 × size)
            value = self._permute(value)
        return value


def _allowed_intervals(nets: Iterable[IPNetwork], blocked: Blocklist) -> list[tuple[int, int]]:
    """The parts of ``nets`` outside every blocked range, as ascending (start, end) pairs."""
    out: list[tuple[int, int]] = []
    for net in nets:
        lo, hi = _span(net)
        cur = lo
        for start, end, _label in blocked.sets[net.version].overlaps(lo, hi):
            if start > cur:
                out.append((cur, start - 1))
            cur = end + 1
        if cur <= hi:
            out.append((cur, hi))
    return out


def _random_addresses(spec: SourceSpec, blocked: Blocklist) -> Iterator[str]:
    """Sample from the allowed space only (universe minus reserved and excluded ranges,
    laid end to end), so there is no rejection loop: every draw is an allowed address,
    and a tiny allowed set inside a huge universe costs nothing extra."""
    intervals = _allowed_intervals(_universe(spec), blocked)
    offsets: list[int] = []
    total = 0
    for start, end in intervals:
        offsets.append(total)
        total += end - start + 1
    if total == 0:
        return
    perm = _Feistel(total, spec.seed)
    starts = [start for start, _ in intervals]
    for index in range(min(spec.count, total)):
        pos = perm(index)
        k = bisect.bisect_right(offsets, pos) - 1
        yield _v4_text(starts[k] + (pos - offsets[k]))


# -- lines: files and stdin ----------------------------------------------------------------------------


def _chunks(stream: TextIO | BinaryIO) -> Iterator[str]:
    """Text in blocks of up to _CHUNK characters. Bytes are decoded leniently (a binary
    line becomes junk to report, never an exception that ends the survey); ``read1``
    returns what a pipe has now instead of waiting for a full block."""
    raw: Any = getattr(stream, "buffer", stream)  # a text file's bytes, when it has them
    if isinstance(raw, io.TextIOBase):
        while block := raw.read(_CHUNK):
            yield block
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    read = getattr(raw, "read1", raw.read)
    while data := read(_CHUNK):
        if text := decoder.decode(data):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


class _LineSplitter:
    """Turns text blocks into lines without ever holding a long one: a line longer than
    MAX_LINE is dropped as it streams past and stands as None in the output."""

    def __init__(self) -> None:
        self.carry = ""
        self.overlong = False

    def feed(self, block: str) -> list[str | None]:
        pieces = block.split("\n")
        last = pieces.pop()  # unterminated: wait for the rest
        parts: list[str | None] = [p if len(p) <= MAX_LINE else None for p in pieces]
        if pieces:
            first = self.carry + pieces[0]
            parts[0] = None if self.overlong or len(first) > MAX_LINE else first
            self.carry, self.overlong = "", False
        if self.overlong:
            return parts
        self.carry += last
        if len(self.carry) > MAX_LINE:
            self.carry, self.overlong = "", True
        return parts

    def close(self) -> list[str | None]:
        if self.overlong:
            return [None]
        return [self.carry] if self.carry else []


def _line_blocks(stream: TextIO | BinaryIO) -> Iterator[list[str | None]]:
    splitter = _LineSplitter()
    for block in _chunks(stream):
        if lines := splitter.feed(block):
            yield lines
    if lines := splitter.close():
        yield lines


def _is_pipe(stream: TextIO | BinaryIO) -> bool:
    try:
        fd = stream.fileno()
    except (OSError, AttributeError, ValueError):
        return False  # io.StringIO and friends: in memory, never blocks
    try:
        return not stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return True


async def _line_batches(stream: TextIO | BinaryIO) -> AsyncIterator[list[str | None]]:
    """Lines of ``stream`` in batches (one await per block, not per line). A pipe or
    terminal is read by a helper thread, so a slow producer (``zmap … | mxscope survey
    -``) never blocks the event loop, and a batch is whatever has arrived; a regular file
    or in-memory stream is read inline (local reads do not block for long)."""
    if not _is_pipe(stream):
        for lines in _line_blocks(stream):
            yield lines
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(_PIPE_BACKLOG)  # back-pressure when the consumer lags
    done = threading.Event()
    end = object()

    def reader() -> None:
        try:
            for lines in _line_blocks(stream):
                while not room.acquire(timeout=0.2):
                    if done.is_set():
                        return
                if done.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, lines)
            loop.call_soon_threadsafe(queue.put_nowait, end)
        except (OSError, ValueError) as exc:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            except RuntimeError:
                pass  # the loop is gone: nobody is listening any more
        except RuntimeError:
            pass  # loop closed while we were reading

    # Daemon: a thread blocked in read() on a silent pipe must not keep the process alive.
    thread = threading.Thread(target=reader, name="mxscope-survey-stdin", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            room.release()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise SourceError(f"reading stdin: {item}")
            yield item  # type: ignore[misc]
    finally:
        done.set()


# -- names → addresses ----------------------------------------------------------------------------------


async def _addresses_of(resolver: object, host: str) -> list[str]:
    a, aaaa = await asyncio.gather(query(resolver, host, "A"), query(resolver, host, "AAAA"))  # type: ignore[arg-type]
    return sorted(a.records) + sorted(aaaa.records)


async def resolve_name(resolver: object, name: str) -> tuple[list[str], str | None]:
    """(addresses, skip reason): the MX hosts' addresses by preference, or the name's own
    A/AAAA when it has no MX (RFC 5321 implicit MX). Never raises for a DNS outcome."""
    mx = await query(resolver, name, "MX")  # type: ignore[arg-type]
    if mx.status is Status.NXDOMAIN:
        return [], "unresolved: no such domain (NXDOMAIN)"
    if mx.status not in (Status.OK, Status.NOANSWER):
        # A fixed reason per status (not the message, which names the domain) keeps the
        # set of distinct reasons small for the statistics' per-reason counters.
        return [], f"unresolved: MX lookup failed ({mx.status.value})"
    hosts: list[tuple[int, str]] = []
    for record in mx.records:
        pref, _, exchange = record.partition(" ")
        exchange = exchange.rstrip(".")
        if exchange and pref.isdigit():
            hosts.append((int(pref), exchange))
    if mx.status is Status.OK and not hosts:
        return [], "unresolved: null MX, the domain accepts no mail (RFC 7505)"
    names = [h for _, h in sorted(hosts)][:MAX_MX_HOSTS] if hosts else [name]
    found = await asyncio.gather(*(_addresses_of(resolver, h) for h in names))
    out: list[str] = []
    seen: set[str] = set()
    for addrs in found:
        for addr in addrs:
            if addr not in seen and len(out) < MAX_NAME_ADDRESSES:
                seen.add(addr)
                out.append(addr)
    if not out:
        where = "its MX hosts have" if hosts else "it has"
        return [], f"unresolved: {where} no A/AAAA address"
    return out, None


def _classify(text: str) -> tuple[str, object]:
    """("ip", addr) | ("net", network) | ("name", host) | ("junk", reason)."""
    if any(ch.isspace() for ch in text) or "," in text:
        return "junk", "invalid: expected one address, CIDR or name per line"
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return "junk", "invalid: not a CIDR range"
        if net.version == 6 and net.num_addresses > MAX_V6_PREFIX_ADDRESSES:
            return "junk", "too-large: IPv6 prefixes larger than a /112 cannot be walked"
        return "net", net
    try:
        target = parse_target(text)
    except TargetError:
        return "junk", "invalid: not an IP address, CIDR or host name"
    if target.is_ip:
        return "ip", target.ip
    return "name", target.text


# -- the iterator -------------------------------------------------------------------------------------------


async def iter_targets(
    spec: SourceSpec,
    settings: Settings,
    *,
    exclusions: Exclusions | None = None,
    stdin: TextIO | None = None,
    on_skip: SkipCallback | None = None,
) -> AsyncIterator[TargetItem]:
    """Stream the source's targets with consecutive ``seq`` numbers from 0.

    Not re-entrant: one consumer at a time (an async generator cannot be advanced by two
    tasks at once; a scheduler with many workers should feed them from one task).
    Raises SourceError / ExclusionError for an unusable source before emitting anything.
    """
    validate_spec(spec)
    blocked = Blocklist(allow_loopback=spec.allow_loopback,
                        exclusions=_effective_exclusions(settings, exclusions))
    skip: SkipCallback = on_skip or (lambda _what, _why: None)
    seq = 0
    if spec.kind == "cidr":
        for net in _collapsed(_parse_networks(spec.value, what="CIDR source")):
            source = str(net)
            for address in _walk(net, blocked, skip):
                yield TargetItem(seq, address, source)
                seq += 1
        return
    if spec.kind == "random":
        for address in _random_addresses(spec, blocked):
            yield TargetItem(seq, address, "random")
            seq += 1
        return
    if spec.kind == "stdin":
        stream: Any = stdin if stdin is not None else sys.stdin
        opened = False
    else:
        try:
            stream = open(spec.value, "rb")  # noqa: ASYNC230, SIM115 - local file, closed below
        except OSError as exc:
            raise SourceError(f"{spec.value}: {exc.strerror or exc}") from None
        opened = True
    try:
        # Inline rather than a nested generator: one async-generator layer less per target
        # matters at a million lines.
        resolver = None
        v4find = blocked.sets[4].find
        # Each pending entry: (source text, an iterator of addresses or a lookup task).
        pending: deque[tuple[str, Iterator[str] | asyncio.Task]] = deque()
        from_names: set[str] = set()
        lineno = 0

        def check(addr_text: str, source: str) -> str | None:
            addr = ipaddress.ip_address(addr_text)
            reason = blocked.reason(addr)
            if reason is not None:
                skip(addr_text if addr_text == source else f"{addr_text} (from {source})",
                     reason)
                return None
            return addr.compressed

        async def head_addresses() -> tuple[str, list[str] | Iterator[str]]:
            """Pop the oldest pending entry: its source and the addresses to emit."""
            source, entry = pending.popleft()
            if not isinstance(entry, asyncio.Task):
                return source, entry
            addrs, reason = await entry
            if reason is not None:
                skip(source, reason)
                return source, []
            out: list[str] = []
            for addr_text in addrs:
                if addr_text in from_names:
                    continue  # an MX host shared with an earlier domain: scanned once
                if len(from_names) < NAME_DEDUP_MAX:
                    from_names.add(addr_text)
                address = check(addr_text, source)
                if address is not None:
                    out.append(address)
            return source, out

        async for batch in _line_batches(stream):
            for line in batch:
                lineno += 1
                if line is None:
                    skip(f"line {lineno}", f"invalid: line longer than {MAX_LINE} characters")
                    continue
                # Fast path for the common case (zmap output): a bare dotted-quad IPv4 line.
                # inet_pton is strict (no "1.2", no leading zeros, no blanks), so a line it
                # accepts is already canonical.
                text = line
                try:
                    packed = socket.inet_pton(socket.AF_INET, text)
                except (OSError, ValueError):  # ValueError: an embedded NUL
                    text = line.strip()
                    if "#" in text:
                        text = text.split("#", 1)[0].strip()
                    if not text:
                        continue
                    kind, value = _classify(text)
                else:
                    reason = v4find(int.from_bytes(packed, "big"))
                    if reason is not None:
                        skip(text, reason)
                        continue
                    if not pending:
                        yield TargetItem(seq, text, text)
                        seq += 1
                        continue
                    kind, value = "queued", text
                if kind == "queued":
                    pending.append((text, iter((text,))))
                elif kind == "junk":
                    skip(f"line {lineno}: {text[:80]}", str(value))
                    continue
                elif kind == "ip":
                    address = check(str(value), text)
                    if address is None:
                        continue
                    if not pending:
                        yield TargetItem(seq, address, text)
                        seq += 1
                        continue
                    pending.append((text, iter((address,))))
                elif kind == "net":
                    pending.append((str(value), _walk(value, blocked, skip)))  # type: ignore[arg-type]
                else:
                    if resolver is None:
                        resolver = make_resolver(settings)
                    task = asyncio.ensure_future(resolve_name(resolver, str(value)))
                    pending.append((str(value), task))
                # Emit from the head while it is ready, or when the lookahead window is full.
                while pending and (len(pending) >= DNS_WINDOW
                                   or not isinstance(pending[0][1], asyncio.Task)
                                   or pending[0][1].done()):
                    source, addresses = await head_addresses()
                    for address in addresses:
                        yield TargetItem(seq, address, source)
                        seq += 1
        while pending:
            source, addresses = await head_addresses()
            for address in addresses:
                yield TargetItem(seq, address, source)
                seq += 1
    finally:
        lookups = [entry for _source, entry in pending if isinstance(entry, asyncio.Task)]
        for task in lookups:
            task.cancel()
        if opened:
            stream.close()
        if lookups:
            # Let the cancellations land so no lookup outlives the iterator.
            await asyncio.gather(*lookups, return_exceptions=True)
