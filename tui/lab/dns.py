"""A real DNS server (UDP and TCP) on loopback, answering from a declarative zone.

    zone = Zone()
    zone.add("mx1.lab.test", "A", "127.0.0.10")
    zone.add("10.0.0.127.in-addr.arpa", "PTR", "mx1.lab.test")
    zone.behave("broken.lab.test", "servfail")      # or "timeout" (never answer), "refused"
    zone.add_dnsbl("zen.lab.test", {"127.0.0.10": ("127.0.0.2", "Listed: see https://…")})

    async with DnsServer(zone) as server:           # port 0 = ephemeral
        settings = Settings(nameservers=(server.nameserver,))

    DnsServer(zone, delay=(0.02, 0.08))             # each answer held back 20-80 ms

Names are case-insensitive and stored without the final dot. A name with records of some
type answers NOERROR/no data for other types; an unknown name answers NXDOMAIN. Every
question is appended to ``server.log`` (name, type, transport) so tests can prove what was
or was not asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tui.probes.dnsutil import reversed_labels

Behaviour = Literal["servfail", "timeout", "refused"]
MAX_UDP = 512


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _txt_text(text: str) -> str:
    """Plain text -> TXT zone-file form; one TXT string holds at most 255 bytes, so longer
    text becomes several strings (split on character boundaries)."""
    chunks: list[str] = []
    current, size = "", 0
    for ch in text:
        width = len(ch.encode("utf-8"))
        if size + width > 255:
            chunks.append(current)
            current, size = "", 0
        current += ch
        size += width
    chunks.append(current)
    return " ".join(
        '"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks
    )


@dataclass
class Zone:
    """Records by (name, type); rdata in zone-file text form (TXT may be given unquoted)."""

    records: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    ttl: int = 300

    def add(self, name: str, rdtype: str, *values: str) -> Zone:
        rdtype = rdtype.upper()
        for value in values:
            if rdtype == "TXT" and not value.startswith('"'):
                value = _txt_text(value)
            # Parse now so a malformed record fails here, not later inside the server.
            dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), value)
            self.records[(_norm(name), rdtype)].append(value)
        return self

    def behave(self, name: str, behaviour: Behaviour) -> Zone:
        """Answer every question for ``name`` (and below it) with a failure mode."""
        self.behaviours[_norm(name)] = behaviour
        return self

    def add_host(self, name: str, *ips: str, ptr: bool = True) -> Zone:
        """A/AAAA for ``name`` and, with ptr, the matching PTR records."""
        for ip in ips:
            addr = ipaddress.ip_address(ip)
            self.add(name, "A" if addr.version == 4 else "AAAA", addr.compressed)
            if ptr:
                self.add(addr.reverse_pointer, "PTR", _norm(name) + ".")
        return self

    def add_dnsbl(
        self,
        zone: str,
        listed: dict[str, tuple[str, str | None]] | None = None,
        *,
        test_entries: bool = True,
        domains: dict[str, tuple[str, str | None]] | None = None,
    ) -> Zone:
        """A DNSBL zone. ``listed`` maps an IP to (return code, TXT reason or None);
        ``domains`` does the same for a domain list. With test_entries the RFC 5782
        entries are present: 127.0.0.2 and ::ffff:7f00:2 listed, 127.0.0.1 and ::1 not,
        and for domain lists 'test' listed and 'invalid' not."""
        zone = _norm(zone)
        entries: dict[str, tuple[str, str | None]] = {}
        if test_entries:
            entries["127.0.0.2"] = ("127.0.0.2", "RFC 5782 test entry")
            entries["::ffff:7f00:2"] = ("127.0.0.2", "RFC 5782 test entry")
        entries.update(listed or {})
        for ip, (code, reason) in entries.items():
            name = f"{reversed_labels(ip)}.{zone}"
            self.add(name, "A", code)
            if reason is not None:
                self.add(name, "TXT", reason)
        doms: dict[str, tuple[str, str | None]] = {}
        if test_entries and domains is not None:
            doms["test"] = ("127.0.0.2", "RFC 5782 test entry")
        doms.update(domains or {})
        for domain, (code, reason) in doms.items():
            name = f"{_norm(domain)}.{zone}"
            self.add(name, "A", code)
            if reason is not None:
                self.add(name, "TXT", reason)
        # The zone apex exists so that a clean lookup is NXDOMAIN, not a missing zone.
        self.add(zone, "TXT", f"lab DNSBL zone {zone}")
        return self

    # -- lookup ---------------------------------------------------------------------------

    def _behaviour(self, name: str) -> Behaviour | None:
        labels = name.split(".")
        for i in range(len(labels)):
            hit = self.behaviours.get(".".join(labels[i:]))
            if hit:
                return hit
        return None

    def _exists(self, name: str) -> bool:
        return any(n == name for (n, _t) in self.records)

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to ``query``, or None to stay silent (timeout behaviour)."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = _norm(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        behaviour = self._behaviour(name)
        if behaviour == "timeout":
            return None
        if behaviour == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if behaviour == "refused":
            response.set_rcode(dns.rcode.REFUSED)
            return response
        values = self.records.get((name, rdtype))
        if values is None and rdtype != "CNAME":
            cname = self.records.get((name, "CNAME"))
            if cname:
                rrset = dns.rrset.from_text_list(question.name, self.ttl, "IN", "CNAME", cname)
                response.answer.append(rrset)
                target = _norm(cname[0])
                values = self.records.get((target, rdtype))
                if values:
                    response.answer.append(
                        dns.rrset.from_text_list(target + ".", self.ttl, "IN", rdtype, values)
                    )
                return response
        if values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, self.ttl, "IN", rdtype, values)
            )
        elif not self._exists(name):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        reply = self.server.handle(data, "udp")
        if reply is None or self.transport is None:
            return
        delay = self.server.next_delay()
        if delay > 0:
            # Held back without blocking other datagrams, as a distant server would be.
            asyncio.get_running_loop().call_later(delay, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class DnsServer:
    """UDP + TCP DNS on one loopback address and port (the same port for both).

    ``delay`` holds every answer back: a number of seconds, or a (low, high) range drawn
    uniformly per answer (``seed`` makes the draw repeatable). Default: no delay.
    """

    def __init__(
        self,
        zone: Zone,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float | tuple[float, float] = 0.0,
        seed: int | None = None,
    ) -> None:
        self.zone = zone
        self.host = host
        self.port = port
        self.delay = delay
        self._rng = random.Random(seed)
        self.log: list[tuple[str, str, str]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def nameserver(self) -> str:
        """The Settings.nameservers entry for this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def next_delay(self) -> float:
        if isinstance(self.delay, tuple):
            low, high = self.delay
            return self._rng.uniform(low, high)
        return float(self.delay)

    def handle(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        for q in query.question:
            self.log.append(
                (_norm(q.name.to_text()), dns.rdatatype.to_text(q.rdtype), transport)
            )
        response = self.zone.answer(query)
        if response is None:
            return None
        if transport == "udp":
            limit = max(MAX_UDP, query.payload if query.edns >= 0 else MAX_UDP)
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                response.answer.clear()
                response.flags |= dns.flags.TC
                return response.to_wire()
        return response.to_wire()

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(2)
                (length,) = struct.unpack("!H", header)
                wire = await reader.readexactly(length)
                reply = self.handle(wire, "tcp")
                if reply is None:
                    continue
                delay = self.next_delay()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def start(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._tcp_client, self.host, self.port)
        self.port = self._tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.host, self.port)
        )
        self._udp = transport  # type: ignore[assignment]
        return self

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DnsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def questions(self) -> Iterable[str]:
        return (name for name, _t, _tr in self.log)
