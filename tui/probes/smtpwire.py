"""A bounded SMTP client dialogue shared by the smtp, relay and ports probes and the survey.

Why not aiosmtplib: measured by bench/smtp_client.py against the lab's hostile servers,
aiosmtplib 5.1 is just as safe (whole-reply deadline, bounded buffers: a drip server, a
10 MB greeting and endless 220- lines end for both). What it does not give is the
transcript a diagnosis needs: it returns replies with the per-line codes stripped, reduces
an over-long reply to "Response too long" and drops undecodable bytes from a malformed
line, while this client keeps every line as received (bytes shown as \\xNN) up to its
bounds. The survey's hot path (tui/probes/smtp.py grab_banner) is a raw Protocol for CPU:
bench/grab.py measures aiosmtplib at 1.15-1.49x its client CPU per greeting on uvloop.

Bounds: every read has a whole-reply deadline, a line length, a line count and a byte
limit. Errors are exceptions inside this module (SmtpWireError and subclasses); probes catch
them and turn them into result statuses — they never escape a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tui.probes.base import Status

MAX_LINE = 4096  # RFC 5321 allows 512 octets per reply line; be generous, not unbounded
MAX_LINES = 128
MAX_REPLY_BYTES = 64 * 1024
MAX_TRANSCRIPT_LINES = 2000


class SmtpWireError(Exception):
    """A dialogue step failed; ``status`` is what a probe should report."""

    status: Status = Status.ERROR


class ReplyTimeout(SmtpWireError):
    status = Status.TIMEOUT


class ConnectionClosed(SmtpWireError):
    status = Status.RESET


class ReplyTooLarge(SmtpWireError):
    status = Status.ERROR


class MalformedReply(SmtpWireError):
    status = Status.ERROR


class UnsafeArgument(ValueError):
    """A command argument would smuggle CR/LF or non-ASCII onto the wire."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: its code and text lines (without the code and separator)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def first(self) -> str:
        return self.lines[0] if self.lines else ""

    @property
    def kind(self) -> Literal["positive", "intermediate", "transient", "permanent", "other"]:
        return {2: "positive", 3: "intermediate", 4: "transient", 5: "permanent"}.get(
            self.code // 100, "other"
        )  # type: ignore[return-value]

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code at the start of the first line, if any."""
        head = self.first.split(" ", 1)[0]
        parts = head.split(".")
        if (len(parts) == 3 and head.isascii() and all(p.isdigit() for p in parts)
                and parts[0] in ("2", "4", "5")):
            return head
        return None

    def as_text(self) -> str:
        if not self.lines:
            return str(self.code)
        body = [f"{self.code}-{line}" for line in self.lines[:-1]]
        body.append(f"{self.code} {self.lines[-1]}")
        return "\n".join(body)


def decode_line(raw: bytes) -> str:
    """Bytes of one line -> text without CR/LF; undecodable bytes shown as \\xNN."""
    return raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


def parse_line(line: str) -> tuple[int, bool, str]:
    """'250-SIZE 1000' -> (250, True, 'SIZE 1000'). Raises MalformedReply.

    The separator may be '-', ' ' or nothing (a bare '250'); anything else is malformed.
    """
    # isascii(): str.isdigit() also accepts '²' or '٣', which int() rejects or misreads.
    code_text = line[:3]
    if (len(line) < 3 or not code_text.isascii() or not code_text.isdigit()
            or not "2" <= line[0] <= "5"):
        raise MalformedReply(f"not an SMTP reply line: {line[:80]!r}")
    code = int(line[:3])
    if len(line) == 3:
        return code, False, ""
    sep = line[3]
    if sep not in "- ":
        raise MalformedReply(f"bad separator after reply code: {line[:80]!r}")
    return code, sep == "-", line[4:]


async def read_line(reader: asyncio.StreamReader, on_partial: Callable[[str], None]) -> bytes:
    """One line (the stream's limit bounds it); every way the read can fail becomes a
    SmtpWireError. A last line without its newline goes to ``on_partial`` first."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise ReplyTooLarge(f"reply line longer than {MAX_LINE} bytes") from None
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            on_partial(decode_line(exc.partial))
        raise ConnectionClosed("connection closed by the server") from None
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise ConnectionClosed(f"connection reset: {exc}") from None
    except ssl.SSLError as exc:
        raise SmtpWireError(f"TLS error: {exc.reason or exc}") from None
    except OSError as exc:  # aborted, unreachable, timed out in the kernel …
        raise ConnectionClosed(f"connection lost: {exc.strerror or exc}") from None


def parse_reply(lines: list[str]) -> Reply:
    """A complete reply from its lines (all sharing one code, the last without '-')."""
    if not lines:
        raise MalformedReply("empty reply")
    code: int | None = None
    texts: list[str] = []
    for i, line in enumerate(lines):
        this, more, text = parse_line(line)
        if code is None:
            code = this
        elif this != code:
            raise MalformedReply(f"reply code changed from {code} to {this} mid-reply")
        last = i == len(lines) - 1
        if more == last:
            raise MalformedReply("continuation marker out of place")
        texts.append(text)
    assert code is not None
    return Reply(code, tuple(texts))


class SmtpClient:
    """One bounded SMTP dialogue over asyncio streams, with a transcript.

    ``await SmtpClient.connect(host, port, …)`` then ``read_reply`` / ``command``;
    always ``await client.close()`` (or use ``async with``).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout: float, transcript: bool = True) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.transcript: list[tuple[str, str]] | None = [] if transcript else None
        self.tls: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        self.utf8 = False  # set by the caller once the server offers SMTPUTF8

    @classmethod
    async def connect(
        cls, host: str, port: int, *, connect_timeout: float, timeout: float,
        tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
        transcript: bool = True,
    ) -> SmtpClient:
        """Open a connection (implicit TLS when ``tls``). Raises SmtpWireError or OSError."""
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, limit=MAX_LINE, ssl=tls,
                    server_hostname=(server_hostname or host) if tls else None,
                    ssl_handshake_timeout=connect_timeout if tls else None,
                )
        except TimeoutError:
            raise ReplyTimeout(f"no connection within {connect_timeout:g} s") from None
        return cls(reader, writer, timeout, transcript)

    async def __aenter__(self) -> SmtpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _note(self, direction: str, text: str) -> None:
        if self.transcript is not None and len(self.transcript) < MAX_TRANSCRIPT_LINES:
            self.transcript.append((direction, text))

    async def _readline(self) -> bytes:
        return await read_line(self.reader, lambda text: self._note("S", text))

    async def read_reply(self, timeout: float | None = None) -> Reply:
        """Read one whole reply within ``timeout`` (whole-reply deadline, not per byte)."""
        limit = self.timeout if timeout is None else timeout
        lines: list[str] = []
        total = 0
        try:
            async with asyncio.timeout(limit):
                while True:
                    raw = await self._readline()
                    total += len(raw)
                    text = decode_line(raw)
                    self._note("S", text)
                    lines.append(text)
                    if total > MAX_REPLY_BYTES:
                        raise ReplyTooLarge(f"reply larger than {MAX_REPLY_BYTES} bytes")
                    if len(lines) > MAX_LINES:
                        raise ReplyTooLarge(f"reply longer than {MAX_LINES} lines")
                    _code, more, _text = parse_line(text)
                    if not more:
                        return parse_reply(lines)
        except TimeoutError:
            got = f" after {len(lines)} line(s)" if lines else ""
            raise ReplyTimeout(f"no complete reply within {limit:g} s{got}") from None

    def check_argument(self, text: str) -> None:
        if "\r" in text or "\n" in text or "\x00" in text:
            raise UnsafeArgument("CR, LF or NUL in an SMTP command")
        if not self.utf8 and not text.isascii():
            raise UnsafeArgument("non-ASCII in an SMTP command and the server has no SMTPUTF8")

    async def send(self, line: str) -> None:
        self.check_argument(line)
        self._note("C", line)
        try:
            self.writer.write(line.encode("utf-8") + b"\r\n")
            async with asyncio.timeout(self.timeout):
                await self.writer.drain()
        except TimeoutError:
            raise ReplyTimeout("the server stopped reading") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosed(f"connection reset: {exc}") from None
        except OSError as exc:
            raise ConnectionClosed(f"connection lost: {exc.strerror or exc}") from None

    async def command(self, line: str, timeout: float | None = None) -> Reply:
        await self.send(line)
        return await self.read_reply(timeout)

    async def starttls(self, context: ssl.SSLContext, server_hostname: str,
                       timeout: float | None = None) -> None:
        """Upgrade after a 220 to STARTTLS/STLS. Raises SmtpWireError on handshake failure."""
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                await self.writer.start_tls(context, server_hostname=server_hostname)
        except TimeoutError:
            raise ReplyTimeout("TLS handshake timed out") from None
        except ssl.SSLError as exc:
            raise SmtpWireError(f"TLS handshake failed: {exc.reason or exc}") from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(f"TLS handshake failed: {exc}") from None
        self.tls = self.writer.get_extra_info("ssl_object")
        self._note("*", f"TLS started: {self.tls.version() if self.tls else '?'}")

    async def close(self, quit_first: bool = False) -> None:
        """QUIT (best effort, bounded) then close the socket; never raises."""
        if quit_first and not self.writer.is_closing():
            with contextlib.suppress(Exception):
                await self.command("QUIT", timeout=min(self.timeout, 2.0))
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.writer.wait_closed()


def ehlo_capabilities(reply: Reply) -> dict[str, str]:
    """EHLO reply -> {'SIZE': '52428800', 'STARTTLS': '', 'AUTH': 'PLAIN LOGIN', …}.

    The first line is the server's greeting name and is not a capability. Keywords are
    upper-cased; 'AUTH=LOGIN' (an old form) is folded into AUTH.
    """
    caps: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if not keyword:
            continue
        key = keyword.upper()
        if key.startswith("AUTH="):
            key, params = "AUTH", (caps.get("AUTH", "") + " " + keyword[5:]).strip()
        elif key == "AUTH" and "AUTH" in caps:
            params = (caps["AUTH"] + " " + params).strip()
        caps[key] = params.strip()
    return caps
