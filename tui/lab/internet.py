"""A simulated internet on 127.0.0.0/8: thousands of mail servers, most addresses empty.

    internet = Internet(InternetSpec(network="127.0.0.0/21", listeners=400, seed=7))
    await internet.start()                    # one port for every address: internet.port
    comp = internet.composition               # the truth: every listening address and why
    comp.expected(help=True)                  # what a survey of the network must count
    internet.connections("127.0.3.9")         # how often that address was connected to
    internet.add_dnsbl(zone, "bl.lab.test")   # list the blacklisted hosts in a lab DNS zone
    await internet.stop()

Linux routes all of 127.0.0.0/8 to the loopback interface, so every address there can
carry its own listener. Given a seed, the network is filled deterministically:

* ``listeners`` addresses get a listener (never x.y.z.0, x.y.z.255 or 127.0.0.1, which the
  other lab servers share); every other address refuses connections (nothing listens);
* of those, fixed fractions are *silent* (accept, never greet: the classic page's "did not
  respond"), *rejecting* (a 554 greeting), *resetting* (accept, then a TCP reset); the
  rest answer with a 220 greeting from a lab SMTP preset, mixed in the classic page's MTA
  shares (CLASSIC_MIX) with exact counts (largest remainder);
* of the answering hosts, a fraction are open relays (served by the real
  tui.lab.smtp.SmtpServer with relay="open", whose sessions record every command, so a
  test can prove the relay test never sent DATA) and a fraction are blacklisted (listed in
  the DNSBL zone ``add_dnsbl`` writes).

Everything else is served by a small greeting-only asyncio Protocol (the fast path: one
``create_server`` per address, no task per connection). It greets with the preset's text
and answers EHLO/HELO/HELP/RSET/NOOP/QUIT like the preset, MAIL with 250 and every RCPT
with the preset's relay refusal, so a relay test finds it closed; DATA is refused and
counted (``data_commands``).

The lab GeoIP DB (tui.lab.geoipdb.LAB_PLACES) maps 127.0.0.0/24 … 127.0.7.0/24 to eight
countries, so a listener's expected country follows from its /24 (None beyond them).

``wildcard=True`` (benchmarks of random-IPv4 mode): one listener on 0.0.0.0:port serves
every address of 127.0.0.0/8 at once — the composed hosts as above, every other address
silent — because 16 million listeners are not possible. Linux cannot bind the same port
on an address and the wildcard, so open relays (real SmtpServers) are not available in
this mode; connections to a non-loopback local address are closed at once.

Run in its own process for benchmarks::

    python -m tui.lab.internet --listeners 2000 --network 127.0.0.0/20 --seed 1

prints the composition as one JSON line, then serves until killed (SIGTERM/SIGINT) or
until ``quit`` arrives on stdin; ``counts`` on stdin prints the connection counters as
one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import json
import math
import random
import signal
import socket
import struct
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tui.lab.geoipdb import LAB_PLACES
from tui.lab.smtp import PRESETS, Preset, SmtpProfile, SmtpServer

# The classic statistics page's MTA shares (Sendmail 24 %, Postfix 20 %, qmail 17 %, Exim
# 13 %, IMail 2 %, InterMail 1 %, Other 5 %), the rest split between Microsoft Exchange and
# greetings that name no software; as (lab preset, weight).
CLASSIC_MIX: tuple[tuple[str, float], ...] = (
    ("sendmail", 24), ("postfix", 12), ("postfix-debian", 8), ("qmail", 17), ("exim", 13),
    ("imail", 2), ("intermail", 1), ("opensmtpd", 2), ("haraka", 1), ("mdaemon", 1),
    ("kerio", 1), ("exchange", 6), ("exchange-2003", 2), ("generic", 10),
)

# The survey category each preset impersonates (tui.survey.record.CATEGORIES).
PRESET_CATEGORY: dict[str, str] = {
    "sendmail": "Sendmail", "postfix": "Postfix", "postfix-debian": "Postfix",
    "postfix-ubuntu": "Postfix", "postfix-multiline": "Postfix", "qmail": "qmail",
    "exim": "Exim", "imail": "IMail", "intermail": "InterMail",
    "exchange": "Microsoft Exchange", "exchange-2003": "Microsoft Exchange",
    "exchange-online": "Other", "opensmtpd": "Other", "haraka": "Other", "mdaemon": "Other",
    "mailenable": "Other", "kerio": "Other", "generic": "Unidentified",
}
# Presets whose greeting names no software ("220 host ESMTP"): only HELP tells qmail apart,
# which is why the classic surveys asked HELP. Greeting-only they are "Unidentified".
ANONYMOUS_GREETING = frozenset({"qmail", "generic"})
# Timing-based presets make a poor bulk population (postscreen pauses 1 s on purpose).
_UNSUITABLE = frozenset({"postscreen"})

HostKind = Literal["answer", "open-relay", "silent", "reject", "reset"]
KINDS: tuple[str, ...] = HostKind.__args__  # type: ignore[attr-defined]

MAX_LINE = 4096
MAX_COMMANDS = 200  # per connection; the survey and the relay test need far fewer
REJECT_GREETING = "554 5.7.1 {host} ESMTP not accepting connections from you"
LISTING_CODE = "127.0.0.2"

_PLACES = [(ipaddress.ip_network(cidr), place.country) for cidr, place in LAB_PLACES.items()
           if ipaddress.ip_network(cidr).version == 4]


def lab_country(address: str) -> str | None:
    """The country the lab GeoIP DB gives ``address`` (None where it has none)."""
    ip = ipaddress.ip_address(address)
    for net, country in _PLACES:
        if ip in net:
            return country
    return None


def host_name(address: str) -> str:
    return "mx-" + address.replace(".", "-") + ".lab.test"


# -- the spec and the truth ---------------------------------------------------------------


@dataclass(frozen=True)
class InternetSpec:
    network: str = "127.0.0.0/21"  # every address in it listens or refuses (or is silent)
    listeners: int = 400  # addresses with a listener
    silent: float = 0.05  # fractions of the listeners …
    rejecting: float = 0.02
    resetting: float = 0.02
    open_relays: float = 0.05  # … and of the answering hosts
    blacklisted: float = 0.10
    mix: tuple[tuple[str, float], ...] = CLASSIC_MIX
    seed: int = 0
    port: int = 0  # 0: a free port, the same on every address
    wildcard: bool = False  # serve all of 127/8 from 0.0.0.0 (see the module docstring)
    idle_timeout: float = 30.0  # a silent or idle connection is closed after this
    # Seconds before a fast listener greets: the round trip and greeting latency of a
    # server across the internet (0 = at once, loopback speed).
    greeting_delay: float = 0.0
    backlog: int = 128

    def __post_init__(self) -> None:
        net = ipaddress.ip_network(self.network)
        if net.version != 4 or not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
            raise ValueError(f"network {self.network}: must lie inside 127.0.0.0/8")
        for name in ("silent", "rejecting", "resetting", "open_relays", "blacklisted"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, not {value}")
        if self.silent + self.rejecting + self.resetting > 1.0:
            raise ValueError("silent + rejecting + resetting must not exceed 1")
        if not self.mix or any(w < 0 for _, w in self.mix) or sum(w for _, w in self.mix) <= 0:
            raise ValueError("mix needs positive weights")
        for preset, _ in self.mix:
            if preset not in PRESETS or preset in _UNSUITABLE:
                raise ValueError(f"mix: {preset!r} is not a usable lab preset")
        if self.listeners < 0 or self.listeners > _eligible_count(net):
            raise ValueError(f"listeners must be 0..{_eligible_count(net)} for {net}")
        if self.wildcard and self.open_relays > 0:
            raise ValueError("wildcard mode cannot serve open relays (set open_relays=0)")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is not a TCP port")
        if not 0 <= self.greeting_delay < self.idle_timeout:
            raise ValueError("greeting_delay must be at least 0 and below idle_timeout")


def _eligible(value: int) -> bool:
    last = value & 0xFF
    return 0 < last < 255 and value != 0x7F000001  # not .0/.255, not 127.0.0.1


def _eligible_count(net: ipaddress.IPv4Network) -> int:
    lo = int(net.network_address)
    hi = int(net.broadcast_address)
    if net.num_addresses <= 1 << 16:
        return sum(1 for v in range(lo, hi + 1) if _eligible(v))
    return net.num_addresses * 254 // 256 - 1  # whole /24s: .0 and .255 out, and 127.0.0.1


@dataclass(frozen=True, slots=True)
class LabHost:
    address: str
    kind: str  # one of KINDS
    preset: str | None  # answer / open-relay / reject: the MTA it impersonates
    category: str | None  # PRESET_CATEGORY of the preset
    country: str | None  # from the lab GeoIP DB
    listed: bool  # in the lab DNSBL zone (answering hosts only)


def _apportion(total: int, weights: Iterable[tuple[str, float]]) -> list[tuple[str, int]]:
    """Exact counts summing to ``total`` (largest remainder, ties in the given order)."""
    items = list(weights)
    scale = sum(w for _, w in items)
    raw = [(name, total * w / scale) for name, w in items]
    counts = [[name, math.floor(x), x - math.floor(x), i] for i, (name, x) in enumerate(raw)]
    short = total - sum(c[1] for c in counts)
    for c in sorted(counts, key=lambda c: (-c[2], c[3]))[:short]:
        c[1] += 1
    return [(c[0], c[1]) for c in counts]


@dataclass(frozen=True)
class Composition:
    """What the simulated internet holds; surveys are checked against it."""

    network: str
    size: int  # addresses in the network
    port: int
    seed: int
    wildcard: bool
    hosts: Mapping[str, LabHost] = field(repr=False)  # every listening address

    def host(self, address: str) -> LabHost | None:
        return self.hosts.get(address)

    def kinds(self) -> dict[str, int]:
        counts = Counter(h.kind for h in self.hosts.values())
        return {k: counts.get(k, 0) for k in KINDS}

    def outcome_of(self, address: str) -> str:
        """The survey outcome this address must give (tui.survey.record.Outcome values)."""
        host = self.hosts.get(address)
        if host is None:
            return "timeout" if self.wildcard else "refused"
        return {"answer": "answered", "open-relay": "answered", "silent": "timeout",
                "reject": "rejected", "reset": "reset"}[host.kind]

    def category_of(self, host: LabHost, *, help: bool = False) -> str:  # noqa: A002
        assert host.preset is not None
        if not help and host.preset in ANONYMOUS_GREETING:
            return "Unidentified"
        return PRESET_CATEGORY[host.preset]

    def expected(
        self,
        addresses: Iterable[str] | None = None,
        *,
        help: bool = False,  # noqa: A002 - the survey option of that name
        relay: bool = False,
        dnsbl: bool = False,
    ) -> dict[str, Any]:
        """The counts a survey of ``addresses`` (default: the whole network) must report:
        ``by_outcome``, ``by_mta`` and ``by_country`` over answered hosts ("ZZ" for no
        country), ``open_relays_by_mta`` (with relay), ``blacklisted_by_mta`` (with dnsbl),
        ``relay_tested`` / ``dnsbl_tested`` (the answered hosts, when enabled)."""
        outcomes: Counter[str] = Counter()
        if addresses is None:
            empty = self.size - len(self.hosts)
            outcomes["timeout" if self.wildcard else "refused"] += empty
            chosen: Iterable[LabHost] = self.hosts.values()
        else:
            picked = []
            for address in addresses:
                host = self.hosts.get(address)
                if host is None:
                    outcomes[self.outcome_of(address)] += 1
                else:
                    picked.append(host)
            chosen = picked
        by_mta: Counter[str] = Counter()
        by_country: Counter[str] = Counter()
        relays: Counter[str] = Counter()
        listed: Counter[str] = Counter()
        for host in chosen:
            outcomes[self.outcome_of(host.address)] += 1
            if host.kind not in ("answer", "open-relay"):
                continue
            category = self.category_of(host, help=help)
            by_mta[category] += 1
            by_country[host.country or "ZZ"] += 1
            if relay and host.kind == "open-relay":
                relays[category] += 1
            if dnsbl and host.listed:
                listed[category] += 1
        answered = sum(by_mta.values())
        return {
            "by_outcome": {k: outcomes.get(k, 0) for k in
                           ("answered", "rejected", "refused", "timeout", "reset", "error")},
            "by_mta": dict(by_mta),
            "by_country": dict(by_country),
            "open_relays_by_mta": dict(relays),
            "blacklisted_by_mta": dict(listed),
            "relay_tested": answered if relay else 0,
            "dnsbl_tested": answered if dnsbl else 0,
        }

    def to_json(self, *, hosts: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "network": self.network, "size": self.size, "port": self.port, "seed": self.seed,
            "wildcard": self.wildcard, "listeners": len(self.hosts), "kinds": self.kinds(),
            "expected": self.expected(), "expected_with_help": self.expected(help=True),
        }
        if hosts:
            doc["hosts"] = [asdict(h) for h in self.hosts.values()]
        return doc


def compose(spec: InternetSpec) -> dict[str, LabHost]:
    """The hosts of ``spec``: deterministic for its seed (independent of the port)."""
    net = ipaddress.IPv4Network(spec.network)
    lo, size = int(net.network_address), net.num_addresses
    rng = random.Random(spec.seed)
    chosen: set[int] = set()
    while len(chosen) < spec.listeners:
        value = lo + rng.randrange(size)
        if _eligible(value):
            chosen.add(value)
    addresses = [socket.inet_ntoa(struct.pack("!I", v)) for v in sorted(chosen)]
    n = len(addresses)
    n_silent, n_reject, n_reset = (round(n * f) for f in
                                   (spec.silent, spec.rejecting, spec.resetting))
    n_answer = n - n_silent - n_reject - n_reset
    kinds = ["silent"] * n_silent + ["reject"] * n_reject + ["reset"] * n_reset
    kinds += ["answer"] * n_answer
    rng.shuffle(kinds)
    # Exact shares among the answering hosts; the rejecting ones drawn from the same mix.
    presets = [p for p, count in _apportion(n_answer, spec.mix) for _ in range(count)]
    reject_presets = [p for p, count in _apportion(n_reject, spec.mix) for _ in range(count)]
    rng.shuffle(presets)
    rng.shuffle(reject_presets)
    n_open = round(n_answer * spec.open_relays)
    n_listed = round(n_answer * spec.blacklisted)
    open_flags = [True] * n_open + [False] * (n_answer - n_open)
    listed_flags = [True] * n_listed + [False] * (n_answer - n_listed)
    rng.shuffle(open_flags)
    rng.shuffle(listed_flags)
    hosts: dict[str, LabHost] = {}
    answering = 0
    for address, kind in zip(addresses, kinds, strict=True):
        preset = category = None
        listed = False
        if kind in ("answer", "reject"):
            preset = presets.pop() if kind == "answer" else reject_presets.pop()
            category = PRESET_CATEGORY[preset]
        if kind == "answer":
            if open_flags[answering]:
                kind = "open-relay"
            listed = listed_flags[answering]
            answering += 1
        hosts[address] = LabHost(address, kind, preset, category, lab_country(address), listed)
    return hosts


# -- the fast listener ----------------------------------------------------------------------


class _Behaviour:
    """What one address does, prepared once (bytes ready to write)."""

    __slots__ = ("kind", "greeting", "preset", "name")

    def __init__(self, host: LabHost | None) -> None:
        self.kind = host.kind if host is not None else "silent"
        self.preset: Preset | None = PRESETS[host.preset] if host and host.preset else None
        self.name = host_name(host.address) if host is not None else ""
        self.greeting = b""
        if self.kind == "answer" and self.preset is not None:
            self.greeting = _reply_bytes(220, self.preset.greeting_for(self.name))
        elif self.kind == "reject":
            self.greeting = (REJECT_GREETING.format(host=self.name) + "\r\n").encode()


def _reply_bytes(code: int, lines: tuple[str, ...] | list[str]) -> bytes:
    lines = list(lines) or [""]
    out = [f"{code}-{line}" for line in lines[:-1]] + [f"{code} {lines[-1]}"]
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


class _Fast(asyncio.Protocol):
    """Greeting-only SMTP with just enough dialogue for EHLO/HELP and a (closed) relay test."""

    __slots__ = ("internet", "behaviour", "transport", "buf", "commands", "idle", "helo",
                 "greeted")

    def __init__(self, internet: Internet, behaviour: _Behaviour | None) -> None:
        self.internet = internet
        self.behaviour = behaviour  # None: wildcard listener, decided per connection
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.commands = 0
        self.idle: asyncio.TimerHandle | None = None
        self.helo = False
        self.greeted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        local = transport.get_extra_info("sockname")
        address = local[0] if local else "?"
        if self.behaviour is None:
            if not address.startswith("127."):  # wildcard mode: loopback only
                transport.abort()
                return
            self.behaviour = self.internet._behaviour_for(address)
        self.internet.counts[address] += 1
        kind = self.behaviour.kind
        if kind == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close sends RST, not FIN
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            transport.abort()
            return
        delay = self.internet.spec.greeting_delay
        if self.behaviour.greeting and delay > 0 and self.internet.loop is not None:
            self.internet.loop.call_later(delay, self._greet)
        else:
            self._greet()
        self._arm()

    def _greet(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.behaviour is None:
            return
        self.greeted = True
        if self.behaviour.greeting:
            transport.write(self.behaviour.greeting)  # type: ignore[attr-defined]

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = self.internet.loop
        if loop is not None:
            self.idle = loop.call_later(self.internet.spec.idle_timeout, self._expire)

    def _expire(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.behaviour is None or self.behaviour.kind == "silent" or not self.greeted:
            self._arm()  # silent, or talking before the greeting: ignored
            return
        buf = self.buf + data
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            line, buf = buf[:end].rstrip(b"\r"), buf[end + 1:]
            self.commands += 1
            if self.commands > MAX_COMMANDS:
                transport.write(b"421 4.7.0 too many commands\r\n")
                transport.close()
                return
            if not self._command(line.decode("utf-8", "replace")):
                return
        if len(buf) > MAX_LINE:
            transport.write(b"500 5.5.0 Line too long\r\n")
            transport.close()
            return
        self.buf = buf
        self._arm()

    def _say(self, code: int, *lines: str) -> None:
        assert self.transport is not None
        self.transport.write(_reply_bytes(code, lines))

    def _preset_reply(self, name: str, **values: str) -> None:
        assert self.behaviour is not None and self.behaviour.preset is not None
        code, text = self.behaviour.preset.reply(name, host=self.behaviour.name, **values)
        self._say(code, text)

    def _command(self, line: str) -> bool:
        """Answer one command; False when the connection is done."""
        behaviour = self.behaviour
        assert behaviour is not None and self.transport is not None
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "QUIT":
            if behaviour.preset is not None:
                self._preset_reply("quit")
            else:
                self._say(221, "2.0.0 Bye")
            self.transport.close()
            return False
        if behaviour.kind == "reject" or behaviour.preset is None:
            self._say(503, "5.5.1 no SMTP service here")
            return True
        preset, name = behaviour.preset, behaviour.name
        if verb == "EHLO":
            self.helo = True
            lines = preset.ehlo_for(name, arg.strip(), "127.0.0.1", starttls=False)
            self._say(250, *lines)
        elif verb == "HELO":
            self.helo = True
            self._say(250, preset.helo_t.format_map({"host": name, "client": arg.strip(),
                                                     "ip": "127.0.0.1"}))
        elif verb == "HELP":
            self._say(preset.help_code, *preset.help)
        elif verb in ("RSET", "NOOP"):
            self._preset_reply(verb.lower())
        elif verb == "MAIL":
            self._preset_reply("mail_ok" if self.helo else "need_helo",
                               addr=_path(arg))
        elif verb == "RCPT":
            # Every recipient is refused as a relay attempt: the bulk are closed servers.
            self._preset_reply("relay_denied", addr=_path(arg))
        elif verb in ("DATA", "BDAT"):
            self.internet.data_commands += 1
            self._preset_reply("need_rcpt")
        elif verb == "STARTTLS":
            self._say(454, "4.7.0 TLS not available")
        else:
            self._preset_reply("not_implemented" if verb.isalpha() else "unknown", verb=verb)
        return True


def _path(arg: str) -> str:
    _, _, rest = arg.partition(":")
    return rest.strip().strip("<>").split(" ", 1)[0][:256]


# -- the internet -----------------------------------------------------------------------------


class Internet:
    """Start/stop the listeners of an InternetSpec; see the module docstring."""

    def __init__(self, spec: InternetSpec | None = None) -> None:
        self.spec = spec or InternetSpec()
        self.hosts = compose(self.spec)
        self.port = self.spec.port
        self.counts: Counter[str] = Counter()  # connections per local address (fast path)
        self.data_commands = 0  # DATA/BDAT seen by the fast listeners (must stay 0)
        self.relays: dict[str, SmtpServer] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._reserved: list[socket.socket] = []
        self._behaviours: dict[str, _Behaviour] = {}

    @property
    def composition(self) -> Composition:
        net = ipaddress.IPv4Network(self.spec.network)
        return Composition(self.spec.network, net.num_addresses, self.port, self.spec.seed,
                           self.spec.wildcard, self.hosts)

    def _behaviour_for(self, address: str) -> _Behaviour:
        behaviour = self._behaviours.get(address)
        if behaviour is None:
            behaviour = self._behaviours[address] = _Behaviour(self.hosts.get(address))
            if len(self._behaviours) > 100_000:  # wildcard mode: silent addresses by the million
                self._behaviours.clear()
        return behaviour

    def connections(self, address: str) -> int:
        """Connections accepted on ``address`` so far (0 for an address nobody listens on)."""
        relay = self.relays.get(address)
        if relay is not None:
            return len(relay.sessions)
        return self.counts.get(address, 0)

    def connection_counts(self) -> dict[str, int]:
        out = {a: n for a, n in self.counts.items() if n}
        for address, relay in self.relays.items():
            if relay.sessions:
                out[address] = len(relay.sessions)
        return out

    def relay_sessions(self) -> list[Any]:
        """Every session the open relays recorded (tui.lab.smtp.Session)."""
        return [s for relay in self.relays.values() for s in relay.sessions]

    def add_dnsbl(self, zone: Any, name: str = "bl.lab.test") -> Any:
        """List the blacklisted hosts in ``zone`` (a tui.lab.dns.Zone) under ``name``.
        No RFC 5782 test entries: 127.0.0.2 may be a lab host whose listing must be ours."""
        listed = {h.address: (LISTING_CODE, f"lab listing for {h.address}")
                  for h in self.hosts.values() if h.listed}
        return zone.add_dnsbl(name, listed, test_entries=False)

    # -- lifetime ------------------------------------------------------------------------------

    async def start(self) -> Internet:
        self._check_fd_budget()
        self.loop = asyncio.get_running_loop()
        if self.spec.wildcard:
            await self._start_wildcard()
            return self
        attempts = 1 if self.spec.port else 20
        for attempt in range(attempts):
            try:
                await self._start_all(self.spec.port or await self._free_port())
                return self
            except OSError as exc:
                await self.stop()
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
        return self

    def _check_fd_budget(self) -> None:
        """One descriptor per listener, before any is opened: running out half-way would
        leave a different internet than the composition says."""
        try:
            import resource
        except ImportError:  # pragma: no cover - not on this platform
            return
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = (1 if self.spec.wildcard else len(self.hosts)) + 256  # + connections, stdio
        if soft != resource.RLIM_INFINITY and need > soft:
            raise OSError(errno.EMFILE, f"{len(self.hosts)} listeners need about {need} open "
                          f"files; the limit is {soft} (ulimit -n)")

    async def _free_port(self) -> int:
        probe = socket.socket()
        try:
            first = next(iter(self.hosts), "127.0.0.2")
            probe.bind((first, 0))
            return probe.getsockname()[1]
        finally:
            probe.close()

    def _listen(self, address: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(self.spec.backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def _start_all(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.port = port
        self.relays = {}
        net = ipaddress.IPv4Network(self.spec.network)
        if ipaddress.IPv4Address("127.0.0.1") in net:
            # Hold 127.0.0.1:port bound (not listening: connections are refused) so no
            # other lab server on that shared address can take the port and appear here.
            keep = socket.socket()
            keep.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            keep.bind(("127.0.0.1", port))
            self._reserved.append(keep)
        for address, host in self.hosts.items():
            if host.kind == "open-relay":
                assert host.preset is not None
                profile = SmtpProfile(preset=host.preset, hostname=host_name(address),
                                      relay="open", local_domains=(host_name(address),))
                server = SmtpServer(profile, host=address, port=port)
                await server.start()
                self.relays[address] = server
                continue
            behaviour = self._behaviour_for(address)
            sock = self._listen(address, port)
            try:
                server = await loop.create_server(lambda b=behaviour: _Fast(self, b), sock=sock,
                                                  backlog=self.spec.backlog)
            except BaseException:
                sock.close()
                raise
            self._servers.append(server)

    async def _start_wildcard(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._listen("0.0.0.0", self.spec.port)  # noqa: S104 - see the module docstring
        self.port = sock.getsockname()[1]
        # A whole survey's concurrency connects at once here: a short accept queue drops
        # SYNs, and each drop costs the client a 1 s retransmission. (create_server calls
        # listen() again, so the backlog goes there.)
        self._servers.append(await loop.create_server(
            lambda: _Fast(self, None), sock=sock, backlog=max(self.spec.backlog, 4096)))

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            if hasattr(server, "close_clients"):  # Python 3.13+: end live connections too
                server.close_clients()  # pragma: no cover
        self._servers.clear()
        for relay in self.relays.values():
            await relay.stop()  # kept: their sessions stay readable after stop()
        for sock in self._reserved:
            sock.close()
        self._reserved.clear()

    async def __aenter__(self) -> Internet:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# -- a process of its own -----------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> tuple[InternetSpec, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m tui.lab.internet",
        description="Serve a simulated internet on 127.0.0.0/8 until killed; print its "
                    "composition as one JSON line first.")
    d = InternetSpec()
    parser.add_argument("--addresses", "--listeners", dest="listeners", type=int,
                        default=d.listeners, help="listening addresses")
    parser.add_argument("--network", default=d.network)
    parser.add_argument("--silent", type=float, default=d.silent)
    parser.add_argument("--rejecting", type=float, default=d.rejecting)
    parser.add_argument("--resetting", type=float, default=d.resetting)
    parser.add_argument("--open-relays", type=float, default=d.open_relays)
    parser.add_argument("--blacklisted", type=float, default=d.blacklisted)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--port", type=int, default=d.port)
    parser.add_argument("--wildcard", action="store_true")
    parser.add_argument("--idle-timeout", type=float, default=d.idle_timeout)
    parser.add_argument("--greeting-delay", type=float, default=d.greeting_delay,
                        help="seconds before greeting (simulated internet latency)")
    parser.add_argument("--no-hosts", action="store_true",
                        help="leave the per-host list out of the JSON line")
    args = parser.parse_args(argv)
    try:
        spec = InternetSpec(network=args.network, listeners=args.listeners, silent=args.silent,
                            rejecting=args.rejecting, resetting=args.resetting,
                            open_relays=args.open_relays, blacklisted=args.blacklisted,
                            seed=args.seed, port=args.port, wildcard=args.wildcard,
                            idle_timeout=args.idle_timeout, greeting_delay=args.greeting_delay)
    except ValueError as exc:
        parser.error(str(exc))
    return spec, not args.no_hosts


async def _serve(spec: InternetSpec, show_hosts: bool) -> None:
    internet = Internet(spec)
    await internet.start()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    print(json.dumps(internet.composition.to_json(hosts=show_hosts)), flush=True)

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:  # EOF: nothing more will come; keep serving until killed
            loop.remove_reader(sys.stdin.fileno())
            return
        command = line.strip().lower()
        if command == "counts":
            print(json.dumps({"counts": internet.connection_counts(),
                              "data_commands": internet.data_commands}), flush=True)
        elif command == "quit":
            done.set()

    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await done.wait()
    finally:
        await internet.stop()


def main(argv: list[str] | None = None, *, runner: Callable[[Any], Any] | None = None) -> None:
    spec, show_hosts = _parse_args(argv)
    if runner is None:
        try:
            import uvloop  # the lab in its own process is a peer, not the code under test

            runner = uvloop.run
        except ImportError:  # pragma: no cover - optional
            runner = asyncio.run
    runner(_serve(spec, show_hosts))


if __name__ == "__main__":
    main()
