"""Whois over RDAP: who holds an address, which AS announces it, and where to send abuse.

ipwhois does the work: the ASN, announced prefix and RIR come from Team Cymru over DNS (asked
of Settings.nameservers), then the RIR's RDAP service answers for the network and its
contacts. If the ASN lookup fails the RDAP bootstrap (ARIN's redirector) still finds the
network, just without the AS data. ipwhois is blocking, so it runs in a worker thread under
one overall deadline; every HTTP request is bounded in time and size by our own urllib
handlers, which also record what went wrong so errors read as "timed out", "rate limited" or
"HTTP 500" instead of ipwhois's generic "lookup failed".

With Settings.rdap_server set (the lab, `mxscope demo`), every RDAP request goes to that base
URL over its scheme while the RIR's Host header is kept, so one server can play all RIRs.

Private, reserved and other special-purpose addresses are answered here, without a packet:
no registry holds them. Results are cached per session (bounded, keyed by address, RDAP
server and nameservers); a cache hit says ``cached=True``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import io
import ipaddress
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import urllib.response
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
from ipwhois import IPWhois
from ipwhois.exceptions import (
    ASNLookupError,
    ASNParseError,
    ASNRegistryError,
    BaseIpwhoisException,
    HTTPLookupError,
    HTTPRateLimitError,
    InvalidEntityContactObject,
    InvalidEntityObject,
    InvalidNetworkObject,
    IPDefinedError,
)
from ipwhois.rdap import RIR_RDAP
from ipwhois.utils import ipv4_is_defined, ipv6_is_defined

from tui.config import Settings
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import host_addresses, make_resolver, new_resolver
from tui.probes.target import Target

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_RDAP_BYTES = 2 * 1024 * 1024  # one RDAP reply; real ones are tens of kB
MAX_REQUESTS = 16  # per lookup: the ip query, redirects and entity fetches
MAX_TEXT = 256  # longest string kept from a registry reply
MAX_ENTITIES = 64
CACHE_SIZE = 512
CACHE_TTL = 3600.0

RIR_NAMES = {
    "arin": "ARIN",
    "ripencc": "RIPE NCC",
    "apnic": "APNIC",
    "lacnic": "LACNIC",
    "afrinic": "AFRINIC",
}
# RDAP host -> RIR code, from the same table ipwhois asks.
_RDAP_HOSTS = {urlsplit(urls["ip_url"]).hostname: rir for rir, urls in RIR_RDAP.items()}
_ROLE_ORDER = ("abuse", "registrant", "administrative", "technical", "noc")


# -- result ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhoisContact:
    handle: str
    name: str | None
    kind: str | None
    roles: tuple[str, ...]
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoleEmails:
    role: str
    emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WhoisResult:
    target: str
    status: Status
    message: str
    ip: str | None = None  # the address looked up
    hostname: str | None = None  # set when the target was a name resolved first
    special_range: str | None = None  # e.g. "10.0.0.0/8" for addresses answered locally
    asn: str | None = None
    asn_prefix: str | None = None
    asn_country: str | None = None
    asn_registry: str | None = None
    asn_description: str | None = None
    asn_date: str | None = None
    network_name: str | None = None
    network_handle: str | None = None
    network_start: str | None = None
    network_end: str | None = None
    network_cidrs: tuple[str, ...] = ()
    network_type: str | None = None
    parent_handle: str | None = None
    org_name: str | None = None
    org_handle: str | None = None
    country: str | None = None
    rir: str | None = None
    rdap_url: str | None = None
    abuse_emails: tuple[str, ...] = ()
    role_emails: tuple[RoleEmails, ...] = ()
    contacts: tuple[WhoisContact, ...] = ()
    requests: int = 0  # HTTP requests this lookup sent (0 for local and cached answers)
    cached: bool = False
    elapsed_ms: float = 0.0

    @property
    def network_range(self) -> str | None:
        if self.network_start and self.network_end:
            return f"{self.network_start} - {self.network_end}"
        return None


# -- special-purpose addresses -----------------------------------------------------------------

# Most specific first where ranges nest (255.255.255.255 inside 240/4).
_SPECIAL: tuple[tuple[str, str, str], ...] = (
    ("0.0.0.0/8", "'this network' address", "RFC 1122"),
    ("10.0.0.0/8", "private address", "RFC 1918"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
    ("127.0.0.0/8", "loopback address", "RFC 1122"),
    ("169.254.0.0/16", "link-local address", "RFC 3927"),
    ("172.16.0.0/12", "private address", "RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignment", "RFC 6890"),
    ("192.0.2.0/24", "documentation address (TEST-NET-1)", "RFC 5737"),
    ("192.88.99.0/24", "former 6to4 relay anycast address", "RFC 7526"),
    ("192.168.0.0/16", "private address", "RFC 1918"),
    ("198.18.0.0/15", "benchmarking address", "RFC 2544"),
    ("198.51.100.0/24", "documentation address (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "documentation address (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "multicast address", "RFC 5771"),
    ("255.255.255.255/32", "limited broadcast address", "RFC 919"),
    ("240.0.0.0/4", "reserved address (former class E)", "RFC 1112"),
    ("::/128", "unspecified address", "RFC 4291"),
    ("::1/128", "loopback address", "RFC 4291"),
    ("64:ff9b::/96", "NAT64 well-known prefix", "RFC 6052"),
    ("64:ff9b:1::/48", "local-use NAT64 prefix", "RFC 8215"),
    ("100::/64", "discard-only address", "RFC 6666"),
    ("2001::/32", "Teredo tunnel address", "RFC 4380"),
    ("2001:2::/48", "benchmarking address", "RFC 5180"),
    ("2001:db8::/32", "documentation address", "RFC 3849"),
    ("2002::/16", "6to4 tunnel address", "RFC 3056"),
    ("3fff::/20", "documentation address", "RFC 9637"),
    ("fc00::/7", "unique local address", "RFC 4193"),
    ("fe80::/10", "link-local address", "RFC 4291"),
    ("fec0::/10", "site-local address (deprecated)", "RFC 3879"),
    ("ff00::/8", "multicast address", "RFC 4291"),
)
_SPECIAL_NETS = tuple((ipaddress.ip_network(c), label, rfc) for c, label, rfc in _SPECIAL)


def special_range(ip: IPAddress) -> tuple[str, str, str] | None:
    """(range, what it is, RFC) for an address no registry holds, else None."""
    for net, label, rfc in _SPECIAL_NETS:
        if net.version == ip.version and ip in net:
            return net.compressed, label, rfc
    # Whatever else ipwhois would refuse (e.g. IPv6 space outside 2000::/3).
    defined = ipv4_is_defined(str(ip)) if ip.version == 4 else ipv6_is_defined(str(ip))
    if defined[0]:
        return f"{ip.compressed}/{ip.max_prefixlen}", f"{defined[1].lower()} address", defined[2]
    if not ip.is_global:
        return f"{ip.compressed}/{ip.max_prefixlen}", "special-purpose address", "RFC 6890"
    return None


# -- cache -------------------------------------------------------------------------------------

CacheKey = tuple[str, str | None, tuple[str, ...]]


class WhoisCache:
    """Bounded LRU of finished lookups with a time to live; safe to share between threads."""

    def __init__(self, maxsize: int = CACHE_SIZE, ttl: float = CACHE_TTL) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._items: OrderedDict[CacheKey, tuple[float, WhoisResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> WhoisResult | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored, result = item
            if time.monotonic() - stored > self.ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return result

    def put(self, key: CacheKey, result: WhoisResult) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), result)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


DEFAULT_CACHE = WhoisCache()


# -- RDAP server setting -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RdapBase:
    scheme: str
    host: str
    port: int
    path: str  # prefix put before every RIR path; "" for none


def parse_rdap_server(url: str) -> RdapBase:
    """'http://127.0.0.1:8080' -> RdapBase; ValueError with a one-line reason otherwise."""
    text = url.strip()
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in text):
        raise ValueError(f"rdap server {url!r}: contains white space or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"rdap server {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"rdap server {url!r}: must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"rdap server {url!r}: no host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"rdap server {url!r}: only scheme://host[:port][/path] is allowed")
    default = 443 if parts.scheme == "https" else 80
    return RdapBase(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))


# -- HTTP plumbing (runs in the worker thread) --------------------------------------------------


@dataclass
class _Exchange:
    url: str
    host: str
    status: int | None = None
    problem: str | None = None  # timeout, refused, network, too_large, malformed, budget
    detail: str = ""
    retry_after: str | None = None
    sent: bool = False  # False when the budget stopped it before it left


@dataclass
class _LookupState:
    """What one lookup's HTTP and DNS traffic did; read afterwards to explain a failure."""

    deadline: float
    timeout: float
    exchanges: list[_Exchange] = field(default_factory=list)
    dns_errors: list[tuple[str, BaseException]] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def current(self, req: urllib.request.Request) -> _Exchange:
        for ex in reversed(self.exchanges):
            if ex.url == req.full_url:
                return ex
        ex = _Exchange(req.full_url, req.host)
        self.exchanges.append(ex)
        return ex

    def sent(self) -> int:
        return sum(1 for ex in self.exchanges if ex.sent)

    def problem(self) -> _Exchange | None:
        for ex in reversed(self.exchanges):
            if ex.problem is not None or (ex.status is not None and ex.status >= 400):
                return ex
        return None


class _Budget(urllib.request.BaseHandler):
    """Before each request: count it, shrink its timeout to what the deadline leaves."""

    handler_order = 100

    def __init__(self, state: _LookupState) -> None:
        self.state = state

    def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
        ex = _Exchange(req.full_url, req.host)
        self.state.exchanges.append(ex)
        remaining = self.state.remaining()
        if len(self.state.exchanges) > MAX_REQUESTS:
            ex.problem, ex.detail = "budget", f"more than {MAX_REQUESTS} requests"
            raise urllib.error.URLError(ex.detail)
        if remaining <= 0:
            ex.problem, ex.detail = "timeout", "lookup deadline reached"
            raise urllib.error.URLError(ex.detail)
        req.timeout = max(0.05, min(req.timeout or self.state.timeout, remaining))
        return req

    https_request = http_request


class _Transport(urllib.request.AbstractHTTPHandler):
    """http_open/https_open that record transport failures, and, with a base URL, send the
    request there (plain HTTP or HTTPS per the base) keeping the RIR's Host header."""

    def __init__(self, state: _LookupState, base: RdapBase | None) -> None:
        super().__init__()
        self.state = state
        self.base = base
        self._context: ssl.SSLContext | None = None

    @property
    def context(self) -> ssl.SSLContext:
        # Built on first HTTPS use: loading the CA store costs time the lab never needs.
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _connection(self, scheme: str) -> Any:
        base = self.base

        def factory(host: str, timeout: float | None = None, **_kw: Any) -> Any:
            if base is None:
                if scheme == "https":
                    return http.client.HTTPSConnection(host, timeout=timeout, context=self.context)
                return http.client.HTTPConnection(host, timeout=timeout)
            if base.scheme == "https":
                return http.client.HTTPSConnection(
                    base.host, base.port, timeout=timeout, context=self.context
                )
            return http.client.HTTPConnection(base.host, base.port, timeout=timeout)

        return factory

    def _open(self, req: urllib.request.Request, scheme: str) -> Any:
        ex = self.state.current(req)
        ex.sent = True
        if self.base is not None and self.base.path:
            req.selector = self.base.path + req.selector
        try:
            return self.do_open(self._connection(scheme), req)
        except urllib.error.URLError as exc:
            reason = exc.reason
            _note_transport(ex, reason if isinstance(reason, BaseException) else exc)
            raise
        except OSError as exc:
            _note_transport(ex, exc)
            raise

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._open(req, "http")

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._open(req, "https")

    http_request = urllib.request.AbstractHTTPHandler.do_request_
    https_request = urllib.request.AbstractHTTPHandler.do_request_


def _note_transport(ex: _Exchange, exc: BaseException) -> None:
    if ex.problem is not None:
        return
    if isinstance(exc, TimeoutError | socket.timeout):
        ex.problem, ex.detail = "timeout", "no answer in time"
    elif isinstance(exc, ConnectionRefusedError):
        ex.problem, ex.detail = "refused", "connection refused"
    elif isinstance(exc, ssl.SSLError):
        ex.problem, ex.detail = "network", f"TLS failure: {exc}"
    else:
        ex.problem, ex.detail = "network", str(exc) or type(exc).__name__


class _BoundedBody(urllib.request.BaseHandler):
    """Read every reply now, at most MAX_RDAP_BYTES and within the deadline, and note its
    status; runs before HTTPErrorProcessor so error replies are recorded too."""

    handler_order = 900

    def __init__(self, state: _LookupState) -> None:
        self.state = state

    def http_response(self, req: urllib.request.Request, response: Any) -> Any:
        ex = self.state.current(req)
        ex.status = response.status
        ex.retry_after = response.headers.get("Retry-After")
        chunks: list[bytes] = []
        size = 0
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_RDAP_BYTES:
                ex.problem, ex.detail = "too_large", f"reply larger than {MAX_RDAP_BYTES} bytes"
                raise urllib.error.URLError(ex.detail)
            while True:
                if self.state.remaining() <= 0:
                    ex.problem, ex.detail = "timeout", "reply not complete by the deadline"
                    raise urllib.error.URLError(ex.detail)
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RDAP_BYTES:
                    ex.problem, ex.detail = "too_large", f"reply larger than {MAX_RDAP_BYTES} bytes"
                    raise urllib.error.URLError(ex.detail)
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as exc:
            if not isinstance(exc, urllib.error.URLError):
                _note_transport(ex, exc)
                raise urllib.error.URLError(exc) from exc
            raise
        finally:
            response.close()
        body = b"".join(chunks)
        if response.status == 200:
            try:
                doc = json.loads(body.decode("utf-8", "replace"))
            except (ValueError, RecursionError):
                ex.problem, ex.detail = "malformed", "reply is not valid JSON"
            else:
                if not isinstance(doc, dict):
                    ex.problem, ex.detail = "malformed", "reply is JSON but not an object"
        wrapped = urllib.response.addinfourl(
            io.BytesIO(body), response.headers, req.full_url, response.status
        )
        wrapped.msg = response.reason  # type: ignore[attr-defined]
        return wrapped

    https_response = http_response


def _build_opener(state: _LookupState, base: RdapBase | None) -> urllib.request.OpenerDirector:
    """Only the handlers RDAP needs: no file:, ftp: or data: even via a redirect."""
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        _Budget(state),
        _Transport(state, base),
        _BoundedBody(state),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ]
    if base is None:
        handlers.append(urllib.request.ProxyHandler())  # honour *_proxy like ipwhois does
    for handler in handlers:
        opener.add_handler(handler)
    return opener


class _RecordingResolver(dns.resolver.Resolver):
    """The resolver ipwhois uses for Team Cymru: Settings.nameservers, our deadline, and a
    note of each failure so the message can say what went wrong. Build it with make()."""

    _settings: Settings
    _state: _LookupState

    @classmethod
    def make(cls, settings: Settings, state: _LookupState) -> _RecordingResolver:
        resolver = new_resolver(cls, settings)
        resolver._settings = settings
        resolver._state = state
        return resolver

    def resolve(self, qname: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        remaining = self._state.remaining()
        if remaining <= 0:
            exc = dns.exception.Timeout(timeout=0.0)
            self._state.dns_errors.append((str(qname), exc))
            raise exc
        self.timeout = self.lifetime = max(0.05, min(self._settings.dns_timeout, remaining))
        try:
            return super().resolve(qname, *args, **kwargs)
        except dns.exception.DNSException as exc:
            self._state.dns_errors.append((str(qname), exc))
            raise


# -- the lookup --------------------------------------------------------------------------------


def _clean(value: Any) -> str | None:
    """Registry text made safe to print: no control characters (no terminal escapes), bounded."""
    if not isinstance(value, str):
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in value).strip()
    return text[:MAX_TEXT] or None


def _asn_failure(state: _LookupState, exc: BaseException) -> str:
    for _name, err in reversed(state.dns_errors):
        if isinstance(err, dns.exception.Timeout):
            return "Team Cymru ASN lookup over DNS timed out"
        if isinstance(err, dns.resolver.NXDOMAIN):
            return "no Team Cymru ASN record for this address (not announced?)"
        if isinstance(err, dns.resolver.NoNameservers):
            return "DNS server failure on the Team Cymru ASN lookup"
        if isinstance(err, dns.resolver.NoAnswer):
            return "no Team Cymru ASN record for this address"
        return f"Team Cymru ASN lookup failed: {err}"
    return f"ASN lookup failed: {exc}"


def _http_failure(
    state: _LookupState, exc: BaseException, ip: str
) -> tuple[Status, str]:
    ex = state.problem()
    if isinstance(exc, HTTPRateLimitError):
        host = ex.host if ex else "the RDAP server"
        wait = f" (Retry-After: {ex.retry_after} s)" if ex and ex.retry_after else ""
        return Status.ERROR, f"rate limited by {host} (HTTP 429): retry later{wait}"
    if ex is None:
        return Status.ERROR, f"RDAP lookup failed: {exc}"
    where = ex.host
    if ex.problem == "timeout":
        return Status.TIMEOUT, f"no RDAP answer from {where} in time ({ex.detail})"
    if ex.problem == "refused":
        return Status.REFUSED, f"RDAP connection for {where} refused"
    if ex.problem == "too_large":
        return Status.ERROR, f"RDAP reply from {where} too large ({ex.detail})"
    if ex.problem == "malformed":
        return Status.ERROR, f"malformed RDAP reply from {where}: {ex.detail}"
    if ex.problem == "budget":
        return Status.ERROR, f"RDAP lookup gave up: {ex.detail}"
    if ex.problem == "network":
        return Status.ERROR, f"RDAP request to {where} failed: {ex.detail}"
    if ex.status == 404:
        return Status.NOANSWER, f"no RDAP record for {ip} at {where} (HTTP 404)"
    if ex.status is not None:
        return Status.ERROR, f"RDAP server {where} answered HTTP {ex.status}"
    return Status.ERROR, f"RDAP lookup failed: {exc}"


def _vcard(entity: dict) -> tuple[str | None, str | None, list[str]]:
    name = kind = None
    emails: list[str] = []
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return name, kind, emails
    for prop in card[1][:200]:
        if not (isinstance(prop, list) and len(prop) >= 4 and isinstance(prop[0], str)):
            continue
        key, value = prop[0].lower(), prop[3]
        if key == "fn" and name is None:
            name = _clean(value)
        elif key == "kind" and kind is None:
            kind = _clean(value)
        elif key == "email":
            email = _clean(value)
            if email and "@" in email and " " not in email and email not in emails:
                emails.append(email)
    return name, kind, emails


def _walk_entities(doc: Any, depth: int = 0) -> Iterator[dict]:
    """Entities of an RDAP object and their nested entities (bounded depth)."""
    if depth > 3 or not isinstance(doc, dict):
        return
    children = doc.get("entities")
    if not isinstance(children, list):
        return
    for child in children[:MAX_ENTITIES]:
        if isinstance(child, dict) and isinstance(child.get("handle"), str):
            yield child
            yield from _walk_entities(child, depth + 1)


@dataclass
class _Contact:
    handle: str
    name: str | None = None
    kind: str | None = None
    roles: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)

    def merge(self, entity: dict) -> None:
        roles = entity.get("roles")
        if isinstance(roles, list):
            for role in roles:
                text = _clean(role)
                if text and text.lower() not in self.roles:
                    self.roles.append(text.lower())
        name, kind, emails = _vcard(entity)
        self.name = self.name or name
        self.kind = self.kind or kind
        for email in emails:
            if email.lower() not in (e.lower() for e in self.emails):
                self.emails.append(email)


def _contacts(data: dict) -> list[_Contact]:
    """Contacts from the network reply (nested ones included, which ipwhois skips at depth 0)
    and from entity replies ipwhois fetched because the network listed only a handle."""
    found: dict[str, _Contact] = {}
    docs: list[Any] = [data.get("raw")]
    objects = data.get("objects")
    if isinstance(objects, dict):
        docs += [obj.get("raw") for obj in objects.values() if isinstance(obj, dict)]
    for doc in docs:
        if isinstance(doc, dict) and doc.get("objectClassName") == "entity":
            doc = {"entities": [doc]}  # an entity reply is itself a contact
        for entity in _walk_entities(doc):
            handle = _clean(entity["handle"])
            if handle is None:
                continue
            if handle not in found and len(found) >= MAX_ENTITIES:
                continue
            found.setdefault(handle, _Contact(handle)).merge(entity)
    return list(found.values())


def _role_emails(contacts: Iterable[_Contact]) -> tuple[RoleEmails, ...]:
    by_role: dict[str, list[str]] = {}
    for contact in contacts:
        for role in contact.roles:
            bucket = by_role.setdefault(role, [])
            bucket += [e for e in contact.emails if e not in bucket]
    order = {role: i for i, role in enumerate(_ROLE_ORDER)}
    roles = sorted(by_role, key=lambda r: (order.get(r, len(order)), r))
    return tuple(RoleEmails(r, tuple(by_role[r])) for r in roles if by_role[r])


def _answering_rdap(state: _LookupState) -> tuple[str | None, str | None]:
    """(RIR code, URL) of the RDAP reply that answered the ip query."""
    for ex in reversed(state.exchanges):
        if ex.status == 200 and "/ip/" in ex.url and ex.problem is None:
            return _RDAP_HOSTS.get(ex.host), ex.url
    return None, None


def _from_ipwhois(ip: str, data: dict, state: _LookupState, note: str) -> WhoisResult:
    net: dict = data["network"] if isinstance(data.get("network"), dict) else {}
    contacts = _contacts(data)
    org = next((c for c in contacts if "registrant" in c.roles and c.name), None)
    if org is None:
        org = next((c for c in contacts if (c.kind or "").lower() == "org" and c.name), None)
    abuse = [e for c in contacts if "abuse" in c.roles for e in c.emails]
    rir, url = _answering_rdap(state)
    asn_registry = _clean(data.get("asn_registry"))
    cidr_text = _clean(net.get("cidr")) or ""
    result = WhoisResult(
        target=ip,
        status=Status.OK,
        message="",
        ip=ip,
        asn=_clean(data.get("asn")),
        asn_prefix=_clean(data.get("asn_cidr")),
        asn_country=_clean(data.get("asn_country_code")),
        asn_registry=asn_registry,
        asn_description=_clean(data.get("asn_description")),
        asn_date=_clean(data.get("asn_date")),
        network_name=_clean(net.get("name")),
        network_handle=_clean(net.get("handle")),
        network_start=_clean(net.get("start_address")),
        network_end=_clean(net.get("end_address")),
        network_cidrs=tuple(c.strip() for c in cidr_text.split(",") if c.strip()),
        network_type=_clean(net.get("type")),
        parent_handle=_clean(net.get("parent_handle")),
        org_name=org.name if org else None,
        org_handle=org.handle if org else None,
        country=_clean(net.get("country")),
        rir=rir or asn_registry,
        rdap_url=url,
        abuse_emails=tuple(dict.fromkeys(abuse)),
        role_emails=_role_emails(contacts),
        contacts=tuple(
            WhoisContact(c.handle, c.name, c.kind, tuple(c.roles), tuple(c.emails))
            for c in contacts
        ),
        requests=state.sent(),
    )
    summary = _summary(result)
    return dataclasses.replace(result, message=f"{summary}; {note}" if note else summary)


def _summary(r: WhoisResult) -> str:
    """'LAB-GLOBAL 8.8.8.0/24, Lab Global Networks LLC, AS15169, ARIN'."""
    network = r.network_name or r.network_handle or "network"
    if r.network_cidrs:
        network += " " + ", ".join(r.network_cidrs)
    parts = [network, r.org_name, f"AS{r.asn}" if r.asn else None,
             RIR_NAMES.get(r.rir, r.rir) if r.rir else None]
    return ", ".join(p for p in parts if p)


def _lookup_blocking(
    ip: str, settings: Settings, base: RdapBase | None, state: _LookupState
) -> WhoisResult:
    """Runs in a worker thread; returns a result for every network outcome."""
    try:
        whois = IPWhois(ip, timeout=settings.timeout, proxy_opener=_build_opener(state, base))
    except IPDefinedError as exc:  # special_range() should have caught it first
        return WhoisResult(ip, Status.OK, f"{exc}: no public registration", ip=ip)
    except dns.resolver.NoResolverConfiguration:
        # ipwhois builds a system resolver (replaced below) before we can hand it ours.
        return WhoisResult(ip, Status.ERROR, "ipwhois needs a readable /etc/resolv.conf", ip=ip)
    whois.net.dns_resolver = _RecordingResolver.make(settings, state)
    # retry_count=0: a rate limit must not turn into ipwhois sleeping and asking again, and our
    # deadline already bounds the lookup. inc_nir=False: JPNIC/KRNIC would be extra hosts.
    common: dict[str, Any] = {
        "inc_raw": True, "retry_count": 0, "depth": 0, "rate_limit_timeout": 0,
        "inc_nir": False, "root_ent_check": True,
    }
    asn_note = ""
    try:
        try:
            data = whois.lookup_rdap(asn_methods=["dns"], get_asn_description=True, **common)
        except (ASNRegistryError, ASNLookupError, ASNParseError) as exc:
            # No AS data, but the bootstrap still finds the network and its contacts.
            asn_note = _asn_failure(state, exc)
            data = whois.lookup_rdap(bootstrap=True, **common)
    except (HTTPLookupError, HTTPRateLimitError) as exc:
        status, message = _http_failure(state, exc, ip)
        if asn_note:
            message = f"{asn_note}; then {message}"
        return WhoisResult(ip, status, message, ip=ip, requests=state.sent())
    except (InvalidNetworkObject, InvalidEntityObject, InvalidEntityContactObject) as exc:
        ex = state.problem() or (state.exchanges[-1] if state.exchanges else None)
        where = ex.host if ex else "the RDAP server"
        return WhoisResult(ip, Status.ERROR, f"RDAP reply from {where} is not usable: {exc}",
                           ip=ip, requests=state.sent())
    except BaseIpwhoisException as exc:
        return WhoisResult(ip, Status.ERROR, f"whois lookup failed: {exc}", ip=ip,
                           requests=state.sent())
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        # ipwhois trusts the reply's shape; a hostile or broken server can break that. With no
        # reply received yet it is a bug, and bugs must not pass for network outcomes.
        if not any(ex.status == 200 for ex in state.exchanges):
            raise
        return WhoisResult(ip, Status.ERROR,
                           f"malformed RDAP reply ({type(exc).__name__}: {exc})"[:MAX_TEXT],
                           ip=ip, requests=state.sent())
    note = f"{asn_note}; network found via the RDAP bootstrap" if asn_note else ""
    return _from_ipwhois(ip, data, state, note)


def _budget(settings: Settings) -> float:
    # Two Cymru DNS questions, then the ip query and a couple of entity fetches / a redirect.
    return 2 * settings.dns_timeout + 3 * settings.timeout


async def _lookup_ip(ip: str, settings: Settings, base: RdapBase | None) -> WhoisResult:
    budget = _budget(settings)
    state = _LookupState(deadline=time.monotonic() + budget, timeout=settings.timeout)
    try:
        # The thread cannot be cancelled, but every step in it checks the same deadline.
        return await asyncio.wait_for(
            asyncio.to_thread(_lookup_blocking, ip, settings, base, state), budget + 1.0
        )
    except TimeoutError:
        return WhoisResult(ip, Status.TIMEOUT, f"no complete whois answer within {budget:g} s",
                           ip=ip, requests=state.sent())


async def _resolve(name: str, settings: Settings) -> tuple[IPAddress | None, Status, str]:
    """First address of ``name`` (IPv4 before IPv6): (ip, status, note)."""
    addresses, status, message = await host_addresses(make_resolver(settings), name)
    if not addresses:
        return None, status, message
    ip = addresses[0]
    rdtype = "A" if ip.version == 4 else "AAAA"
    count = sum(1 for a in addresses if a.version == ip.version)
    which = f"first of {count} {rdtype} records" if count > 1 else rdtype
    return ip, Status.OK, f"{name} resolved to {ip.compressed} ({which})"


async def run(
    target: Target, settings: Settings, *, cache: WhoisCache | None = None
) -> WhoisResult:
    """RDAP whois for an address, or for the first address of a host name."""
    sw = Stopwatch()
    cache = DEFAULT_CACHE if cache is None else cache
    base: RdapBase | None = None
    if settings.rdap_server:
        try:
            base = parse_rdap_server(settings.rdap_server)
        except ValueError as exc:
            return WhoisResult(target.text, Status.ERROR, str(exc), elapsed_ms=sw.ms())

    hostname: str | None = None
    notes: list[str] = []
    if target.is_ip:
        ip = target.ip
    else:
        hostname = target.text
        resolved, status, note = await _resolve(hostname, settings)
        if resolved is None:
            return WhoisResult(target.text, status, note, hostname=hostname, elapsed_ms=sw.ms())
        ip = resolved
        notes.append(note)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        notes.append(f"IPv4-mapped {ip.compressed}: looked up {ip.ipv4_mapped}")
        ip = ip.ipv4_mapped

    def finish(result: WhoisResult, **changes: Any) -> WhoisResult:
        message = "; ".join([*notes, result.message] if result.message else notes)
        return dataclasses.replace(result, target=target.text, hostname=hostname,
                                   message=message, elapsed_ms=sw.ms(), **changes)

    special = special_range(ip)
    if special is not None:
        rng, label, rfc = special
        local = WhoisResult(target.text, Status.OK,
                            f"{label} ({rfc}, {rng}): no public registration",
                            ip=ip.compressed, special_range=rng)
        return finish(local)

    key: CacheKey = (ip.compressed, settings.rdap_server, tuple(settings.nameservers))
    hit = cache.get(key)
    if hit is not None:
        return finish(hit, cached=True, requests=0)
    result = await _lookup_ip(ip.compressed, settings, base)
    if result.status in (Status.OK, Status.NOANSWER):
        cache.put(key, result)
    return finish(result)
