"""The shared SMTP reply parser and client: examples, hypothesis properties (arbitrary text
and bytes only ever give a Reply or MalformedReply / a SmtpWireError), and SmtpClient over
real loopback sockets fed arbitrary server bytes."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.probes.base import Status
from tui.probes.smtpwire import (
    MAX_LINE,
    MAX_LINES,
    ConnectionClosed,
    MalformedReply,
    Reply,
    ReplyTimeout,
    ReplyTooLarge,
    SmtpClient,
    SmtpWireError,
    UnsafeArgument,
    decode_line,
    ehlo_capabilities,
    parse_line,
    parse_reply,
)

# -- parse_line / parse_reply: examples ------------------------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("250-SIZE 1000", (250, True, "SIZE 1000")),
    ("220 mx ESMTP", (220, False, "mx ESMTP")),
    ("250", (250, False, "")),
    ("554 ", (554, False, "")),
    ("421-", (421, True, "")),
])
def test_parse_line_examples(line: str, expected: tuple) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", [
    "", "22", "abc", "199 too low", "600 too high", "220x", "220\tx", "2a0 x",
    # Non-ASCII digits: str.isdigit() says yes; the wire format says no. (Bug fixed here:
    # '2²0' used to raise ValueError from int(), '2٣0' was read as 230.)
    "2²0 x", "2٣0 hi", "٢٢٠ x", "220\u00a0x",
])
def test_parse_line_rejects(line: str) -> None:
    with pytest.raises(MalformedReply):
        parse_line(line)


def test_parse_reply_examples() -> None:
    reply = parse_reply(["250-mx", "250-PIPELINING", "250 SIZE 10"])
    assert reply == Reply(250, ("mx", "PIPELINING", "SIZE 10"))
    assert reply.kind == "positive" and reply.first == "mx"
    assert reply.as_text() == "250-mx\n250-PIPELINING\n250 SIZE 10"
    for bad in ([], ["250-a"], ["250 a", "250 b"], ["250-a", "251 b"], ["250-a", "x"]):
        with pytest.raises(MalformedReply):
            parse_reply(bad)


def test_enhanced_code() -> None:
    assert Reply(550, ("5.7.1 Relay denied",)).enhanced == "5.7.1"
    assert Reply(250, ("2.0.0",)).enhanced == "2.0.0"
    assert Reply(250, ("ok",)).enhanced is None
    # Bug fixed here: "24.1.1" passed because "24" is a substring of "245".
    assert Reply(250, ("24.1.1 x",)).enhanced is None
    assert Reply(250, ("5.٣.1 x",)).enhanced is None
    assert Reply(250, ()).enhanced is None


def test_ehlo_capabilities_folds_auth() -> None:
    reply = parse_reply(["250-mx", "250-AUTH PLAIN LOGIN", "250-AUTH=CRAM-MD5",
                         "250-size 100", "250 8BITMIME"])
    caps = ehlo_capabilities(reply)
    assert caps["AUTH"].split() == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert caps["SIZE"] == "100" and caps["8BITMIME"] == ""


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40))
def test_parse_line_total(text: str) -> None:
    try:
        code, more, rest = parse_line(text)
    except MalformedReply:
        return
    assert 200 <= code <= 599
    assert text[:3] == str(code)
    assert rest == text[4:]
    assert more == (len(text) > 3 and text[3] == "-")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=6))
def test_parse_reply_total(lines: list[str]) -> None:
    try:
        reply = parse_reply(lines)
    except MalformedReply:
        return
    assert len(reply.lines) == len(lines)
    assert 200 <= reply.code <= 599
    # Every property is total on a parsed reply.
    assert reply.kind in ("positive", "intermediate", "transient", "permanent", "other")
    assert reply.enhanced is None or reply.enhanced.count(".") == 2
    ehlo_capabilities(reply)


line_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(200, 599), st.lists(line_text, min_size=1, max_size=6))
def test_as_text_round_trip(code: int, lines: list[str]) -> None:
    reply = Reply(code, tuple(lines))
    assert parse_reply(reply.as_text().split("\n")) == reply


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_decode_line_total(raw: bytes) -> None:
    text = decode_line(raw)
    assert not text.endswith(("\r", "\n"))
    with contextlib.suppress(MalformedReply):
        parse_line(text)


# -- SmtpClient over real sockets ----------------------------------------------------------------


class _Feeder:
    """A loopback server that sends each connection the next queued payload, then either
    closes or keeps the line open (hold=True)."""

    def __init__(self) -> None:
        self.payloads: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        payload, hold = await self.payloads.get()
        try:
            writer.write(payload)
            await writer.drain()
            if hold:
                await reader.read()  # until the client goes away
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> _Feeder:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def read(self, payload: bytes, hold: bool = False, timeout: float = 0.3) -> Reply:
        await self.payloads.put((payload, hold))
        client = await SmtpClient.connect("127.0.0.1", self.port, connect_timeout=2,
                                          timeout=timeout)
        try:
            return await client.read_reply()
        finally:
            await client.close()


async def test_client_reads_multiline_reply() -> None:
    async with _Feeder() as feeder:
        reply = await feeder.read(b"220-mx ESMTP\r\n220 hi\r\n")
    assert reply == Reply(220, ("mx ESMTP", "hi"))


@pytest.mark.parametrize(("payload", "hold", "error", "status"), [
    (b"", False, ConnectionClosed, Status.RESET),
    (b"220-partial\r\n", False, ConnectionClosed, Status.RESET),
    (b"220 no newline", True, ReplyTimeout, Status.TIMEOUT),
    (b"220-x\r\n" * (MAX_LINES + 5), True, ReplyTooLarge, Status.ERROR),
    (b"220 " + b"A" * (MAX_LINE + 10), True, ReplyTooLarge, Status.ERROR),
    (b"\x00\xff\xfe garbage\r\n", False, MalformedReply, Status.ERROR),
    (b"2\xc2\xb20 superscript\r\n", False, MalformedReply, Status.ERROR),
])
async def test_client_failures(payload: bytes, hold: bool, error: type, status: Status) -> None:
    async with _Feeder() as feeder:
        with pytest.raises(error) as info:
            await feeder.read(payload, hold)
    assert info.value.status is status


@pytest.mark.parametrize("error", [ConnectionAbortedError(103, "Software caused connection abort"),
                                   OSError(113, "No route to host"),
                                   TimeoutError(110, "Connection timed out")])
async def test_client_turns_any_lost_connection_into_a_wire_error(error: OSError) -> None:
    # The transport hands the reader whatever error ended the connection (connection_lost);
    # every one must come out as a SmtpWireError, which the probes turn into a result.
    async with _Feeder() as feeder:
        await feeder.payloads.put((b"220-first\r\n", True))
        client = await SmtpClient.connect("127.0.0.1", feeder.port, connect_timeout=2,
                                          timeout=2)
        try:
            client.reader.set_exception(error)
            with pytest.raises(ConnectionClosed) as info:
                await client.read_reply()
            assert info.value.status is Status.RESET
        finally:
            await client.close()


async def test_client_refuses_unsafe_arguments() -> None:
    async with _Feeder() as feeder:
        await feeder.payloads.put((b"220 hi\r\n", True))
        client = await SmtpClient.connect("127.0.0.1", feeder.port, connect_timeout=2,
                                          timeout=1)
        try:
            await client.read_reply()
            for bad in ("EHLO a\r\nRCPT TO:<x@y>", "EHLO a\nb", "EHLO \x00", "EHLO café"):
                with pytest.raises(UnsafeArgument):
                    await client.send(bad)
            assert [d for d, _ in client.transcript or []] == ["S"]  # nothing was sent
        finally:
            await client.close()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600))
async def test_client_on_arbitrary_bytes(payload: bytes) -> None:
    # Whatever a server sends, read_reply returns a Reply or raises a SmtpWireError.
    async with _Feeder() as feeder:
        try:
            reply = await feeder.read(payload, timeout=0.2)
        except SmtpWireError as exc:
            assert exc.status in (Status.ERROR, Status.RESET, Status.TIMEOUT)
        else:
            assert 200 <= reply.code <= 599
