"""A real HTTP/1.1 RDAP server on loopback that impersonates the five RIRs.

The whois probe (ipwhois underneath) asks ``https://rdap.arin.net/registry/ip/8.8.8.8`` and
friends; with ``Settings.rdap_server`` pointing here, the request arrives over plain HTTP with
its original Host header, and this server routes by Host + path exactly as the RIR would:

    nets = [LabNetwork("8.8.8.0/24", "arin", "NET-8-8-8-0-1", "LAB-GOGL", country="US",
                       asn=15169, asn_name="LAB-GOOGLE, US",
                       entities=(LabEntity("LAB-ORG", "Lab Org", ("registrant",),
                                           entities=(abuse_contact("LAB-ABUSE", "abuse@lab.test"),)),))]
    async with RdapServer(nets) as srv:          # or LabThread().start(RdapServer(nets))
        settings = Settings(rdap_server=srv.url, nameservers=(dns.nameserver,))
        add_cymru_records(zone, nets, "8.8.8.8") # ipwhois finds the ASN and RIR over DNS

Replies are RFC 9083 JSON (``objectClassName`` "ip network" / "entity", vcardArray, roles,
events, links, notices). An unknown address is 404 with an RDAP error body. Failure modes,
globally (``srv.fail(mode)``) or per network (``LabNetwork.failure`` / ``srv.fail(mode,
cidr)``): "rate_limit" (429 + Retry-After), "server_error" (500), "slow" (answer only after
``slow_seconds``), "malformed" (200 with broken JSON), "oversized" (a body of
``oversized_bytes``). ``srv.respond(host, path, body)`` pins a fixed reply (hostile shapes).
Every request is appended to ``srv.log`` as (host, path).

One request per connection (``Connection: close``, as urllib sends); the request head is
bounded (``max_request_bytes``) and read with a timeout, so a hostile client cannot hold the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from tui.lab.dns import Zone

Failure = Literal["rate_limit", "server_error", "slow", "malformed", "oversized"]
FAILURES: tuple[str, ...] = ("rate_limit", "server_error", "slow", "malformed", "oversized")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Rir:
    code: str  # the registry name Team Cymru and ipwhois use
    host: str  # the RDAP service's host name
    base: str  # path prefix before /ip/ and /entity/
    port43: str  # the RIR's whois server, as RDAP's "port43" member names it


# The endpoints ipwhois.rdap.RIR_RDAP asks (tests check the two tables agree).
RIRS: dict[str, Rir] = {
    "arin": Rir("arin", "rdap.arin.net", "/registry", "whois.arin.net"),
    "ripencc": Rir("ripencc", "rdap.db.ripe.net", "", "whois.ripe.net"),
    "apnic": Rir("apnic", "rdap.apnic.net", "", "whois.apnic.net"),
    "lacnic": Rir("lacnic", "rdap.lacnic.net", "/rdap", "whois.lacnic.net"),
    "afrinic": Rir("afrinic", "rdap.afrinic.net", "/rdap", "whois.afrinic.net"),
}
BOOTSTRAP_HOST = "rdap-bootstrap.arin.net"
BOOTSTRAP_BASE = "/bootstrap"


def ip_url(rir: str, query: str) -> str:
    r = RIRS[rir]
    return f"https://{r.host}{r.base}/ip/{query}"


def entity_url(rir: str, handle: str) -> str:
    r = RIRS[rir]
    return f"https://{r.host}{r.base}/entity/{handle}"


@dataclass(frozen=True, slots=True)
class LabEntity:
    """An RDAP entity (RFC 9083 §5.1) with a jCard (RFC 7095).

    ``inline`` False lists only handle and roles in the network reply, so a client has to
    fetch ``/entity/<handle>`` for the contact details (some RIRs do this)."""

    handle: str
    name: str
    roles: tuple[str, ...]
    kind: str = "org"  # vCard KIND: org, individual, group
    emails: tuple[str, ...] = ()
    phone: str | None = None
    address: str | None = None
    entities: tuple[LabEntity, ...] = ()
    inline: bool = True

    def vcard(self) -> list[Any]:
        props: list[list[Any]] = [
            ["version", {}, "text", "4.0"],
            ["fn", {}, "text", self.name],
            ["kind", {}, "text", self.kind],
        ]
        if self.address:
            props.append(["adr", {"label": self.address}, "text", ["", "", "", "", "", "", ""]])
        if self.phone:
            props.append(["tel", {"type": ["work", "voice"]}, "uri", f"tel:{self.phone}"])
        for email in self.emails:
            props.append(["email", {}, "text", email])
        return ["vcard", props]

    def walk(self) -> Iterator[LabEntity]:
        yield self
        for child in self.entities:
            yield from child.walk()


def abuse_contact(handle: str, email: str, name: str = "Abuse Desk") -> LabEntity:
    return LabEntity(handle, name, ("abuse",), kind="group", emails=(email,))


@dataclass(frozen=True, slots=True)
class LabNetwork:
    """One registered network (RFC 9083 §5.4) plus the Team Cymru origin data for it."""

    cidr: str
    rir: str
    handle: str
    name: str
    country: str | None = None
    type: str = "ASSIGNED PA"
    start: str | None = None  # default: the CIDR's first and last address
    end: str | None = None
    parent_handle: str | None = None
    status: tuple[str, ...] = ("active",)
    registered: str = "2009-03-18T10:04:21Z"
    last_changed: str = "2023-11-02T15:30:00Z"
    entities: tuple[LabEntity, ...] = ()
    remarks: tuple[str, ...] = ()
    # Team Cymru (DNS) view: origin AS, announced prefix (default: cidr), AS description.
    asn: int | None = None
    asn_prefix: str | None = None
    asn_name: str = ""
    asn_country: str | None = None
    asn_date: str = "2009-03-18"
    failure: Failure | None = None

    def __post_init__(self) -> None:
        if self.rir not in RIRS:
            raise ValueError(f"unknown RIR {self.rir!r}; one of {', '.join(RIRS)}")
        if self.failure is not None and self.failure not in FAILURES:
            raise ValueError(f"unknown failure mode {self.failure!r}")
        ipaddress.ip_network(self.cidr)

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.cidr)

    @property
    def first(self) -> str:
        return self.start or self.network.network_address.compressed

    @property
    def last(self) -> str:
        return self.end or self.network.broadcast_address.compressed

    def all_entities(self) -> Iterator[LabEntity]:
        for entity in self.entities:
            yield from entity.walk()


# -- RFC 9083 JSON ----------------------------------------------------------------------------

_NOTICES = [
    {
        "title": "Terms of Service",
        "description": ["mxscope loopback lab: simulated registration data, not a real RIR."],
        "links": [{"value": "https://lab.invalid/tos", "rel": "terms-of-service",
                   "href": "https://lab.invalid/tos", "type": "text/html"}],
    }
]


def _events(registered: str, last_changed: str) -> list[dict[str, str]]:
    return [
        {"eventAction": "registration", "eventDate": registered},
        {"eventAction": "last changed", "eventDate": last_changed},
    ]


def entity_json(entity: LabEntity, rir: str, *, top: bool = False, full: bool = True) -> dict:
    url = entity_url(rir, entity.handle)
    doc: dict[str, Any] = {
        "objectClassName": "entity",
        "handle": entity.handle,
        "roles": list(entity.roles),
    }
    if full:
        doc["vcardArray"] = entity.vcard()
        doc["links"] = [{"value": url, "rel": "self", "href": url,
                         "type": "application/rdap+json"}]
        doc["events"] = _events("2009-03-18T10:04:21Z", "2023-11-02T15:30:00Z")
        doc["port43"] = RIRS[rir].port43
        if entity.entities:
            doc["entities"] = [entity_json(e, rir, full=e.inline) for e in entity.entities]
    if top:
        doc = {"rdapConformance": ["rdap_level_0", "nro_rdap_profile_0"], **doc,
               "notices": _NOTICES}
    return doc


def network_json(net: LabNetwork) -> dict:
    url = ip_url(net.rir, net.cidr)
    version = net.network.version
    doc: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "cidr0", "nro_rdap_profile_0"],
        "objectClassName": "ip network",
        "handle": net.handle,
        "startAddress": net.first,
        "endAddress": net.last,
        "ipVersion": f"v{version}",
        "name": net.name,
        "type": net.type,
        "status": list(net.status),
        "port43": RIRS[net.rir].port43,
        "cidr0_cidrs": [
            {f"v{version}prefix": net.network.network_address.compressed,
             "length": net.network.prefixlen}
        ],
        "events": _events(net.registered, net.last_changed),
        "links": [{"value": url, "rel": "self", "href": url, "type": "application/rdap+json"}],
        "entities": [entity_json(e, net.rir, full=e.inline) for e in net.entities],
        "notices": _NOTICES,
    }
    if net.country:
        doc["country"] = net.country
    if net.parent_handle:
        doc["parentHandle"] = net.parent_handle
    if net.remarks:
        doc["remarks"] = [{"title": "remarks", "description": list(net.remarks)}]
    return doc


def error_json(code: int, title: str, description: str) -> dict:
    return {
        "rdapConformance": ["rdap_level_0"],
        "errorCode": code,
        "title": title,
        "description": [description],
        "notices": _NOTICES,
    }


# -- Team Cymru ASN records (ipwhois finds the ASN and the RIR over DNS) -----------------------


def cymru_origin_name(ip: str) -> str:
    """The TXT name ipwhois asks for ``ip``: reversed octets under origin.asn.cymru.com, or
    reversed nibbles under origin6.asn.cymru.com with trailing all-zero groups dropped (ipwhois
    drops them because Cymru times out on them)."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return ".".join(reversed(addr.exploded.split("."))) + ".origin.asn.cymru.com"
    groups = addr.exploded.split(":")
    while groups and groups[-1] == "0000":
        groups.pop()
    nibbles = "".join(groups)
    return ".".join(reversed(nibbles)) + ".origin6.asn.cymru.com"


def cymru_origin_txt(net: LabNetwork) -> str:
    country = net.asn_country or net.country or ""
    return f"{net.asn} | {net.asn_prefix or net.cidr} | {country} | {net.rir} | {net.asn_date}"


def cymru_asn_txt(net: LabNetwork) -> str:
    country = net.asn_country or net.country or ""
    return f"{net.asn} | {country} | {net.rir} | {net.asn_date} | {net.asn_name}"


def most_specific(networks: Iterable[LabNetwork], ip: str) -> LabNetwork | None:
    addr = ipaddress.ip_address(ip)
    hits = [n for n in networks if n.network.version == addr.version and addr in n.network]
    return max(hits, key=lambda n: n.network.prefixlen, default=None)


def add_cymru_records(zone: Zone, networks: Iterable[LabNetwork], *addresses: str) -> Zone:
    """Add the origin TXT record for each address (from its most specific network with an
    ASN) and the ASnnn.asn.cymru.com description records. The lab zone matches names
    exactly, so the addresses that will be looked up have to be named."""
    nets = list(networks)
    described: set[int] = set()
    for ip in addresses:
        net = most_specific([n for n in nets if n.asn is not None], ip)
        if net is None:
            continue
        zone.add(cymru_origin_name(ip), "TXT", cymru_origin_txt(net))
        if net.asn is not None and net.asn not in described:
            described.add(net.asn)
            zone.add(f"AS{net.asn}.asn.cymru.com", "TXT", cymru_asn_txt(net))
    return zone


# -- the HTTP server ---------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]

    @property
    def host(self) -> str:
        host = self.headers.get("host", "").strip().lower()
        if host.startswith("["):
            return host.split("]")[0] + "]"
        return host.split(":")[0]


@dataclass
class _Response:
    status: int
    reason: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0

    def wire(self) -> bytes:
        head = [f"HTTP/1.1 {self.status} {self.reason}"]
        head += [f"{k}: {v}" for k, v in self.headers]
        head += [f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(head).encode("latin-1") + self.body


def _json_response(status: int, reason: str, doc: dict, **extra: str) -> _Response:
    body = json.dumps(doc, indent=1).encode("utf-8")
    headers = [("Content-Type", "application/rdap+json"), ("Access-Control-Allow-Origin", "*")]
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    return _Response(status, reason, body, headers)


def _error(status: int, reason: str, description: str, **extra: str) -> _Response:
    return _json_response(status, reason, error_json(status, reason, description), **extra)


class RdapServer:
    """RDAP over HTTP/1.1 on a loopback address; ``url`` is the Settings.rdap_server value."""

    def __init__(
        self,
        networks: Iterable[LabNetwork] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        failure: Failure | None = None,
        slow_seconds: float = 30.0,
        oversized_bytes: int = 3 * 1024 * 1024,
        max_request_bytes: int = 16 * 1024,
        read_timeout: float = 10.0,
    ) -> None:
        self.networks: list[LabNetwork] = list(networks)
        self.host = host
        self.port = port
        self.failure: Failure | None = None
        self._failures: dict[str, Failure] = {}
        self.fail(failure)
        self.slow_seconds = slow_seconds
        self.oversized_bytes = oversized_bytes
        self.max_request_bytes = max_request_bytes
        self.read_timeout = read_timeout
        self.log: list[tuple[str, str]] = []
        self._canned: dict[tuple[str, str], _Response] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- configuration --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add(self, *networks: LabNetwork) -> RdapServer:
        self.networks.extend(networks)
        return self

    def fail(self, mode: Failure | None, cidr: str | None = None) -> RdapServer:
        """Set (or with None clear) a failure mode for every request, or for one network."""
        if mode is not None and mode not in FAILURES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {', '.join(FAILURES)}")
        if cidr is None:
            self.failure = mode
        else:
            key = ipaddress.ip_network(cidr).compressed
            if mode is None:
                self._failures.pop(key, None)
            else:
                self._failures[key] = mode
        return self

    def respond(self, host: str, path: str, body: bytes | dict | list, status: int = 200) -> RdapServer:
        """A fixed reply for one host + path, ahead of routing: for replies no declarative
        network produces (hostile shapes, odd status codes)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        reason = "OK" if status == 200 else "Lab Status"
        self._canned[(host.lower(), path)] = _Response(
            status, reason, raw, [("Content-Type", "application/rdap+json")]
        )
        return self

    def add_cymru(self, zone: Zone, *addresses: str) -> Zone:
        return add_cymru_records(zone, self.networks, *addresses)

    def hosts(self) -> list[str]:
        return [host for host, _path in self.log]

    # -- routing --------------------------------------------------------------------------

    def _failure_for(self, net: LabNetwork | None) -> Failure | None:
        if self.failure is not None:
            return self.failure
        if net is None:
            return None
        return self._failures.get(net.network.compressed) or net.failure

    def _network_for(self, rir: str | None, query: str) -> LabNetwork | None:
        """The most specific network holding the address or prefix, at ``rir`` (any RIR
        when None, as the bootstrap sees it)."""
        target = ipaddress.ip_network(query, strict=False)
        hits = [
            n for n in self.networks
            if (rir is None or n.rir == rir)
            and n.network.version == target.version
            and target.subnet_of(n.network)  # type: ignore[arg-type]
        ]
        return max(hits, key=lambda n: n.network.prefixlen, default=None)

    def _entity_for(self, rir: str | None, handle: str) -> tuple[LabNetwork, LabEntity] | None:
        for net in self.networks:
            if rir is not None and net.rir != rir:
                continue
            for entity in net.all_entities():
                if entity.handle.lower() == handle.lower():
                    return net, entity
        return None

    def route(self, request: _Request) -> _Response:
        if request.method != "GET":
            return _error(405, "Method Not Allowed", "RDAP is read-only: use GET", Allow="GET")
        host = request.host
        path = unquote(request.target.split("?", 1)[0].split("#", 1)[0])
        canned = self._canned.get((host, path))
        if canned is not None:
            return _Response(canned.status, canned.reason, canned.body, list(canned.headers))
        if host == BOOTSTRAP_HOST and path.startswith(BOOTSTRAP_BASE + "/"):
            return self._bootstrap(path[len(BOOTSTRAP_BASE):])
        rir = next((r for r in RIRS.values() if r.host == host), None)
        if rir is None:
            return _error(404, "Not Found", f"no RDAP service for host {host or '(none)'!r}")
        if not path.startswith(rir.base + "/"):
            return _error(404, "Not Found", f"unknown path {path!r}")
        rest = path[len(rir.base):]
        if rest.startswith("/ip/"):
            query = rest[len("/ip/"):]
            try:
                ipaddress.ip_network(query, strict=False)
            except ValueError:
                return _error(400, "Bad Request", f"{query!r} is not an IP address or prefix")
            net = self._network_for(rir.code, query)
            if net is None:
                return _error(404, "Not Found", f"no network registered at {rir.code} for {query}")
            return self._with_failure(net, lambda: network_json(net))
        if rest.startswith("/entity/"):
            handle = rest[len("/entity/"):]
            found = self._entity_for(rir.code, handle)
            if found is None:
                return _error(404, "Not Found", f"no entity {handle!r} at {rir.code}")
            net, entity = found
            return self._with_failure(net, lambda: entity_json(entity, rir.code, top=True))
        return _error(404, "Not Found", f"unknown path {path!r}")

    def _bootstrap(self, rest: str) -> _Response:
        """ARIN's bootstrap service: redirect to the RIR that holds the address or entity."""
        if rest.startswith("/ip/"):
            query = rest[len("/ip/"):]
            try:
                ipaddress.ip_network(query, strict=False)
            except ValueError:
                return _error(400, "Bad Request", f"{query!r} is not an IP address or prefix")
            net = self._network_for(None, query)
            if net is None:
                return _error(404, "Not Found", f"no RIR holds {query}")
            if self._failure_for(net) in ("rate_limit", "server_error"):
                return self._with_failure(net, dict)
            return _Response(302, "Found", headers=[("Location", ip_url(net.rir, query))])
        if rest.startswith("/entity/"):
            handle = rest[len("/entity/"):]
            found = self._entity_for(None, handle)
            if found is None:
                return _error(404, "Not Found", f"no RIR holds entity {handle!r}")
            net, entity = found
            location = entity_url(net.rir, entity.handle)
            return _Response(302, "Found", headers=[("Location", location)])
        return _error(404, "Not Found", f"unknown bootstrap path {rest!r}")

    def _with_failure(self, net: LabNetwork, build: Any) -> _Response:
        mode = self._failure_for(net)
        if mode == "rate_limit":
            doc = error_json(429, "Too Many Requests", "query rate limit exceeded")
            doc["notices"] = [{"title": "Rate Limit Notice",
                               "description": ["Too many requests; try again later."]}]
            return _json_response(429, "Too Many Requests", doc, Retry_After="60")
        if mode == "server_error":
            return _error(500, "Internal Server Error", "lab: simulated server failure")
        if mode == "malformed":
            text = json.dumps(build())
            return _Response(200, "OK", text[: len(text) // 2].encode("utf-8"),
                             [("Content-Type", "application/rdap+json")])
        if mode == "oversized":
            padding = " " * self.oversized_bytes
            return _Response(200, "OK", b"{" + padding.encode() + b'"x": 1}',
                             [("Content-Type", "application/rdap+json")])
        response = _json_response(200, "OK", build())
        if mode == "slow":
            response.delay = self.slow_seconds
        return response

    # -- wire -----------------------------------------------------------------------------

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request:
        used = 0

        async def line() -> str:
            nonlocal used
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise _BadRequest(431, "Request Header Fields Too Large",
                                  "request line or header too long") from None
            used += len(raw)
            if used > self.max_request_bytes:
                raise _BadRequest(431, "Request Header Fields Too Large",
                                  f"request head larger than {self.max_request_bytes} bytes")
            return raw.decode("latin-1").rstrip("\r\n")

        request_line = await line()
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "Bad Request", "malformed request line")
        method, target, _version = parts
        headers: dict[str, str] = {}
        while True:
            text = await line()
            if not text:
                break
            name, sep, value = text.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(400, "Bad Request", "malformed header line")
            headers[name.lower()] = value.strip()
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400, "Bad Request", "bad Content-Length")
        length = int(length_text)
        if length > self.max_request_bytes - used:
            raise _BadRequest(413, "Content Too Large", "request body too large")
        if length:
            await reader.readexactly(length)
        if "transfer-encoding" in headers:
            raise _BadRequest(501, "Not Implemented", "chunked request bodies are not accepted")
        return _Request(method, target, headers)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # type: ignore[arg-type]
        try:
            try:
                request = await asyncio.wait_for(self._read_request(reader), self.read_timeout)
            except _BadRequest as exc:
                response = _error(exc.status, exc.reason, exc.detail)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            else:
                self.log.append((request.host, request.target))
                response = self.route(request)
            if response.delay:
                await asyncio.sleep(response.delay)
            writer.write(response.wire())
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def start(self) -> RdapServer:
        # The stream limit bounds one header line; _read_request bounds the whole head.
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=self.max_request_bytes
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # Slow answers may still be sleeping: end them so stop() never waits on a client.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def __aenter__(self) -> RdapServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def sample_networks() -> list[LabNetwork]:
    """A small registry for demos and tests: one network per RIR plus IPv6, in the shapes the
    real RIRs answer (ARIN nests abuse/tech under the org; RIPE lists roles at top level and
    leaves person objects to be fetched). The data is invented; the address ranges are only
    lookup keys inside the lab."""
    arin_org = LabEntity(
        "LABG-ARIN", "Lab Global Networks LLC", ("registrant",),
        address="1600 Lab Parkway\nMountain View\nCA\n94043\nUnited States",
        entities=(
            abuse_contact("ABUSE-LAB-ARIN", "network-abuse@lab-global.example"),
            LabEntity("NOC-LAB-ARIN", "Lab Global NOC", ("technical", "noc"), kind="group",
                      emails=("noc@lab-global.example",), phone="+1-650-555-0100"),
        ),
    )
    ripe_entities = (
        LabEntity("ORG-LAB1-RIPE", "Lab Network Coordination Centre", ("registrant",),
                  address="Stationsplein 11\nAmsterdam\nNetherlands"),
        abuse_contact("AR-LAB-RIPE", "abuse@lab-ncc.example"),
        LabEntity("LAB1-RIPE", "Lab Operations", ("administrative", "technical"),
                  kind="group", emails=("ops@lab-ncc.example",), inline=False),
    )
    return [
        LabNetwork("8.8.8.0/24", "arin", "NET-8-8-8-0-LAB", "LAB-GLOBAL", country="US",
                   type="DIRECT ALLOCATION", parent_handle="NET-8-0-0-0-LAB",
                   entities=(arin_org,), asn=15169, asn_name="LAB-GLOBAL, US"),
        LabNetwork("193.0.0.0/21", "ripencc", "193.0.0.0 - 193.0.7.255", "LAB-NCC-NET",
                   country="NL", entities=ripe_entities, asn=3333,
                   asn_name="LAB-NCC-AS Lab Network Coordination Centre, NL"),
        LabNetwork("2001:67c:2e8::/48", "ripencc", "2001:67c:2e8::/48", "LAB-NCC-V6",
                   country="NL", entities=ripe_entities, asn=3333,
                   asn_name="LAB-NCC-AS Lab Network Coordination Centre, NL"),
        LabNetwork("203.119.0.0/16", "apnic", "203.119.0.0 - 203.119.255.255", "LAB-APNIC-NET",
                   country="AU", asn=4608, asn_name="LAB-APNIC-AS, AU",
                   entities=(LabEntity("ORG-LAB-AP", "Lab Asia Pacific Pty", ("registrant",)),
                             abuse_contact("IRT-LAB-AP", "abuse@lab-apac.example"))),
        LabNetwork("200.3.12.0/22", "lacnic", "200.3.12.0/22", "LAB-LACNIC-NET",
                   country="UY", asn=28000, asn_name="LAB-LACNIC, UY",
                   entities=(LabEntity("UY-LAB-LACNIC", "Lab Latinoamerica", ("registrant",),
                                       entities=(abuse_contact("LAB-ABU-LACNIC",
                                                               "abuse@lab-latam.example"),)),)),
        LabNetwork("196.216.2.0/23", "afrinic", "NET-196-216-2-0-LAB", "LAB-AFRINIC-NET",
                   country="MU", asn=37181, asn_name="LAB-AFRINIC, MU",
                   entities=(LabEntity("ORG-LAB-AFRINIC", "Lab Africa Ltd", ("registrant",)),
                             abuse_contact("AB-LAB-AFRINIC", "abuse@lab-africa.example"))),
    ]
