"""Ping: round-trip times to a host by ICMP echo, or by TCP connect where ICMP is not allowed.

Methods (``PingResult.method``):

* ``icmp`` — a raw ICMP socket (root or CAP_NET_RAW).
* ``icmp-unprivileged`` — a Linux ICMP datagram socket ("ping socket"); allowed when the
  process's group is inside ``net.ipv4.ping_group_range``.
* ``tcp:<port>`` — the time for a TCP connect to ``Settings.ping_tcp_port`` (25 by default).
  A *refused* connection still measures a round trip (the SYN went out, the RST came back),
  so it counts as a reply with status ``refused``; only a connect that gets no answer within
  the timeout is a loss.

``mode="auto"`` tries them in that order; ``PingResult.method_note`` says why a fallback
happened. Forcing a method that is not permitted gives status ``unavailable`` — never a
traceback.

Statistics (``summarise``): ``stddev_ms`` is the *population* standard deviation of the
received RTTs (like ping(8)'s mdev); ``jitter_ms`` is the mean absolute difference between
consecutive received RTTs (lost probes skipped), as icmplib's Host.jitter and in the spirit
of RFC 3550's interarrival jitter, without its 1/16 smoothing.

Why not icmplib's AsyncSocket.receive / async_ping: they handle one request at a time and
drop the packet, so replies cannot overlap the send schedule (a dead host would cost
count × timeout) and the TTL is lost. icmplib still creates the sockets (with its
permission errors) and forges and sends the echo requests; this module reads replies itself
with recvmsg, taking the TTL / hop limit and the kernel's receive timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import platform
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError

from tui.config import Settings
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import make_resolver, query
from tui.probes.target import Target, parse_target

PingMode = Literal["auto", "icmp", "icmp-unprivileged", "tcp"]
MODES: tuple[str, ...] = ("auto", "icmp", "icmp-unprivileged", "tcp")

MIN_INTERVAL = 0.01  # s; below this a "ping" is a flood
MAX_INTERVAL = 3600.0
MAX_COUNT = 100_000
MIN_PACKET_TIMEOUT = 0.05
# A lost probe waits at most this long, whatever Settings.timeout says (ping(8)'s -W default).
MAX_PACKET_TIMEOUT = 10.0
PAYLOAD_SIZE = 56  # ping(8)'s default: 64-byte ICMP message
RECV_BUFSIZE = 2048  # byte bound for one received datagram; an echo reply is ~100 bytes
ANC_BUFSIZE = 256
MAX_READS_PER_WAKEUP = 64  # a raw socket sees every ICMP packet on the host; don't starve the loop
PING_GROUP_RANGE = "/proc/sys/net/ipv4/ping_group_range"

# Not exported by the socket module; Linux values (asm-generic; SPARC/PA-RISC differ).
_LINUX = sys.platform.startswith("linux")
_SO_TIMESTAMPNS = (
    getattr(socket, "SO_TIMESTAMPNS", 35)
    if _LINUX and not platform.machine().startswith(("sparc", "parisc"))
    else None
)
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12) if _LINUX else None
_TIMESPEC = struct.Struct("@ll")

_V4_UNREACHABLE = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    13: "communication administratively prohibited",
}
_V6_UNREACHABLE = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed policy",
    6: "reject route to destination",
}


@dataclass(frozen=True, slots=True)
class PingReply:
    """One probe: ``rtt_ms`` is None when nothing came back (status timeout or error)."""

    seq: int  # 1-based, like ping(8)'s icmp_seq
    status: Status  # ok | refused (TCP RST: still a reply) | timeout | error
    rtt_ms: float | None
    ttl: int | None  # IPv4 TTL / IPv6 hop limit of the reply, when the method sees it
    at_ms: float  # when this probe was sent, ms after the first one
    message: str = ""

    @property
    def received(self) -> bool:
        return self.rtt_ms is not None


@dataclass(frozen=True, slots=True)
class RttStats:
    """Summary of a probe run. RTT fields are None when nothing was received; jitter needs
    two received RTTs. stddev is the population standard deviation."""

    sent: int
    received: int
    loss_pct: float  # 100.0 when nothing was sent: nothing came back
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    stddev_ms: float | None
    jitter_ms: float | None


@dataclass(frozen=True, slots=True)
class PingPlan:
    """What is about to be pinged and how; passed to ``run(on_start=…)`` before the first probe."""

    target: str
    address: str
    family: int
    method: str
    method_note: str
    count: int
    interval_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class PingResult:
    target: str
    address: str  # the IP pinged; "" when the name did not resolve
    family: int  # 4, 6, or 0 when unresolved
    method: str  # "icmp" | "icmp-unprivileged" | "tcp:<port>" | "" when none was usable
    method_note: str  # why this method (fallback reasons, TCP caveat); "" for plain ICMP
    status: Status
    message: str
    count: int
    interval_s: float
    timeout_s: float  # per-probe wait
    sent: int
    received: int
    loss_pct: float
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    stddev_ms: float | None  # population standard deviation of received RTTs
    jitter_ms: float | None  # mean |difference| of consecutive received RTTs
    replies: tuple[PingReply, ...]
    resolve_ms: float  # DNS time for a host name; 0 for an IP literal
    elapsed_ms: float


# -- statistics ---------------------------------------------------------------------------


def _valid_rtt(value: object) -> float | None:
    """A measured RTT is a finite, non-negative number; anything else counts as lost."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0:
        return None
    return number


def summarise(rtts: Iterable[float | None]) -> RttStats:
    """Counts and statistics for per-probe RTTs in ms, in send order (None = lost).

    Pure and total: any iterable of floats/None gives a result; NaN, infinities and
    negative numbers are not RTTs and count as lost. Means are computed incrementally so
    huge values cannot overflow an intermediate sum.
    """
    sent = 0
    got: list[float] = []
    for value in rtts:
        sent += 1
        rtt = _valid_rtt(value)
        if rtt is not None:
            got.append(rtt)
    received = len(got)
    loss_pct = 100.0 if sent == 0 else (sent - received) * 100.0 / sent
    if not got:
        return RttStats(sent, 0, loss_pct, None, None, None, None, None)
    mean = 0.0
    m2 = 0.0  # Welford: sum of squared deviations
    for k, x in enumerate(got, start=1):
        delta = x - mean
        mean += delta / k
        m2 += delta * (x - mean)
    low, high = min(got), max(got)
    mean = min(max(mean, low), high)  # rounding must not push the mean outside the data
    stddev = math.sqrt(max(m2, 0.0) / received)
    jitter: float | None = None
    if received >= 2:
        jitter = 0.0
        for k, (a, b) in enumerate(zip(got, got[1:], strict=False), start=1):
            jitter += (abs(b - a) - jitter) / k
    return RttStats(sent, received, loss_pct, low, mean, high, stddev, jitter)


def format_loss(loss_pct: float) -> str:
    return f"{loss_pct:.0f}" if float(loss_pct).is_integer() else f"{loss_pct:.1f}"


def _fmt(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.3f}"


def verdict(stats: RttStats, timeout_s: float) -> str:
    """ping(8)-style one-liner: '5 sent, 5 received, 0 % loss, rtt min/avg/max/stddev = …'."""
    line = f"{stats.sent} sent, {stats.received} received, {format_loss(stats.loss_pct)} % loss"
    if stats.received:
        line += (
            f", rtt min/avg/max/stddev = {_fmt(stats.min_ms)}/{_fmt(stats.avg_ms)}/"
            f"{_fmt(stats.max_ms)}/{_fmt(stats.stddev_ms)} ms"
        )
        if stats.jitter_ms is not None:
            line += f", jitter {_fmt(stats.jitter_ms)} ms"
    elif stats.sent:
        line += f" (no reply within {timeout_s:g} s)"
    return line


# -- method selection ---------------------------------------------------------------------


class IcmpSocketFactory(Protocol):
    """Makes an icmplib socket; raises SocketPermissionError when not allowed. Injectable
    so tests can simulate a host without raw-socket privileges."""

    def __call__(self, family: int, privileged: bool) -> ICMPv4Socket | ICMPv6Socket: ...


def default_icmp_socket(family: int, privileged: bool) -> ICMPv4Socket | ICMPv6Socket:
    cls = ICMPv4Socket if family == 4 else ICMPv6Socket
    return cls(privileged=privileged)


def ping_group_allows() -> tuple[bool | None, str]:
    """Does net.ipv4.ping_group_range (it governs IPv6 too) include one of our groups?
    None when it cannot be read (not Linux): then only trying tells."""
    try:
        with open(PING_GROUP_RANGE, encoding="ascii") as fh:
            text = fh.read(64).strip()
        low, high = (int(part) for part in text.split())
    except (OSError, ValueError):
        return None, "net.ipv4.ping_group_range is not readable here"
    groups = {os.getegid(), *os.getgroups()}
    if any(low <= gid <= high for gid in groups):
        return True, f"net.ipv4.ping_group_range '{low} {high}' includes this process's group"
    listed = ", ".join(str(g) for g in sorted(groups)[:4])
    return False, (
        f"net.ipv4.ping_group_range is '{low} {high}', which excludes this process's "
        f"group{'s' if len(groups) > 1 else ''} ({listed})"
    )


def _tcp_note(port: int) -> str:
    return (
        f"TCP connect time to port {port}; a refused connection (RST) still measures the "
        "round trip and counts as a reply"
    )


@dataclass(frozen=True, slots=True)
class _Chosen:
    method: str
    note: str
    icmp: ICMPv4Socket | ICMPv6Socket | None  # None for TCP


@dataclass(frozen=True, slots=True)
class _Refusal:
    method: str
    status: Status
    message: str


def _try_icmp(
    factory: IcmpSocketFactory, family: int, privileged: bool
) -> tuple[ICMPv4Socket | ICMPv6Socket | None, str]:
    kind = "raw ICMP socket" if privileged else "ICMP datagram socket"
    try:
        return factory(family, privileged), ""
    except SocketPermissionError:
        why = " (needs root or CAP_NET_RAW)" if privileged else ""
        return None, f"{kind} not permitted{why}"
    except (ICMPLibError, OSError) as exc:
        return None, f"{kind} unavailable ({exc})"


def _choose(
    mode: str, family: int, port: int, factory: IcmpSocketFactory
) -> _Chosen | _Refusal:
    if mode == "tcp":
        return _Chosen(f"tcp:{port}", _tcp_note(port), None)
    if mode == "icmp":
        sock, why = _try_icmp(factory, family, True)
        if sock is None:
            return _Refusal("icmp", Status.UNAVAILABLE, f"{why}; TCP mode needs no privileges")
        return _Chosen("icmp", "", sock)
    if mode == "icmp-unprivileged":
        sock, why = _try_icmp(factory, family, False)
        if sock is None:
            allowed, group_note = ping_group_allows()
            if allowed is False:
                why += f": {group_note}"
            return _Refusal("icmp-unprivileged", Status.UNAVAILABLE, f"{why}; TCP mode needs no privileges")
        return _Chosen("icmp-unprivileged", "", sock)
    # auto
    reasons: list[str] = []
    sock, why = _try_icmp(factory, family, True)
    if sock is not None:
        return _Chosen("icmp", "", sock)
    reasons.append(why)
    allowed, group_note = ping_group_allows()
    if allowed is False:
        # The kernel would refuse; say why rather than just "permission denied".
        reasons.append(f"ICMP datagram sockets not allowed: {group_note}")
    else:
        sock, why = _try_icmp(factory, family, False)
        if sock is not None:
            return _Chosen("icmp-unprivileged", f"{reasons[0]}; using an ICMP datagram socket",
                           sock)
        reasons.append(why)
    reasons.append(f"fell back to TCP: {_tcp_note(port)}")
    return _Chosen(f"tcp:{port}", "; ".join(reasons), None)


# -- resolution ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    address: str
    family: int
    note: str
    status: Status = Status.OK
    message: str = ""
    ms: float = 0.0


async def _resolve(target: Target, settings: Settings) -> _Resolved:
    if target.is_ip:
        ip = target.ip
        if ip.version == 6 and ip.ipv4_mapped is not None:
            # ICMPv6 cannot reach an IPv4-mapped address; ping the IPv4 host it names.
            return _Resolved(str(ip.ipv4_mapped), 4, f"{ip} is IPv4-mapped; pinging IPv4")
        return _Resolved(ip.compressed, ip.version, "")
    sw = Stopwatch()
    resolver = make_resolver(settings)
    answer = await query(resolver, target.text, "A")
    if answer.status is Status.NOANSWER:
        # Only a name without A records is worth an AAAA question; after a timeout or
        # SERVFAIL a second question would just double the wait.
        answer = await query(resolver, target.text, "AAAA")
        if answer.status is Status.NOANSWER:
            return _Resolved("", 0, "", Status.NOANSWER,
                             f"{target.text} has no A or AAAA record", sw.ms())
    for record in answer.records:
        try:
            ip = ipaddress.ip_address(record)
        except ValueError:
            continue
        more = ""
        if len(answer.records) > 1:
            more = f" (first of {len(answer.records)} {answer.rdtype} records)"
        note = f"{target.text} {answer.rdtype} {ip.compressed}{more}"
        return _Resolved(ip.compressed, ip.version, note, ms=sw.ms())
    status = answer.status if answer.status is not Status.OK else Status.ERROR
    reason = answer.message or f"no usable {answer.rdtype} record"
    return _Resolved("", 0, "", status, f"cannot resolve {target.text}: {reason}", sw.ms())


# -- probing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: Status
    rtt_ms: float | None
    ttl: int | None = None
    message: str = ""


class _Pinger(Protocol):
    async def attempt(self, seq: int) -> _Outcome: ...
    def close(self) -> None: ...


def _os_error_text(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class _TcpPinger:
    def __init__(self, address: str, family: int, port: int, timeout: float) -> None:
        self.family = socket.AF_INET if family == 4 else socket.AF_INET6
        self.sockaddr: tuple = (address, port) if family == 4 else (address, port, 0, 0)
        self.port = port
        self.timeout = timeout

    async def attempt(self, seq: int) -> _Outcome:
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
        except OSError as exc:
            return _Outcome(Status.ERROR, None, message=f"socket: {_os_error_text(exc)}")
        try:
            sock.setblocking(False)
            start = time.perf_counter()
            try:
                await asyncio.wait_for(loop.sock_connect(sock, self.sockaddr), self.timeout)
            except TimeoutError:
                return _Outcome(Status.TIMEOUT, None,
                                message=f"no answer to connect within {self.timeout:g} s")
            except ConnectionRefusedError:
                rtt = (time.perf_counter() - start) * 1000.0
                return _Outcome(Status.REFUSED, rtt,
                                message=f"port {self.port} refused: the RST counts as a reply")
            except OSError as exc:
                return _Outcome(Status.ERROR, None, message=_os_error_text(exc))
            rtt = (time.perf_counter() - start) * 1000.0
            return _Outcome(Status.OK, rtt, message=f"connected to port {self.port}")
        finally:
            sock.close()

    def close(self) -> None:
        pass


# (perf_counter at read, kernel receive stamp or None, TTL or None, status, message)
_Heard = tuple[float, float | None, int | None, Status, str]


class _IcmpPinger:
    """Sends with icmplib, reads every reply from one non-blocking socket and hands it to the
    waiting attempt by sequence number, so probes can overlap like ping(8)'s."""

    def __init__(
        self, icmp: ICMPv4Socket | ICMPv6Socket, address: str, family: int, timeout: float
    ) -> None:
        self.icmp = icmp
        self.address = address
        self.dest_ip = ipaddress.ip_address(address)
        self.family = family
        self.timeout = timeout
        self.privileged = bool(icmp.is_privileged)
        self.ident = int.from_bytes(os.urandom(2), "big")
        # A per-run token in the payload: a raw socket sees every echo reply on the host.
        self.token = os.urandom(8)
        self.pending: dict[int, tuple[bytes, asyncio.Future[_Heard]]] = {}
        self.loop = asyncio.get_running_loop()
        sock = icmp.sock
        sock.setblocking(False)
        if _SO_TIMESTAMPNS is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        with contextlib.suppress(OSError):
            if family == 6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            elif _IP_RECVTTL is not None and not self.privileged:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
        self.fd = sock.fileno()
        self.loop.add_reader(self.fd, self._readable)
        self.closed = False

    def _payload(self, seq: int) -> bytes:
        head = self.token + struct.pack("!I", seq)
        return head + bytes(PAYLOAD_SIZE - len(head))

    async def attempt(self, seq: int) -> _Outcome:
        icmp_seq = seq & 0xFFFF
        payload = self._payload(seq)
        future: asyncio.Future[_Heard] = self.loop.create_future()
        self.pending[icmp_seq] = (payload, future)
        request = ICMPRequest(self.address, self.ident, icmp_seq, payload=payload)
        try:
            start = time.perf_counter()
            try:
                self.icmp.send(request)
            except ICMPLibError as exc:
                text = str(exc) or type(exc).__name__
                status = Status.REFUSED if "refused" in text.lower() else Status.ERROR
                return _Outcome(status, None, message=f"send failed: {text}")
            wall_sent = request.time
            if not self.privileged:
                # The kernel replaced our identifier with the socket's; it also filters
                # replies to this socket by it.
                self.ident = request.id
            try:
                perf_rx, kernel_rx, ttl, status, text = await asyncio.wait_for(
                    future, self.timeout
                )
            except TimeoutError:
                return _Outcome(Status.TIMEOUT, None,
                                message=f"no reply within {self.timeout:g} s")
            rtt = (perf_rx - start) * 1000.0 if status is Status.OK else None
            if rtt is not None and kernel_rx is not None:
                # The kernel's receive stamp excludes event-loop delay; trust it when sane.
                kernel_rtt = (kernel_rx - wall_sent) * 1000.0
                if 0.0 <= kernel_rtt <= rtt + 1.0:
                    rtt = kernel_rtt
            return _Outcome(status, rtt, ttl, text)
        finally:
            self.pending.pop(icmp_seq, None)
            if not future.done():
                future.cancel()

    # Reading ---------------------------------------------------------------------------

    def _readable(self) -> None:
        sock = self.icmp.sock
        if sock is None:
            return
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data, ancdata, _flags, source = sock.recvmsg(RECV_BUFSIZE, ANC_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # e.g. a queued ICMP error on a datagram socket; the waiting probe times out.
                return
            self._handle(data, ancdata, source, time.perf_counter())

    def _ancillary(self, ancdata: list[tuple[int, int, bytes]]) -> tuple[float | None, int | None]:
        stamp: float | None = None
        ttl: int | None = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= \
                    _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(payload)
                stamp = sec + nsec / 1e9
            elif (
                (level == socket.IPPROTO_IP and kind == socket.IP_TTL)
                or (level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT)
            ) and len(payload) >= 4:
                ttl = int.from_bytes(payload[:4], sys.byteorder)
        return stamp, ttl

    def _handle(
        self, data: bytes, ancdata: list[tuple[int, int, bytes]], source: object, perf_rx: float
    ) -> None:
        stamp, ttl = self._ancillary(ancdata)
        icmp = data
        if self.family == 4 and self.privileged:
            # Raw IPv4 sockets deliver the IP header; IPv6 and datagram sockets do not.
            if len(data) < 20:
                return
            ihl = (data[0] & 0x0F) * 4
            ttl = data[8]
            icmp = data[ihl:]
        if len(icmp) < 8:
            return
        kind, code = icmp[0], icmp[1]
        echo_reply = 0 if self.family == 4 else 129
        if kind == echo_reply:
            ident, icmp_seq = struct.unpack_from("!HH", icmp, 4)
            if self.privileged and ident != self.ident:
                return
            if not self._from_target(source):
                return
            entry = self.pending.get(icmp_seq)
            if entry is None or icmp[8:8 + PAYLOAD_SIZE] != entry[0]:
                return  # someone else's echo, or a late duplicate
            if not entry[1].done():
                entry[1].set_result((perf_rx, stamp, ttl, Status.OK, ""))
            return
        if self.privileged:
            self._handle_error(kind, code, icmp, source, perf_rx)

    def _from_target(self, source: object) -> bool:
        if not isinstance(source, tuple) or not source:
            return True  # nothing to compare with; id, sequence and payload already matched
        try:
            return ipaddress.ip_address(str(source[0]).split("%")[0]) == self.dest_ip
        except ValueError:
            return False

    def _handle_error(
        self, kind: int, code: int, icmp: bytes, source: object, perf_rx: float
    ) -> None:
        """An ICMP error about one of our echo requests ends that probe as an error."""
        if self.family == 4:
            names = {3: "destination unreachable", 11: "time exceeded", 12: "parameter problem"}
            if kind not in names or len(icmp) < 8 + 20 + 8:
                return
            inner = icmp[8:]
            inner_ihl = (inner[0] & 0x0F) * 4
            inner_icmp = inner[inner_ihl:]
            request_type = 8
            detail = _V4_UNREACHABLE.get(code, f"code {code}") if kind == 3 else f"code {code}"
        else:
            names = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
                     4: "parameter problem"}
            if kind not in names or len(icmp) < 8 + 40 + 8:
                return
            inner_icmp = icmp[8 + 40:]
            request_type = 128
            detail = _V6_UNREACHABLE.get(code, f"code {code}") if kind == 1 else f"code {code}"
        if len(inner_icmp) < 8 or inner_icmp[0] != request_type:
            return
        ident, icmp_seq = struct.unpack_from("!HH", inner_icmp, 4)
        if ident != self.ident:
            return
        entry = self.pending.get(icmp_seq)
        if entry is None or entry[1].done():
            return
        who = str(source[0]) if isinstance(source, tuple) and source else "a router"
        text = f"{names[kind]} ({detail}) from {who}"
        entry[1].set_result((perf_rx, None, None, Status.ERROR, text))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.fd)
        for _payload, future in self.pending.values():
            if not future.done():
                future.cancel()
        self.pending.clear()
        self.icmp.close()


@dataclass(frozen=True, slots=True)
class _Session:
    plan: PingPlan
    pinger: _Pinger
    resolve_ms: float


@dataclass(frozen=True, slots=True)
class _Failed:
    target: str
    address: str
    family: int
    method: str
    status: Status
    message: str
    resolve_ms: float


def packet_timeout(settings: Settings) -> float:
    """The per-probe wait: Settings.timeout, kept within [0.05 s, 10 s]."""
    return min(max(float(settings.timeout), MIN_PACKET_TIMEOUT), MAX_PACKET_TIMEOUT)


def _check_args(count: int, interval: float, mode: str) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}, got {count!r}")
    if not (isinstance(interval, int | float) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        raise ValueError(f"interval must be {MIN_INTERVAL}…{MAX_INTERVAL:g} s, got {interval!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


async def _open(
    target: Target | str,
    settings: Settings,
    count: int | None,
    interval: float | None,
    mode: str,
    factory: IcmpSocketFactory | None,
) -> _Session | _Failed:
    if isinstance(target, str):
        target = parse_target(target)  # callers validate first; a bad string is a bug
    count = settings.ping_count if count is None else count
    interval = settings.ping_interval if interval is None else interval
    _check_args(count, interval, mode)
    port = settings.ping_tcp_port
    if not 0 < port < 65536:
        raise ValueError(f"ping_tcp_port {port} is not a TCP port")
    timeout = packet_timeout(settings)
    resolved = await _resolve(target, settings)
    if resolved.status is not Status.OK:
        return _Failed(target.text, "", 0, "", resolved.status, resolved.message, resolved.ms)
    chosen = _choose(mode, resolved.family, port, factory or default_icmp_socket)
    if isinstance(chosen, _Refusal):
        return _Failed(target.text, resolved.address, resolved.family, chosen.method,
                       chosen.status, chosen.message, resolved.ms)
    pinger: _Pinger
    if chosen.icmp is None:
        pinger = _TcpPinger(resolved.address, resolved.family, port, timeout)
    else:
        try:
            pinger = _IcmpPinger(chosen.icmp, resolved.address, resolved.family, timeout)
        except OSError as exc:
            chosen.icmp.close()
            return _Failed(target.text, resolved.address, resolved.family, chosen.method,
                           Status.ERROR, f"ICMP socket setup failed: {_os_error_text(exc)}",
                           resolved.ms)
    note = "; ".join(n for n in (resolved.note, chosen.note) if n)
    plan = PingPlan(target.text, resolved.address, resolved.family, chosen.method, note,
                    count, float(interval), timeout)
    return _Session(plan, pinger, resolved.ms)


async def _replies(session: _Session) -> AsyncIterator[PingReply]:
    """Send on schedule from a background task; yield outcomes in sequence order."""
    plan, pinger = session.plan, session.pinger
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[asyncio.Future[PingReply]] = asyncio.Queue()
    started = loop.time()

    async def probe(seq: int, at_ms: float) -> PingReply:
        outcome = await pinger.attempt(seq)
        return PingReply(seq, outcome.status, outcome.rtt_ms, outcome.ttl, at_ms, outcome.message)

    async def launcher() -> None:
        try:
            for seq in range(1, plan.count + 1):
                delay = started + (seq - 1) * plan.interval_s - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                at_ms = round((loop.time() - started) * 1000.0, 3)
                queue.put_nowait(asyncio.ensure_future(probe(seq, at_ms)))
        except Exception as exc:  # a bug: hand it to the consumer rather than hang it
            failed: asyncio.Future[PingReply] = loop.create_future()
            failed.set_exception(exc)
            queue.put_nowait(failed)

    launch = asyncio.ensure_future(launcher())
    try:
        for _ in range(plan.count):
            item = await queue.get()
            yield await item
    finally:
        launch.cancel()
        leftovers: list[asyncio.Future[PingReply]] = [launch]
        while not queue.empty():
            leftovers.append(queue.get_nowait())
        for fut in leftovers:
            fut.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        pinger.close()


def _overall(replies: tuple[PingReply, ...], stats: RttStats) -> Status:
    if stats.received:
        return Status.OK
    statuses = {r.status for r in replies}
    if Status.TIMEOUT in statuses:
        return Status.TIMEOUT
    if statuses == {Status.REFUSED}:
        return Status.REFUSED
    return Status.ERROR


def _result(session: _Session, replies: tuple[PingReply, ...], elapsed_ms: float) -> PingResult:
    plan = session.plan
    stats = summarise(r.rtt_ms for r in replies)
    status = _overall(replies, stats)
    message = verdict(stats, plan.timeout_s)
    if not stats.received:
        errors = [r.message for r in replies if r.status is not Status.TIMEOUT and r.message]
        if errors:
            message += f"; {errors[0]}"
    return PingResult(
        target=plan.target, address=plan.address, family=plan.family, method=plan.method,
        method_note=plan.method_note, status=status, message=message, count=plan.count,
        interval_s=plan.interval_s, timeout_s=plan.timeout_s, sent=stats.sent,
        received=stats.received, loss_pct=stats.loss_pct, min_ms=stats.min_ms,
        avg_ms=stats.avg_ms, max_ms=stats.max_ms, stddev_ms=stats.stddev_ms,
        jitter_ms=stats.jitter_ms, replies=replies, resolve_ms=session.resolve_ms,
        elapsed_ms=elapsed_ms,
    )


def _failed_result(
    failed: _Failed, settings: Settings, count: int | None, interval: float | None,
    elapsed_ms: float,
) -> PingResult:
    stats = summarise(())
    return PingResult(
        target=failed.target, address=failed.address, family=failed.family,
        method=failed.method, method_note="", status=failed.status, message=failed.message,
        count=settings.ping_count if count is None else count,
        interval_s=float(settings.ping_interval if interval is None else interval),
        timeout_s=packet_timeout(settings), sent=0, received=0, loss_pct=stats.loss_pct,
        min_ms=None, avg_ms=None, max_ms=None, stddev_ms=None, jitter_ms=None, replies=(),
        resolve_ms=failed.resolve_ms, elapsed_ms=elapsed_ms,
    )


async def stream(
    target: Target | str,
    settings: Settings,
    count: int | None = None,
    interval: float | None = None,
    mode: str = "auto",
    *,
    icmp_socket_factory: IcmpSocketFactory | None = None,
) -> AsyncIterator[PingReply]:
    """Yield one PingReply per probe, in sequence order, as each is answered or lost.

    Yields nothing when the target does not resolve or no method is usable; use
    ``run(on_start=…, on_reply=…)`` to learn why and which method is used. Close the
    generator (``contextlib.aclosing``) if you stop early, so its socket closes at once.
    """
    opened = await _open(target, settings, count, interval, mode, icmp_socket_factory)
    if isinstance(opened, _Failed):
        return
    async with contextlib.aclosing(_replies(opened)) as replies:
        async for reply in replies:
            yield reply


async def run(
    target: Target | str,
    settings: Settings,
    *,
    count: int | None = None,
    interval: float | None = None,
    mode: str = "auto",
    on_reply: Callable[[PingReply], None] | None = None,
    on_start: Callable[[PingPlan], None] | None = None,
    icmp_socket_factory: IcmpSocketFactory | None = None,
) -> PingResult:
    """Ping ``target`` and summarise. ``on_start`` gets the plan (address, method) before the
    first probe; ``on_reply`` gets each PingReply as it happens. Count and interval default
    to Settings.ping_count / ping_interval; each probe waits ``packet_timeout(settings)``."""
    sw = Stopwatch()
    opened = await _open(target, settings, count, interval, mode, icmp_socket_factory)
    if isinstance(opened, _Failed):
        return _failed_result(opened, settings, count, interval, sw.ms())
    if on_start is not None:
        try:
            on_start(opened.plan)
        except BaseException:
            opened.pinger.close()
            raise
    collected: list[PingReply] = []
    async with contextlib.aclosing(_replies(opened)) as replies:
        async for reply in replies:
            collected.append(reply)
            if on_reply is not None:
                on_reply(reply)
    return _result(opened, tuple(collected), sw.ms())
