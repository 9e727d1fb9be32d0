"""Lab POP3 and IMAP servers on loopback: greetings, capabilities and STLS/STARTTLS.

Enough of each protocol for the ports probe and the demo: a Dovecot-like greeting,
CAPA / CAPABILITY, the TLS upgrade (STLS for POP3, a tagged STARTTLS for IMAP) or TLS from
the first byte (``implicit_tls``, ports 995/993), NOOP and QUIT / LOGOUT. No mailbox, no
login: USER/PASS/LOGIN/AUTHENTICATE are refused the way Dovecot refuses them.

    certs = LabCerts()
    async with ImapServer(host="127.0.0.1", port=0, tls="good", certs=certs) as imap:
        imap.host, imap.port, imap.sessions       # also start()/stop() for LabThread

``tls`` picks the certificate the server presents: None (no STARTTLS offered), "good",
"self-signed", "expired" or "wrong-host" (made by LabCerts, whose CA is in
``certs.ca_pem_path``). ``hostile``: "silent" (accepts, never speaks) or
"starttls-broken" (offers the upgrade, says yes, then sends garbage instead of a handshake
and closes). Bounded like the other lab servers: line length, commands per session, an
idle timeout, and stop() closes every open session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tui.lab.certs import LabCerts

MailTls = Literal["good", "self-signed", "expired", "wrong-host"]
MailHostile = Literal["silent", "starttls-broken"]
TLS_KINDS: tuple[str, ...] = ("good", "self-signed", "expired", "wrong-host")
HOSTILE: tuple[str, ...] = ("silent", "starttls-broken")

MAX_LINE = 8192  # RFC 3501 suggests accepting 8000 octets; POP3 commands are far shorter
MAX_COMMANDS = 200
IDLE_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 10.0
# What starttls-broken sends after agreeing to the upgrade: not a TLS record.
GARBAGE = b"\x17\x00garbage-instead-of-a-tls-handshake\r\n" * 4


@dataclass
class MailSession:
    """One client connection as the server saw it."""

    peer: str
    commands: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)  # ("C"|"S"|"*", line)
    tls: bool = False
    closed_by: str = ""  # "client" | "server" | "reset"


class _Session:
    """One connection's I/O, shared by the POP3 and IMAP dialogues."""

    def __init__(self, server: _MailServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, record: MailSession) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.record = record

    async def send(self, *lines: str) -> None:
        for line in lines:
            self.record.transcript.append(("S", line))
            self.writer.write(line.encode("utf-8") + b"\r\n")
        await self.writer.drain()

    async def readline(self) -> str | None:
        """The next client line, or None when the client is gone, idle or too long."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                raw = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            self.record.closed_by = "client"
            return None
        except (asyncio.LimitOverrunError, TimeoutError):
            self.record.closed_by = "server"
            return None
        except (ConnectionError, ssl.SSLError, OSError):
            self.record.closed_by = "reset"
            return None
        line = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
        self.record.commands.append(line)
        self.record.transcript.append(("C", line))
        return line

    async def upgrade(self) -> bool:
        """Server side of the TLS handshake; False (connection done) when it fails."""
        ctx = self.server.tls_context
        assert ctx is not None
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await self.writer.start_tls(ctx, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            # A client that rejects the certificate aborts here; that is a normal outcome.
            self.record.transcript.append(("*", f"TLS handshake failed: {exc}"))
            self.record.closed_by = "reset" if isinstance(exc, ConnectionError) else "client"
            return False
        self.record.tls = True
        obj = self.writer.get_extra_info("ssl_object")
        self.record.transcript.append(("*", f"TLS started: {obj.version() if obj else '?'}"))
        return True

    async def break_tls(self) -> None:
        """starttls-broken: garbage where the ServerHello should be, then close."""
        self.record.transcript.append(("*", "sending garbage instead of a TLS handshake"))
        with contextlib.suppress(ConnectionError, OSError):
            # Wait for the ClientHello so the garbage lands mid-handshake, not before it.
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                await self.reader.read(1)
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write(GARBAGE)
            await self.writer.drain()
        self.record.closed_by = "server"


class _MailServer:
    protocol = ""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hostname: str = "mail.lab.test",
        tls: MailTls | None = None,
        implicit_tls: bool = False,
        certs: LabCerts | None = None,
        hostile: MailHostile | None = None,
    ) -> None:
        if tls is not None and tls not in TLS_KINDS:
            raise ValueError(f"tls must be one of {TLS_KINDS} or None, not {tls!r}")
        if hostile is not None and hostile not in HOSTILE:
            raise ValueError(f"hostile must be one of {HOSTILE} or None, not {hostile!r}")
        if (tls is not None or implicit_tls) and certs is None:
            raise ValueError("a TLS server needs certs=LabCerts()")
        if implicit_tls and tls is None:
            raise ValueError("implicit_tls needs a certificate: pass tls='good' (or another)")
        if hostile == "starttls-broken" and (tls is None or implicit_tls):
            raise ValueError("starttls-broken needs STARTTLS: tls set and implicit_tls off")
        self.host = host
        self.port = port
        self.hostname = hostname
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.certs = certs
        self.hostile = hostile
        self.tls_context: ssl.SSLContext | None = None
        self.sessions: list[MailSession] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> _MailServer:
        if self.tls is not None:
            assert self.certs is not None
            self.tls_context = self.certs.server_context(self.tls, self.hostname)
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and end every session now (silent ones included)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def __aenter__(self) -> _MailServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def starttls_offered(self) -> bool:
        return self.tls is not None and not self.implicit_tls

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        record = MailSession(peer=str(peer[0]) if peer else "?")
        self.sessions.append(record)
        session = _Session(self, reader, writer, record)
        try:
            if self.hostile == "silent":
                # Hold the connection, say nothing, until the client leaves or stop().
                with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                    async with asyncio.timeout(IDLE_TIMEOUT * 4):
                        while await reader.read(4096):
                            pass
                record.closed_by = record.closed_by or "client"
                return
            if self.implicit_tls and not await session.upgrade():
                return
            await self._dialogue(session)
        except (ConnectionError, OSError):
            record.closed_by = record.closed_by or "reset"
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await writer.wait_closed()
            self._tasks.discard(task)

    async def _dialogue(self, session: _Session) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Pop3Server(_MailServer):
    """POP3 (RFC 1939) greeting and CAPA (RFC 2449), STLS (RFC 2595), QUIT."""

    protocol = "pop3"
    greeting = "+OK Dovecot ready."

    def capabilities(self, tls_active: bool) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        if self.starttls_offered and not tls_active:
            caps.append("STLS")
        caps += ["USER", "SASL PLAIN"] if tls_active else ["USER"]
        return caps

    async def _dialogue(self, s: _Session) -> None:
        await s.send(self.greeting)
        for _ in range(MAX_COMMANDS):
            line = await s.readline()
            if line is None:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb == "CAPA":
                await s.send("+OK", *self.capabilities(s.record.tls), ".")
            elif verb == "STLS":
                if not self.starttls_offered:
                    await s.send("-ERR TLS support isn't enabled.")
                elif s.record.tls:
                    await s.send("-ERR [IN-USE] TLS is already active.")
                else:
                    await s.send("+OK Begin TLS negotiation now.")
                    if self.hostile == "starttls-broken":
                        await s.break_tls()
                        return
                    if not await s.upgrade():
                        return
            elif verb == "QUIT":
                await s.send("+OK Logging out.")
                s.record.closed_by = "client"
                return
            elif verb == "NOOP":
                await s.send("+OK")
            elif verb in {"USER", "PASS", "AUTH", "APOP"}:
                if s.record.tls:
                    await s.send("-ERR [AUTH] Authentication failed.")
                else:
                    await s.send("-ERR [AUTH] Plaintext authentication disallowed on "
                                 "non-secure (SSL/TLS) connections.")
            else:
                await s.send("-ERR Unknown command: " + verb[:40])
        await s.send("-ERR Too many commands.")
        s.record.closed_by = "server"


class ImapServer(_MailServer):
    """IMAP4rev1 (RFC 3501) greeting with CAPABILITY, CAPABILITY, STARTTLS, NOOP, LOGOUT."""

    protocol = "imap"

    def capabilities(self, tls_active: bool) -> str:
        caps = ["IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "LITERAL+"]
        if self.starttls_offered and not tls_active:
            caps += ["STARTTLS", "LOGINDISABLED"]
        else:
            caps.append("AUTH=PLAIN")
        return " ".join(caps)

    async def _dialogue(self, s: _Session) -> None:
        await s.send(f"* OK [CAPABILITY {self.capabilities(s.record.tls)}] Dovecot ready.")
        for _ in range(MAX_COMMANDS):
            line = await s.readline()
            if line is None:
                return
            tag, _, rest = line.partition(" ")
            verb = rest.split(" ", 1)[0].upper()
            if not tag or not verb or tag == "*" or not tag.isprintable():
                await s.send("* BAD Error in IMAP command received by server.")
                continue
            if verb == "CAPABILITY":
                await s.send(f"* CAPABILITY {self.capabilities(s.record.tls)}",
                             f"{tag} OK Pre-login capabilities listed, post-login "
                             "capabilities have more.")
            elif verb == "STARTTLS":
                if not self.starttls_offered:
                    await s.send(f"{tag} BAD Unknown command.")
                elif s.record.tls:
                    await s.send(f"{tag} BAD TLS is already active.")
                else:
                    await s.send(f"{tag} OK Begin TLS negotiation now.")
                    if self.hostile == "starttls-broken":
                        await s.break_tls()
                        return
                    if not await s.upgrade():
                        return
            elif verb == "LOGOUT":
                await s.send("* BYE Logging out", f"{tag} OK Logout completed.")
                s.record.closed_by = "client"
                return
            elif verb == "NOOP":
                await s.send(f"{tag} OK NOOP completed.")
            elif verb in {"LOGIN", "AUTHENTICATE"}:
                if s.record.tls:
                    await s.send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
                else:
                    await s.send(f"{tag} NO [PRIVACYREQUIRED] Plaintext authentication "
                                 "disallowed on non-secure (SSL/TLS) connections.")
            else:
                await s.send(f"{tag} BAD Error in IMAP command {verb[:40]}: Unknown command.")
        await s.send("* BYE Too many commands.")
        s.record.closed_by = "server"
