"""Mail ports: open / closed / filtered, connect time, banner, TLS and certificate.

``run(target, settings)`` checks every port of Settings.ports (25, 465, 587, 2525, 110,
995, 143, 993) concurrently. Each port speaks its service: SMTP (EHLO, then STARTTLS when
offered), POP3 (CAPA, STLS), IMAP (CAPABILITY, a tagged STARTTLS), or TLS from the first
byte on 465/995/993. ``services`` overrides the service of a port (the lab runs SMTP on an
ephemeral port as "smtp" or "smtps"); a port with no known service gets "tcp" (connect and
read one banner line). Results stream through ``on_port`` as each port finishes.

States: open (TCP connected), closed (refused), filtered (no answer to the connect within
connect_timeout), error (any other connect failure). An open port's own ``status`` says
whether its dialogue completed (timeout: no greeting, error: TLS or protocol failure).

TLS is verified the way tlsinfo explains: the handshake is made with the verifying context
(system CAs + Settings.tls_ca_file, the typed host name or the IP checked); if it fails with
a TLS error, the port is probed once more with verification off to read the certificate,
and the first error becomes the verification result. A good certificate costs one
connection per port, a bad one two.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tui.config import Settings
from tui.probes import tlsinfo
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import make_resolver, query
from tui.probes.smtp import check_helo_name
from tui.probes.smtpwire import (
    MAX_LINE,
    MAX_LINES,
    MAX_REPLY_BYTES,
    ConnectionClosed,
    MalformedReply,
    ReplyTimeout,
    ReplyTooLarge,
    SmtpClient,
    SmtpWireError,
    decode_line,
    ehlo_capabilities,
    read_line,
)
from tui.probes.target import Target
from tui.probes.tlsinfo import TlsContexts, TlsInfo, TlsSetupError

Protocol = Literal["smtp", "pop3", "imap", "tcp"]
TlsMode = Literal["starttls", "implicit", "none"]
PortState = Literal["open", "closed", "filtered", "error"]

MAX_BANNER = 512  # characters of the first banner line kept in a result
MAX_TRANSCRIPT = 60  # lines of dialogue kept per port


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    protocol: Protocol
    tls: TlsMode


SERVICES: dict[str, ServiceSpec] = {
    "smtp": ServiceSpec("smtp", "smtp", "starttls"),
    "submission": ServiceSpec("submission", "smtp", "starttls"),
    "smtps": ServiceSpec("smtps", "smtp", "implicit"),
    "pop3": ServiceSpec("pop3", "pop3", "starttls"),
    "pop3s": ServiceSpec("pop3s", "pop3", "implicit"),
    "imap": ServiceSpec("imap", "imap", "starttls"),
    "imaps": ServiceSpec("imaps", "imap", "implicit"),
    "tcp": ServiceSpec("tcp", "tcp", "none"),
}

STANDARD_SERVICES: dict[int, str] = {
    25: "smtp", 465: "smtps", 587: "submission", 2525: "smtp",
    110: "pop3", 995: "pop3s", 143: "imap", 993: "imaps",
}


def service_for(port: int, services: Mapping[int, str] | None = None) -> ServiceSpec:
    """The service spoken on ``port``: the override, the standard one, or plain "tcp"."""
    name = (services or {}).get(port) or STANDARD_SERVICES.get(port, "tcp")
    return SERVICES[name]


@dataclass(frozen=True, slots=True)
class PortResult:
    port: int
    service: str
    protocol: str
    tls_mode: str  # "starttls" | "implicit" | "none"
    state: str  # "open" | "closed" | "filtered" | "error"
    status: Status  # how the port's dialogue ended
    message: str  # the port's status line
    connect_ms: float | None
    banner: str  # first line of the greeting as received ("" if none)
    banner_ms: float | None
    starttls_offered: bool | None  # None: implicit TLS, plain tcp, or never got that far
    tls: TlsInfo | None
    tls_error: str  # the TLS upgrade failed altogether ("" otherwise)
    transcript: tuple[tuple[str, str], ...]  # ("C"|"S"|"*", line)
    elapsed_ms: float

    @property
    def tls_problem(self) -> bool:
        return bool(self.tls_error) or (self.tls is not None and bool(self.tls.problems))


@dataclass(frozen=True, slots=True)
class PortsResult:
    target: str
    address: str | None  # the IP probed
    expected_host: str  # what certificates are checked against (typed name or the IP)
    status: Status
    message: str  # the verdict line
    ports: tuple[PortResult, ...]
    open: int
    closed: int
    filtered: int
    errors: int
    tls_ok: tuple[int, ...]  # TLS established, certificate verified
    tls_failed: tuple[int, ...]  # the TLS upgrade failed
    cert_problems: tuple[int, ...]  # TLS up, but the certificate has a problem
    expiring: tuple[int, ...]  # certificate verified but ends within EXPIRY_WARN_DAYS
    resolve_ms: float | None
    elapsed_ms: float


# -- a bounded line reader for POP3 and IMAP ------------------------------------------------


class _LineClient:
    """Bounded line dialogue (whole-response deadline, line/byte/count limits)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout: float, transcript: list[tuple[str, str]]) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.transcript = transcript

    async def _line(self) -> str:
        raw = await read_line(self.reader, lambda text: _note(self.transcript, "S", text))
        text = decode_line(raw)
        _note(self.transcript, "S", text)
        return text

    async def lines(self, done: Callable[[str, int], bool],
                    timeout: float | None = None) -> list[str]:
        """Read lines until ``done(line, index)`` is true, all within one deadline."""
        limit = self.timeout if timeout is None else timeout
        got: list[str] = []
        total = 0
        try:
            async with asyncio.timeout(limit):
                while True:
                    line = await self._line()
                    got.append(line)
                    total += len(line) + 2
                    if done(line, len(got) - 1):
                        return got
                    if len(got) >= MAX_LINES or total > MAX_REPLY_BYTES:
                        raise ReplyTooLarge(f"response longer than {MAX_LINES} lines")
        except TimeoutError:
            raise ReplyTimeout(f"no complete response within {limit:g} s") from None

    async def send(self, line: str) -> None:
        _note(self.transcript, "C", line)
        try:
            self.writer.write(line.encode("ascii") + b"\r\n")
            async with asyncio.timeout(self.timeout):
                await self.writer.drain()
        except TimeoutError:
            raise ReplyTimeout("the server stopped reading") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosed(f"connection reset: {exc}") from None


def _note(transcript: list[tuple[str, str]], direction: str, text: str) -> None:
    if len(transcript) < MAX_TRANSCRIPT:
        transcript.append((direction, text[:MAX_BANNER]))


# -- one attempt at one port ----------------------------------------------------------------


@dataclass
class _Attempt:
    """Scratch state of one connection to one port (becomes a PortResult)."""

    state: PortState = "error"
    status: Status = Status.OK
    note: str = ""  # what happened after connecting, for the status line
    connect_ms: float | None = None
    banner: str = ""
    banner_ms: float | None = None
    starttls_offered: bool | None = None
    reached_tls: bool = False  # a handshake was started
    tls: TlsInfo | None = None
    tls_exc: BaseException | None = None  # the handshake failed
    tls_refused: str = ""  # the server answered STARTTLS/STLS with an error
    transcript: list[tuple[str, str]] = field(default_factory=list)


class _Stop(Exception):
    """End the dialogue early with a status and a note."""

    def __init__(self, status: Status, note: str) -> None:
        super().__init__(note)
        self.status = status
        self.note = note


@dataclass(frozen=True, slots=True)
class _Job:
    ip: str
    port: int
    spec: ServiceSpec
    server_hostname: str  # SNI + name check: the typed host name, else the IP
    settings: Settings
    contexts: TlsContexts


async def _upgrade(job: _Job, att: _Attempt, writer: asyncio.StreamWriter,
                   verify_error: str) -> bool:
    """TLS on this stream; records TlsInfo or the failure. True when TLS is up.

    ``verify_error`` empty: this is the verifying attempt. Otherwise it is the error the
    verifying attempt ended with, and this handshake only reads the certificate.
    """
    att.reached_tls = True
    verifying = not verify_error
    ctx = job.contexts.verify if verifying else job.contexts.inspect
    sw = Stopwatch()
    try:
        obj = await tlsinfo.start_tls(writer, ctx, job.server_hostname, job.settings.timeout)
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        att.tls_exc = exc
        _note(att.transcript, "*", tlsinfo.describe_tls_error(exc))
        return False
    att.tls = tlsinfo.from_ssl_object(obj, expected_host=job.server_hostname,
                                      verified=verifying, verify_error=verify_error,
                                      handshake_ms=sw.ms())
    _note(att.transcript, "*", f"TLS started: {att.tls.version or '?'}")
    return True


async def _smtp(job: _Job, att: _Attempt, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter, verify_error: str) -> None:
    settings = job.settings
    client = SmtpClient(reader, writer, settings.smtp_timeout)
    client.transcript = att.transcript  # one transcript per attempt, bounded by _note
    sw = Stopwatch()
    try:
        try:
            greeting = await client.read_reply(settings.greeting_timeout)
        finally:
            att.banner_ms = sw.ms()
            att.banner = next((t for d, t in att.transcript if d == "S"), "")[:MAX_BANNER]
        if greeting.code != 220:
            raise _Stop(Status.OK, f"the server refuses sessions ({greeting.code})")
        if job.spec.tls == "starttls":
            ehlo = await client.command(f"EHLO {check_helo_name(settings.helo_name)}")
            caps = ehlo_capabilities(ehlo) if ehlo.code == 250 else {}
            att.starttls_offered = "STARTTLS" in caps
            if att.starttls_offered:
                reply = await client.command("STARTTLS")
                if reply.code != 220:
                    att.tls_refused = f"STARTTLS refused: {reply.code} {reply.first}"
                    return
                if not await _upgrade(job, att, writer, verify_error):
                    return
        with contextlib.suppress(SmtpWireError):
            await client.command("QUIT", timeout=min(settings.smtp_timeout, 2.0))
    except ValueError as exc:  # check_helo_name's reason, or UnsafeArgument from the wire
        raise _Stop(Status.ERROR, f"helo_name: {exc}") from None
    finally:
        # Long dialogues (SmtpClient notes lines itself) still keep only MAX_TRANSCRIPT.
        del att.transcript[MAX_TRANSCRIPT:]


async def _greet(job: _Job, att: _Attempt, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> tuple[_LineClient, str]:
    """A line client for POP3/IMAP and the server's greeting line (timed, kept as banner)."""
    client = _LineClient(reader, writer, job.settings.timeout, att.transcript)
    sw = Stopwatch()
    try:
        greeting = (await client.lines(lambda _l, _i: True, job.settings.greeting_timeout))[0]
    finally:
        att.banner_ms = sw.ms()
        att.banner = next((t for d, t in att.transcript if d == "S"), "")[:MAX_BANNER]
    return client, greeting


async def _pop3(job: _Job, att: _Attempt, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter, verify_error: str) -> None:
    settings = job.settings
    client, greeting = await _greet(job, att, reader, writer)
    if greeting.startswith("-ERR"):
        raise _Stop(Status.OK, "the server refuses sessions (-ERR)")
    if not greeting.startswith("+OK"):
        raise MalformedReply("not a POP3 greeting")
    if job.spec.tls == "starttls":
        await client.send("CAPA")
        capa = await client.lines(
            lambda line, i: (i == 0 and not line.startswith("+OK")) or line == "."
        )
        if capa[0].startswith("+OK"):
            att.starttls_offered = any(c.strip().upper() == "STLS" for c in capa[1:-1])
        if att.starttls_offered is not False:  # offered, or CAPA unsupported: just ask
            await client.send("STLS")
            answer = (await client.lines(lambda _l, _i: True))[0]
            if answer.startswith("+OK"):
                att.starttls_offered = True
                if not await _upgrade(job, att, writer, verify_error):
                    return
            elif att.starttls_offered:
                att.tls_refused = f"STLS refused: {answer[:120]}"
                return
            else:
                att.starttls_offered = False
    with contextlib.suppress(SmtpWireError):
        await client.send("QUIT")
        await client.lines(lambda _l, _i: True, min(settings.timeout, 2.0))


def _imap_caps(lines: Sequence[str]) -> set[str]:
    caps: set[str] = set()
    for line in lines:
        upper = line.upper()
        if upper.startswith("* CAPABILITY "):
            caps.update(upper[len("* CAPABILITY "):].split())
        elif "[CAPABILITY " in upper:
            inner = upper.split("[CAPABILITY ", 1)[1].split("]", 1)[0]
            caps.update(inner.split())
    return caps


async def _imap(job: _Job, att: _Attempt, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter, verify_error: str) -> None:
    settings = job.settings
    client, greeting = await _greet(job, att, reader, writer)
    head = greeting.upper()
    if head.startswith("* BYE"):
        raise _Stop(Status.OK, "the server refuses sessions (BYE)")
    if not (head.startswith("* OK") or head.startswith("* PREAUTH")):
        raise MalformedReply("not an IMAP greeting")
    counter = 0

    async def tagged(command: str) -> tuple[str, list[str]]:
        nonlocal counter
        counter += 1
        tag = f"m{counter}"
        await client.send(f"{tag} {command}")
        got = await client.lines(lambda line, _i: line.startswith(tag + " "))
        word = got[-1][len(tag) + 1:].split(" ", 1)[0].upper()
        return word, got

    if job.spec.tls == "starttls":
        caps = _imap_caps([greeting])
        if not caps:
            word, got = await tagged("CAPABILITY")
            caps = _imap_caps(got) if word == "OK" else set()
        att.starttls_offered = "STARTTLS" in caps
        if att.starttls_offered:
            word, got = await tagged("STARTTLS")
            if word != "OK":
                att.tls_refused = f"STARTTLS refused: {got[-1][:120]}"
                return
            if not await _upgrade(job, att, writer, verify_error):
                return
    with contextlib.suppress(SmtpWireError):
        await client.send(f"m{counter + 1} LOGOUT")
        tag = f"m{counter + 1} "
        await client.lines(lambda line, _i: line.startswith(tag), min(settings.timeout, 2.0))


async def _tcp(job: _Job, att: _Attempt, reader: asyncio.StreamReader) -> None:
    """Unknown service: whatever the server says first, up to one line."""
    sw = Stopwatch()
    data = b""
    try:
        async with asyncio.timeout(job.settings.greeting_timeout):
            while b"\n" not in data and len(data) < MAX_LINE:
                chunk = await reader.read(MAX_LINE - len(data))
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        if not data:
            att.banner_ms = sw.ms()
            raise _Stop(Status.OK, "says nothing first (no banner)") from None
    except (ConnectionError, OSError) as exc:
        raise ConnectionClosed(f"connection reset: {exc}") from None
    att.banner_ms = sw.ms()
    att.banner = decode_line(data.split(b"\n", 1)[0])[:MAX_BANNER]
    if att.banner:
        _note(att.transcript, "S", att.banner)


async def _attempt(job: _Job, verify_error: str = "") -> _Attempt:
    att = _Attempt()
    settings = job.settings
    sw = Stopwatch()
    try:
        async with asyncio.timeout(settings.connect_timeout):
            reader, writer = await asyncio.open_connection(job.ip, job.port, limit=MAX_LINE)
    except TimeoutError:
        att.state, att.status = "filtered", Status.TIMEOUT
        att.note = f"no answer within {settings.connect_timeout:g} s"
        return att
    except ConnectionRefusedError:
        att.state, att.status, att.note = "closed", Status.REFUSED, "connection refused"
        return att
    except OSError as exc:
        att.state, att.status = "error", Status.ERROR
        att.note = f"connect failed: {exc.strerror or exc}"
        return att
    att.state = "open"
    att.connect_ms = sw.ms()
    try:
        if job.spec.tls == "implicit" and not await _upgrade(job, att, writer, verify_error):
            return att
        if job.spec.protocol == "smtp":
            await _smtp(job, att, reader, writer, verify_error)
        elif job.spec.protocol == "pop3":
            await _pop3(job, att, reader, writer, verify_error)
        elif job.spec.protocol == "imap":
            await _imap(job, att, reader, writer, verify_error)
        else:
            await _tcp(job, att, reader)
    except _Stop as stop:
        att.status, att.note = stop.status, stop.note
    except ReplyTimeout as exc:
        att.status = Status.TIMEOUT
        att.note = (f"no greeting within {settings.greeting_timeout:g} s"
                    if att.banner_ms is not None and not att.banner else str(exc))
    except SmtpWireError as exc:
        att.status, att.note = exc.status, str(exc)
    except OSError as exc:  # a reset or network error mid-dialogue
        att.status = Status.RESET if isinstance(exc, ConnectionError) else Status.ERROR
        att.note = f"connection lost: {exc.strerror or exc}"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await writer.wait_closed()
    return att


# -- one port -------------------------------------------------------------------------------


def _retry_without_verification(att: _Attempt) -> bool:
    # A failed handshake (bad certificate, a protocol the strict context refuses, garbage,
    # a server that drops a client it cannot talk to) gets a second, lenient look; a
    # timeout would only make the user wait twice as long for the same answer.
    return (isinstance(att.tls_exc, ssl.SSLError | ConnectionError)
            and att.tls is None and att.reached_tls)


async def check_port(ip: str, port: int, spec: ServiceSpec, server_hostname: str,
                     settings: Settings, contexts: TlsContexts) -> PortResult:
    """One port, end to end (both attempts when the verifying handshake fails)."""
    job = _Job(ip, port, spec, server_hostname, settings, contexts)
    sw = Stopwatch()
    first = await _attempt(job)
    tls: TlsInfo | None = first.tls
    transcript = list(first.transcript)
    status, note = first.status, first.note
    banner, banner_ms = first.banner, first.banner_ms
    tls_error = first.tls_refused
    if _retry_without_verification(first):
        assert first.tls_exc is not None
        verify_error = tlsinfo.describe_tls_error(first.tls_exc)
        transcript.append(("*", "reconnecting with verification off to read the certificate"))
        second = await _attempt(job, verify_error)
        transcript.extend(second.transcript)
        if not banner:  # implicit TLS: the greeting only comes after the handshake
            banner, banner_ms = second.banner, second.banner_ms
        if status is Status.OK and second.status is not Status.OK:
            status, note = second.status, second.note
        tls = second.tls
        if tls is None:
            tls_error = verify_error
            if second.tls_exc is not None:
                other = tlsinfo.describe_tls_error(second.tls_exc)
                if other != verify_error:
                    tls_error += f" (without verification: {other})"
            elif not second.reached_tls:
                tls_error += " (could not reconnect to read the certificate)"
    elif first.tls_exc is not None:
        tls_error = tlsinfo.describe_tls_error(first.tls_exc)
    if tls_error and status is Status.OK:
        status = Status.ERROR
    message = _port_message(first, spec, tls, tls_error, note)
    return PortResult(
        port=port, service=spec.name, protocol=spec.protocol, tls_mode=spec.tls,
        state=first.state, status=status, message=message, connect_ms=first.connect_ms,
        banner=banner, banner_ms=banner_ms, starttls_offered=first.starttls_offered,
        tls=tls, tls_error=tls_error, transcript=tuple(transcript[: 2 * MAX_TRANSCRIPT]),
        elapsed_ms=sw.ms(),
    )


def _port_message(att: _Attempt, spec: ServiceSpec, tls: TlsInfo | None, tls_error: str,
                  note: str) -> str:
    if att.state == "closed":
        return "closed (connection refused)"
    if att.state == "filtered":
        return f"filtered ({note})"
    if att.state == "error":
        return f"error: {note}"
    parts = [f"open in {att.connect_ms:.1f} ms" if att.connect_ms is not None else "open"]
    label = "implicit TLS" if spec.tls == "implicit" else (
        "STLS" if spec.protocol == "pop3" else "STARTTLS")
    if tls_error:
        parts.append(f"{label} failed: {tls_error}")
    elif tls is not None:
        parts.append(f"{label} {tls.version or '?'}")
        if tls.problems:
            parts.append("certificate problem: " + ", ".join(tls.problems))
        elif tls.days_left is not None:
            parts.append(f"certificate verified, expires in {tls.days_left} days")
    elif spec.tls == "starttls" and att.starttls_offered is False:
        parts.append(f"no {label} offered")
    if note:
        parts.append(note)
    return "; ".join(parts)


# -- the whole run --------------------------------------------------------------------------


def validate(ports: Sequence[int], services: Mapping[int, str] | None) -> None:
    """Raise ValueError for a port outside 1..65535 or an unknown service name."""
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{port!r} is not a TCP port (1-65535)")
    for port, name in (services or {}).items():
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{port!r} is not a TCP port (1-65535)")
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")


async def resolve(target: Target, settings: Settings) -> tuple[str | None, Status, str]:
    """(first address, status, message) for a target; IPs pass straight through."""
    if target.is_ip:
        return target.text, Status.OK, ""
    resolver = make_resolver(settings)
    last = None
    for rdtype in ("A", "AAAA"):
        answer = await query(resolver, target.text, rdtype)
        if answer.status is Status.OK and answer.records:
            return answer.records[0], Status.OK, ""
        if answer.status is not Status.NOANSWER:
            return None, answer.status, f"{target.text}: {answer.message}"
        last = answer
    assert last is not None
    return None, Status.NOANSWER, f"{target.text}: no A or AAAA record"


def _plural(ports: Sequence[int]) -> str:
    return ", ".join(str(p) for p in ports)


def verdict(results: Sequence[PortResult]) -> str:
    counts = {s: sum(1 for r in results if r.state == s)
              for s in ("open", "closed", "filtered", "error")}
    head = f"{counts['open']} open, {counts['closed']} closed, {counts['filtered']} filtered"
    if counts["error"]:
        head += f", {counts['error']} error"
    parts = [head]
    if not counts["open"]:
        parts.append("nothing answers")
    ok = [r.port for r in results if r.tls is not None and not r.tls_problem]
    if ok:
        parts.append(f"TLS ok on {_plural(ok)}")
    for r in results:
        if r.tls_error:
            parts.append(f"TLS failed on {r.port} ({r.tls_error})")
        elif r.state == "open" and r.status is Status.TIMEOUT and not r.banner:
            parts.append(f"no greeting on {r.port}")
        elif r.state == "open" and r.status is not Status.OK:
            parts.append(f"{r.status.value} on {r.port}")
    by_problem: dict[str, list[int]] = {}
    for r in results:
        if r.tls is not None:
            for problem in r.tls.problems:
                by_problem.setdefault(problem, []).append(r.port)
    parts.extend(f"{problem} on {_plural(ports)}" for problem, ports in by_problem.items())
    for r in results:
        if r.tls is not None and r.tls.expiring_soon and not r.tls.problems:
            parts.append(f"certificate expires in {r.tls.days_left} days on {r.port}")
    return "; ".join(parts)


async def run(
    target: Target,
    settings: Settings,
    *,
    ports: Sequence[int] | None = None,
    services: Mapping[int, str] | None = None,
    on_port: Callable[[PortResult], None] | None = None,
    expected_host: str | None = None,
) -> PortsResult:
    """Check every port concurrently; ``on_port`` gets each PortResult as it finishes.

    Certificates are checked against ``expected_host`` when given (e.g. the MX name when an
    MX address is checked), else against the target as typed."""
    wanted = list(dict.fromkeys(settings.ports if ports is None else ports))
    validate(wanted, services)
    sw = Stopwatch()
    expected = expected_host or target.text
    try:
        contexts = tlsinfo.make_contexts(settings)
    except TlsSetupError as exc:
        return _empty(target, None, expected, Status.ERROR, str(exc), None, sw)
    resolve_sw = Stopwatch()
    address, status, message = await resolve(target, settings)
    resolve_ms = None if target.is_ip else resolve_sw.ms()
    if address is None:
        return _empty(target, None, expected, status, message, resolve_ms, sw)

    async def one(port: int) -> PortResult:
        result = await check_port(address, port, service_for(port, services), expected,
                                  settings, contexts)
        if on_port is not None:
            on_port(result)
        return result

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(port)) for port in wanted]
    results = tuple(t.result() for t in tasks)
    counts = {s: sum(1 for r in results if r.state == s)
              for s in ("open", "closed", "filtered", "error")}
    if counts["open"]:
        overall = Status.OK
    elif counts["filtered"]:
        overall = Status.TIMEOUT
    elif counts["closed"]:
        overall = Status.REFUSED
    else:
        overall = Status.ERROR
    return PortsResult(
        target=target.text, address=address, expected_host=expected, status=overall,
        message=verdict(results), ports=results, open=counts["open"],
        closed=counts["closed"], filtered=counts["filtered"], errors=counts["error"],
        tls_ok=tuple(r.port for r in results if r.tls is not None and not r.tls_problem),
        tls_failed=tuple(r.port for r in results if r.tls_error),
        cert_problems=tuple(r.port for r in results if r.tls is not None and r.tls.problems),
        expiring=tuple(r.port for r in results
                       if r.tls is not None and r.tls.expiring_soon and not r.tls.problems),
        resolve_ms=resolve_ms, elapsed_ms=sw.ms(),
    )


def _empty(target: Target, address: str | None, expected: str, status: Status, message: str,
           resolve_ms: float | None, sw: Stopwatch) -> PortsResult:
    return PortsResult(
        target=target.text, address=address, expected_host=expected, status=status,
        message=message, ports=(), open=0, closed=0, filtered=0, errors=0, tls_ok=(),
        tls_failed=(), cert_problems=(), expiring=(), resolve_ms=resolve_ms,
        elapsed_ms=sw.ms(),
    )
