"""SMTP diagnostics for one server: greeting, EHLO capabilities, HELP, PTR match, MTA.

``run(target, settings, port=25)`` connects, waits for the whole greeting (never speaking
first: postscreen and greet-pause servers drop clients that talk early), sends EHLO (HELO
when EHLO is refused with 5xx), optionally HELP, then QUIT. The PTR names of the address it
connected to are looked up at the same time (tui.probes.rdns) and compared with the name the
greeting announces. The MTA is identified from greeting, EHLO and HELP (fingerprint.py).

Outcome representation: ``status`` is the transport outcome (ok / timeout / refused /
reset / error, or the DNS status when a host name did not resolve); ``rejected`` is True
when the server answered but its greeting was 4xx/5xx (421 busy, 554 no service) — the
status is then ok (the check ran) and the result still carries the greeting and the MTA.
Whatever went wrong at a later step (EHLO timed out, reset after EHLO …) sets ``status``
and keeps everything gathered before it.

``grab_banner(host, port, …)`` is the survey's hot path: an IP address, no DNS, no
transcript, an asyncio Protocol instead of streams, and the same byte/line bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from tui.config import Settings
from tui.probes import rdns
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import make_resolver, query
from tui.probes.fingerprint import MtaIdentity, identify
from tui.probes.smtpwire import (
    MAX_LINE,
    MAX_LINES,
    MAX_REPLY_BYTES,
    ConnectionClosed,
    MalformedReply,
    Reply,
    ReplyTimeout,
    SmtpClient,
    SmtpWireError,
    ehlo_capabilities,
    parse_line,
)
from tui.probes.target import Target, TargetError, validate_hostname

# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the EHLO reply advertises."""

    keywords: tuple[str, ...]  # every keyword, upper case, in the server's order
    size: bool
    size_limit: int | None  # SIZE's number (0 = no fixed limit); None when not given
    starttls: bool
    auth: tuple[str, ...]  # mechanisms, upper case
    pipelining: bool
    eightbitmime: bool
    smtputf8: bool
    chunking: bool
    binarymime: bool
    dsn: bool
    enhancedstatuscodes: bool
    requiretls: bool
    vrfy: bool
    etrn: bool


@dataclass(frozen=True, slots=True)
class PtrMatch:
    """The connected address's PTR names against the name in the greeting."""

    status: Status  # of the reverse lookups (ok when they gave definite answers)
    outcome: str  # confirmed / unconfirmed / no_ptr / failed (see tui.probes.rdns)
    names: tuple[str, ...]  # PTR names of the address
    fcrdns: bool  # a PTR name resolves back to the address
    greeting_name: str | None
    greeting_matches: bool | None  # None when there is no greeting name or no PTR answer
    message: str
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class SmtpResult:
    target: str
    address: str | None  # the IP connected to
    addresses: tuple[str, ...]  # every address of a host-name target (A first, then AAAA)
    port: int
    implicit_tls: bool
    status: Status
    rejected: bool  # greeting was 4xx/5xx
    message: str
    greeting_code: int | None
    greeting: tuple[str, ...]  # lines as received, reply code included
    greeting_hostname: str | None  # first word of the first greeting line
    ehlo_code: int | None
    ehlo: tuple[str, ...]  # EHLO (or HELO) reply lines as received
    helo_fallback: bool  # EHLO refused with 5xx, HELO used instead
    capabilities: Capabilities | None  # None unless EHLO was answered with 250
    help_code: int | None
    help: tuple[str, ...]
    tls_version: str | None  # implicit TLS only; certificates are the ports probe's job
    tls_cipher: str | None
    ptr: PtrMatch | None
    mta: MtaIdentity
    resolve_ms: float | None
    connect_ms: float | None
    greeting_ms: float | None
    ehlo_ms: float | None
    help_ms: float | None
    total_ms: float
    transcript: tuple[tuple[str, str], ...]  # (direction C/S/*, line)

    @property
    def answered(self) -> bool:
        return self.greeting_code is not None and not self.rejected


# -- helpers --------------------------------------------------------------------------------

_ENHANCED = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")


def check_helo_name(name: str) -> str:
    """A usable EHLO argument: a host name or an address literal ([192.0.2.1],
    [IPv6:2001:db8::1]). Returns it normalised; raises ValueError with the reason."""
    text = (name or "").strip()
    if not text:
        raise ValueError("empty HELO name")
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        try:
            if inner[:5].lower() == "ipv6:":
                return f"[IPv6:{ipaddress.IPv6Address(inner[5:]).compressed}]"
            return f"[{ipaddress.IPv4Address(inner)}]"
        except ValueError:
            raise ValueError(f"HELO name {text!r}: bad address literal") from None
    try:
        ascii_name = validate_hostname(text)
    except TargetError as exc:
        raise ValueError(f"HELO name: {exc}") from None
    if not ascii_name.isascii():  # validate_hostname keeps IDNs in their A-label form
        raise ValueError(f"HELO name {text!r} is not ASCII")
    return ascii_name


def parse_capabilities(reply: Reply) -> Capabilities:
    caps = ehlo_capabilities(reply)
    keywords = tuple(
        line.strip().split(" ", 1)[0].upper() for line in reply.lines[1:] if line.strip()
    )
    size_text = caps.get("SIZE", "").split(" ", 1)[0]
    size_limit = int(size_text) if size_text.isascii() and size_text.isdigit() else None
    auth = tuple(dict.fromkeys(m.upper() for m in caps.get("AUTH", "").split() if m))
    return Capabilities(
        keywords=keywords,
        size="SIZE" in caps,
        size_limit=size_limit,
        starttls="STARTTLS" in caps,
        auth=auth,
        pipelining="PIPELINING" in caps,
        eightbitmime="8BITMIME" in caps,
        smtputf8="SMTPUTF8" in caps,
        chunking="CHUNKING" in caps,
        binarymime="BINARYMIME" in caps,
        dsn="DSN" in caps,
        enhancedstatuscodes="ENHANCEDSTATUSCODES" in caps,
        requiretls="REQUIRETLS" in caps,
        vrfy="VRFY" in caps,
        etrn="ETRN" in caps,
    )


def greeting_hostname(lines: tuple[str, ...] | list[str]) -> str | None:
    """First word of the first greeting line (after the code), or None."""
    if not lines:
        return None
    first = lines[0]
    if len(first) >= 3 and first[:3].isascii() and first[:3].isdigit():
        first = first[4:]
    words = first.split(None, 2)
    # "554 5.7.1 mx.example.com ESMTP …": the enhanced status code is not the name.
    if words and _ENHANCED.fullmatch(words[0]):
        words = words[1:]
    return words[0][:255] if words else None


def _no_tls_verify_context() -> ssl.SSLContext:
    # The SMTP probe talks to the server whatever its certificate; verification verdicts
    # belong to the ports probe (tlsinfo), which reports them properly.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _ptr_match(ip: str, settings: Settings) -> rdns.RdnsResult:
    version = ipaddress.ip_address(ip).version
    return await rdns.run(Target(ip, "ipv4" if version == 4 else "ipv6"), settings)


def _ptr_result(found: rdns.RdnsResult, hostname: str | None) -> PtrMatch:
    check = found.addresses[0] if found.addresses else None
    names = check.names if check else ()
    matches: bool | None = None
    if hostname and names:
        matches = rdns.name_matches(names, hostname)
    verdict = check.verdict if check else found.message
    if matches is True:
        message = f"greeting name {hostname} is a PTR name of the address; {verdict}"
    elif matches is False:
        message = f"greeting name {hostname} is not among the PTR names ({', '.join(names)})"
    elif not hostname:
        message = f"no greeting name to compare; {verdict}"
    else:
        message = verdict
    return PtrMatch(
        status=found.status,
        outcome=check.outcome if check else "failed",
        names=names,
        fcrdns=bool(check and check.confirmed),
        greeting_name=hostname,
        greeting_matches=matches,
        message=message,
        elapsed_ms=found.elapsed_ms,
    )


def _outcome(exc: BaseException) -> tuple[Status, str]:
    if isinstance(exc, SmtpWireError):
        return exc.status, str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return Status.REFUSED, "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return Status.RESET, f"connection reset: {exc}"
    if isinstance(exc, ssl.SSLError):
        return Status.ERROR, f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return Status.TIMEOUT, "timed out"
    if isinstance(exc, OSError):
        return Status.ERROR, f"network error: {exc.strerror or exc}"
    return Status.ERROR, f"error: {exc}"


# -- the probe ------------------------------------------------------------------------------


class _Run:
    """Mutable state while the dialogue runs; frozen into SmtpResult at the end."""

    def __init__(self) -> None:
        self.status = Status.OK
        self.message = ""
        self.rejected = False
        self.greeting: tuple[str, ...] = ()
        self.greeting_code: int | None = None
        self.ehlo: tuple[str, ...] = ()
        self.ehlo_code: int | None = None
        self.helo_fallback = False
        self.capabilities: Capabilities | None = None
        self.help: tuple[str, ...] = ()
        self.help_code: int | None = None
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self.connect_ms: float | None = None
        self.greeting_ms: float | None = None
        self.ehlo_ms: float | None = None
        self.help_ms: float | None = None
        self.transcript: tuple[tuple[str, str], ...] = ()

    def fail(self, step: str, exc: BaseException) -> None:
        self.status, why = _outcome(exc)
        self.message = f"{step}: {why}"


def _received(client: SmtpClient, start: int) -> tuple[str, ...]:
    """Server lines noted in the transcript since index ``start`` (partial replies too)."""
    assert client.transcript is not None
    return tuple(line for d, line in client.transcript[start:] if d == "S")


async def _resolve(target: Target, settings: Settings) -> tuple[list[str], Status, str]:
    resolver = make_resolver(settings)
    a, aaaa = await asyncio.gather(query(resolver, target.text, "A"),
                                   query(resolver, target.text, "AAAA"))
    addresses: list[str] = []
    for record in a.records + aaaa.records:
        try:
            addr = ipaddress.ip_address(record).compressed
        except ValueError:
            continue
        if addr not in addresses:
            addresses.append(addr)
    if addresses:
        return addresses, Status.OK, ""
    for answer in (a, aaaa):
        if answer.status not in (Status.OK, Status.NXDOMAIN, Status.NOANSWER):
            return [], answer.status, f"cannot resolve {target.text}: {answer.message}"
    if Status.NXDOMAIN in (a.status, aaaa.status):
        return [], Status.NXDOMAIN, f"{target.text} does not exist (NXDOMAIN)"
    return [], Status.NOANSWER, f"{target.text} has no A or AAAA record"


async def _dialogue(state: _Run, address: str, port: int, target: Target, settings: Settings,
                    implicit_tls: bool, helo: str) -> None:
    sw = Stopwatch()
    try:
        client = await SmtpClient.connect(
            address, port, connect_timeout=settings.connect_timeout,
            timeout=settings.smtp_timeout,
            tls=_no_tls_verify_context() if implicit_tls else None,
            server_hostname=None if target.is_ip else target.text,
        )
    except (SmtpWireError, OSError) as exc:
        state.fail("connect", exc)
        if isinstance(exc, ReplyTimeout):
            state.message = f"connect: no connection within {settings.connect_timeout:g} s"
        return
    state.connect_ms = sw.ms()
    if client.tls is not None:
        state.tls_version = client.tls.version()
        cipher = client.tls.cipher()
        state.tls_cipher = cipher[0] if cipher else None
    polite = False  # QUIT only once the server has spoken: never talk before the greeting
    try:
        assert client.transcript is not None
        sw = Stopwatch()
        mark = len(client.transcript)
        try:
            greeting = await client.read_reply(settings.greeting_timeout)
        except (SmtpWireError, OSError) as exc:
            state.greeting = _received(client, mark)
            state.greeting_ms = sw.ms()
            state.fail("greeting", exc)
            if isinstance(exc, ReplyTimeout):
                got = f" (got {len(state.greeting)} line(s))" if state.greeting else ""
                state.message = (f"greeting: no complete greeting within "
                                 f"{settings.greeting_timeout:g} s{got}")
            elif isinstance(exc, ConnectionClosed) and not state.greeting:
                state.message = "greeting: the server closed the connection without a greeting"
            return
        state.greeting_ms = sw.ms()
        state.greeting = _received(client, mark)
        state.greeting_code = greeting.code
        polite = True
        if greeting.code // 100 != 2:
            state.rejected = True
            state.message = f"greeting rejected: {greeting.code} {greeting.first}".rstrip()
            return
        await _hello(state, client, helo)
        if state.status is not Status.OK or state.ehlo_code == 421:
            return  # 421: the server is closing the channel; nothing more to ask
        if settings.smtp_help:
            sw = Stopwatch()
            mark = len(client.transcript)
            try:
                reply = await client.command("HELP")
            except (SmtpWireError, OSError) as exc:
                state.help = _received(client, mark)
                state.fail("HELP", exc)
                return
            finally:
                state.help_ms = sw.ms()
            state.help = _received(client, mark)
            state.help_code = reply.code
    finally:
        await client.close(quit_first=polite and state.status is Status.OK)
        state.transcript = tuple(client.transcript or ())


async def _hello(state: _Run, client: SmtpClient, helo: str) -> None:
    """EHLO (HELO after a 5xx) with ``helo``, a name check_helo_name returned."""
    assert client.transcript is not None
    sw = Stopwatch()
    try:
        mark = len(client.transcript)
        try:
            reply = await client.command(f"EHLO {helo}")
        except (SmtpWireError, OSError) as exc:
            state.ehlo = _received(client, mark)
            state.fail("EHLO", exc)
            return
        if reply.code // 100 == 5:
            state.helo_fallback = True
            mark = len(client.transcript)
            try:
                reply = await client.command(f"HELO {helo}")
            except (SmtpWireError, OSError) as exc:
                state.ehlo = _received(client, mark)
                state.fail("HELO", exc)
                return
        state.ehlo = _received(client, mark)
        state.ehlo_code = reply.code
        verb = "HELO" if state.helo_fallback else "EHLO"
        if reply.code == 250:
            if not state.helo_fallback:
                state.capabilities = parse_capabilities(reply)
                client.utf8 = state.capabilities.smtputf8
            state.message = f"{verb} accepted"
        else:
            state.message = f"{verb} refused: {reply.code} {reply.first}".rstrip()
    finally:
        state.ehlo_ms = sw.ms()


async def run(
    target: Target,
    settings: Settings,
    *,
    port: int = 25,
    implicit_tls: bool = False,
    resolve_ptr: bool = True,
) -> SmtpResult:
    """Greeting, EHLO/HELO, HELP, QUIT; PTR match and MTA identification. Never raises for a
    network outcome. Raises ValueError for a bad port or Settings.helo_name (the caller
    validates user input first)."""
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a TCP port")
    # The checked form is what goes on the wire: an IDN in its A-label form, no stray
    # spaces or trailing dot (the raw setting would be refused by SmtpClient as non-ASCII).
    helo = check_helo_name(settings.helo_name)
    total = Stopwatch()
    state = _Run()
    addresses: list[str]
    resolve_ms: float | None = None
    if target.is_ip:
        addresses = [target.text]
    else:
        sw = Stopwatch()
        addresses, dns_status, dns_message = await _resolve(target, settings)
        resolve_ms = sw.ms()
        if not addresses:
            return _result(target, None, (), port, implicit_tls, state, dns_status,
                           dns_message, None, resolve_ms, total)
    address = addresses[0]
    ptr_task = (asyncio.ensure_future(_ptr_match(address, settings)) if resolve_ptr
                else None)
    try:
        await _dialogue(state, address, port, target, settings, implicit_tls, helo)
        ptr_found = await ptr_task if ptr_task is not None else None
    finally:
        if ptr_task is not None and not ptr_task.done():
            ptr_task.cancel()
            with contextlib.suppress(BaseException):
                await ptr_task
    hostname = greeting_hostname(state.greeting) if state.greeting_code is not None else None
    ptr = _ptr_result(ptr_found, hostname) if ptr_found is not None else None
    message = state.message
    if not target.is_ip:
        which = (f"{address}, the first of {len(addresses)} addresses of {target.text}"
                 if len(addresses) > 1 else f"{address}, the address of {target.text}")
        message = f"{message} ({which})" if message else which
    return _result(target, address, tuple(addresses), port, implicit_tls, state,
                   state.status, message, ptr, resolve_ms, total)


def _result(target: Target, address: str | None, addresses: tuple[str, ...], port: int,
            implicit_tls: bool, state: _Run, status: Status, message: str,
            ptr: PtrMatch | None, resolve_ms: float | None, total: Stopwatch) -> SmtpResult:
    hostname = greeting_hostname(state.greeting) if state.greeting_code is not None else None
    if state.greeting:
        mta = identify(state.greeting, state.ehlo or None, state.help or None)
    else:
        mta = identify(None)
    return SmtpResult(
        target=target.text,
        address=address,
        addresses=addresses,
        port=port,
        implicit_tls=implicit_tls,
        status=status,
        rejected=state.rejected,
        message=message,
        greeting_code=state.greeting_code,
        greeting=state.greeting,
        greeting_hostname=hostname,
        ehlo_code=state.ehlo_code,
        ehlo=state.ehlo,
        helo_fallback=state.helo_fallback,
        capabilities=state.capabilities,
        help_code=state.help_code,
        help=state.help,
        tls_version=state.tls_version,
        tls_cipher=state.tls_cipher,
        ptr=ptr,
        mta=mta,
        resolve_ms=resolve_ms,
        connect_ms=state.connect_ms,
        greeting_ms=state.greeting_ms,
        ehlo_ms=state.ehlo_ms,
        help_ms=state.help_ms,
        total_ms=total.ms(),
        transcript=state.transcript,
    )


# -- the survey's hot path ------------------------------------------------------------------

BannerOutcome = Literal["answered", "refused", "timeout", "reset", "error"]


@dataclass(frozen=True, slots=True)
class BannerResult:
    outcome: BannerOutcome  # answered = a complete greeting reply arrived (any code)
    code: int | None  # greeting reply code
    greeting: tuple[str, ...]  # lines as received (code included); partial when not answered
    ehlo_code: int | None
    ehlo: tuple[str, ...]
    help_code: int | None
    help: tuple[str, ...]
    connect_ms: float | None
    greeting_ms: float | None
    message: str  # empty when answered; else why not

    @property
    def rejected(self) -> bool:
        return self.code is not None and self.code // 100 != 2


class _Grab(asyncio.Protocol):
    """Collect complete replies; wake whoever waits. Bounded like SmtpClient.

    One timer per connection: ``expire_at(deadline)`` moves the deadline of the current
    step (connect, then each reply) and reuses the armed timer when it fires no later; a
    timer that fires before the current deadline re-arms itself. The fast path (connect
    and greeting well within their limits) thus costs one timer in all, not one per step
    plus an asyncio.timeout scope. The instance is its own protocol factory.

    ``last``: the reply being awaited is the last one wanted, so when it is complete the
    protocol says QUIT (when ``quit``) and closes right in data_received, without waiting
    for the coroutine to resume: the connection ends sooner, and a close inside the read
    callback costs libuv (uvloop) one epoll_ctl less."""

    __slots__ = ("transport", "buf", "lines", "nbytes", "waiter", "pending", "failure",
                 "loop", "task", "expired", "deadline", "timer", "timer_at", "last", "quit",
                 "finished")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, last: bool = False,
                 quit: bool = True) -> None:  # noqa: A002
        self.loop = loop
        self.last = last
        self.quit = quit
        self.finished = False  # closed by us after the last reply (QUIT sent if asked)
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.lines: list[str] = []  # lines of the reply being read
        self.nbytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.pending: list[tuple[int, tuple[str, ...]]] = []  # complete replies, unread
        self.failure: tuple[BannerOutcome, str] | None = None
        self.task: asyncio.Task[object] | None = None  # cancelled when connecting expires
        self.expired = False  # the connect deadline passed (the cancel was ours)
        self.deadline = 0.0  # loop time the current step ends
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def __call__(self) -> _Grab:
        return self  # create_connection's protocol factory

    def expire_at(self, deadline: float) -> None:
        self.deadline = deadline
        timer = self.timer
        if timer is None or self.timer_at > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._expire)
            self.timer_at = deadline

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        # Fired for an earlier step's deadline (timers may also fire a hair early: the
        # loops' clock resolution); the current step still has time.
        if self.deadline - self.loop.time() > 0.001:
            self.timer = self.loop.call_at(self.deadline, self._expire)
            self.timer_at = self.deadline
            return
        if self.task is not None:
            self.expired = True
            self.task.cancel()
            return
        if self.failure is None:
            self.failure = ("timeout", "no complete reply in time")
        self._wake()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, outcome: BannerOutcome, message: str) -> None:
        if self.failure is None:
            self.failure = (outcome, message)
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self.failure is not None or self.finished:
            return
        buf = self.buf + data if self.buf else data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            raw = buf[start:end]
            start = end + 1
            self.nbytes += len(raw) + 1
            if len(raw) >= MAX_LINE:
                self._fail("error", f"reply line longer than {MAX_LINE} bytes")
                return
            text = raw.rstrip(b"\r").decode("utf-8", "backslashreplace")
            self.lines.append(text)
            try:
                code, more, _ = parse_line(text)
            except MalformedReply as exc:
                self._fail("error", str(exc))
                return
            if len(self.lines) > MAX_LINES or self.nbytes > MAX_REPLY_BYTES:
                self._fail("error", "reply too large")
                return
            if not more:
                if len(self.pending) >= 4:  # a server spewing replies nobody asked for
                    self._fail("error", "unexpected replies")
                    return
                self.pending.append((code, tuple(self.lines)))
                self.lines = []
                self.nbytes = 0
                if self.last:
                    self._finish()
                    return
                self._wake()
        rest = buf[start:] if start else buf
        if len(rest) >= MAX_LINE:
            self._fail("error", f"reply line longer than {MAX_LINE} bytes")
            return
        self.buf = rest

    def _finish(self) -> None:
        self.finished = True
        transport = self.transport
        assert transport is not None  # data arrives only after connection_made
        if self.quit:
            transport.write(b"QUIT\r\n")
        transport.close()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        # Replies already complete stay readable: reply() returns pending ones first.
        if self.failure is None:
            if exc is None:
                self.failure = ("reset", "connection closed by the server")
            else:
                self.failure = ("reset", f"connection reset: {exc}")
        self._wake()

    async def reply(self, timeout: float) -> tuple[int, tuple[str, ...]] | None:
        """The next complete reply within ``timeout`` s, or None (``failure`` says why)."""
        if not self.pending and self.failure is None:
            self.expire_at(self.loop.time() + timeout)
            self.waiter = self.loop.create_future()
            await self.waiter
        if self.pending:
            return self.pending.pop(0)
        return None


def _no_connection(outcome: BannerOutcome, message: str) -> BannerResult:
    return BannerResult(outcome, None, (), None, (), None, (), None, None, message)


async def grab_banner(
    host: str,
    port: int,
    *,
    connect_timeout: float,
    greeting_timeout: float,
    ehlo: str | None = None,
    help: bool = False,  # noqa: A002 - the SMTP command's name
    quit: bool = True,  # noqa: A002
) -> BannerResult:
    """Connect to ``host`` (an IP address: no DNS here), read the greeting, optionally
    EHLO/HELP (each within ``greeting_timeout``), QUIT without waiting, close. Never raises
    for a network outcome. ``ehlo`` must be a checked name (see check_helo_name)."""
    if ehlo is not None and (not ehlo.isascii() or "\r" in ehlo or "\n" in ehlo
                             or "\x00" in ehlo):
        raise ValueError("EHLO name must be ASCII without CR, LF or NUL")
    loop = asyncio.get_running_loop()
    proto = _Grab(loop, last=not ehlo and not help, quit=quit)
    # The connect deadline cancels this task, like asyncio.timeout but sharing the one
    # timer with the reply steps; uncancel() tells our cancel from anyone else's.
    task = proto.task = asyncio.current_task(loop)
    assert task is not None
    cancelling = task.cancelling()
    t0 = time.perf_counter()
    proto.expire_at(loop.time() + connect_timeout)
    try:
        transport, _ = await loop.create_connection(proto, host, port)
    except asyncio.CancelledError:
        proto.stop_timer()
        if proto.expired and task.uncancel() <= cancelling:
            return _no_connection("timeout", f"no connection within {connect_timeout:g} s")
        raise
    except TimeoutError:  # the OS gave up first (ETIMEDOUT)
        proto.stop_timer()
        return _no_connection("timeout", f"no connection within {connect_timeout:g} s")
    except ConnectionRefusedError:
        proto.stop_timer()
        return _no_connection("refused", "connection refused")
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        proto.stop_timer()
        return _no_connection("reset", f"connection reset: {exc}")
    except OSError as exc:
        proto.stop_timer()
        return _no_connection("error", f"network error: {exc.strerror or exc}")
    except BaseException:
        proto.stop_timer()
        raise
    proto.task = None  # connected: from now on the timer ends a reply step instead
    t1 = time.perf_counter()
    connect_ms = round((t1 - t0) * 1000.0, 3)
    try:
        got = await proto.reply(greeting_timeout)
        greeting_ms = round((time.perf_counter() - t1) * 1000.0, 3)
        if got is None:
            outcome, message = proto.failure or ("error", "no reply")
            return BannerResult(outcome, None, tuple(proto.lines), None, (), None, (),
                                connect_ms, greeting_ms, f"greeting: {message}")
        code, greeting = got
        ehlo_code: int | None = None
        ehlo_lines: tuple[str, ...] = ()
        help_code: int | None = None
        help_lines: tuple[str, ...] = ()
        message = ""
        if code // 100 == 2:
            if ehlo:
                proto.last = not help
                transport.write(b"EHLO " + ehlo.encode("ascii") + b"\r\n")
                step = await proto.reply(greeting_timeout)
                if step is None:
                    message = f"EHLO: {proto.failure[1] if proto.failure else 'no reply'}"
                else:
                    ehlo_code, ehlo_lines = step
            if help and not message:
                proto.last = True
                transport.write(b"HELP\r\n")
                step = await proto.reply(greeting_timeout)
                if step is None:
                    message = f"HELP: {proto.failure[1] if proto.failure else 'no reply'}"
                else:
                    help_code, help_lines = step
        if quit and proto.failure is None and not proto.finished:
            transport.write(b"QUIT\r\n")
        return BannerResult("answered", code, greeting, ehlo_code, ehlo_lines, help_code,
                            help_lines, connect_ms, greeting_ms, message)
    finally:
        proto.stop_timer()
        transport.close()
