"""The SMTP probe and grab_banner against the lab SMTP server (tui.lab.smtp) and lab DNS:
every preset identified, hostile behaviours, greet-pause, HELO fallback, PTR match,
implicit TLS, and `mxscope smtp` (text, JSON, exit codes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from click.testing import CliRunner
from test_fingerprint import LAB_EXPECTED  # one table of what each lab preset is

from tui.cli import main
from tui.config import Settings
from tui.lab.certs import LabCerts
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.lab.smtp import SmtpProfile, SmtpServer
from tui.probes import smtp
from tui.probes.base import Status
from tui.probes.target import parse_target

FAST = dict(connect_timeout=2.0, greeting_timeout=2.0, smtp_timeout=2.0, dns_timeout=1.0)


@contextlib.asynccontextmanager
async def lab(profile: SmtpProfile, host: str = "127.0.0.1",
              certs: LabCerts | None = None) -> AsyncIterator[SmtpServer]:
    async with SmtpServer(profile, host=host, port=0, certs=certs) as srv:
        yield srv


@contextlib.asynccontextmanager
async def dns(zone: Zone) -> AsyncIterator[DnsServer]:
    async with DnsServer(zone) as server:
        yield server


def settings_for(dns_server: DnsServer | None = None, **changes: object) -> Settings:
    # With no lab DNS, point at a dead loopback port: never the system resolver.
    ns = dns_server.nameserver if dns_server else "127.0.0.1:9"
    return Settings(nameservers=(ns,), **{**FAST, **changes})


def target(text: str = "127.0.0.1"):
    return parse_target(text)


async def settled(srv: SmtpServer, timeout: float = 3.0) -> None:
    """Wait until the lab has finished every session (grab_banner leaves right after QUIT,
    before the lab has read it)."""
    async with asyncio.timeout(timeout):
        while any(s.closed_by is None for s in srv.sessions):
            await asyncio.sleep(0.01)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- every preset -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(LAB_EXPECTED))
async def test_every_lab_preset_identified(key: str) -> None:
    profile = SmtpProfile(preset=key, postscreen_pause=0.2)
    async with lab(profile) as srv:
        result = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
        banner = await smtp.grab_banner("127.0.0.1", srv.port, connect_timeout=2,
                                        greeting_timeout=2, ehlo="probe.lab.test", help=True)
        await settled(srv)
    assert result.status is Status.OK and not result.rejected, result.message
    assert result.greeting_code == 220
    assert (result.mta.category, result.mta.product, result.mta.version) == LAB_EXPECTED[key]
    assert banner.outcome == "answered" and banner.code == 220
    assert banner.greeting == result.greeting
    got = smtp.identify(banner.greeting, banner.ehlo, banner.help)
    assert (got.category, got.product, got.version) == LAB_EXPECTED[key]
    # The dialogue: EHLO, HELP, QUIT, in that order, nothing before the greeting.
    session = srv.sessions[0]
    assert session.commands == ["EHLO mxscope.invalid", "HELP", "QUIT"]
    assert srv.sessions[1].commands == ["EHLO probe.lab.test", "HELP", "QUIT"]
    assert not any("before the greeting" in t for d, t in session.transcript if d == "*")


async def test_result_fields_for_postfix() -> None:
    with LabCerts() as certs:
        async with lab(SmtpProfile(preset="postfix", tls="good"), certs=certs) as srv:
            r = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
    assert r.greeting == ("220 mx1.lab.test ESMTP Postfix",)
    assert r.greeting_hostname == "mx1.lab.test"
    assert r.ehlo_code == 250 and r.ehlo[0] == "250-mx1.lab.test"
    caps = r.capabilities
    assert caps is not None
    assert caps.starttls and caps.pipelining and caps.eightbitmime and caps.smtputf8
    assert caps.chunking and caps.dsn and caps.enhancedstatuscodes and caps.vrfy and caps.etrn
    assert not caps.requiretls and not caps.binarymime and caps.auth == ()
    assert caps.size and caps.size_limit == 10240000
    assert caps.keywords[:3] == ("PIPELINING", "SIZE", "VRFY")
    assert r.help_code == 502 and not r.helo_fallback
    assert r.address == "127.0.0.1" and r.addresses == ("127.0.0.1",)
    assert r.ptr is None
    for step in (r.connect_ms, r.greeting_ms, r.ehlo_ms, r.help_ms):
        assert step is not None and step >= 0
    assert r.total_ms >= r.connect_ms
    assert r.transcript[0] == ("S", "220 mx1.lab.test ESMTP Postfix")
    assert ("C", "QUIT") in r.transcript


async def test_auth_mechanisms_and_size_without_number() -> None:
    with LabCerts() as certs:
        async with lab(SmtpProfile(preset="exchange-2003", tls="good"), certs=certs) as srv:
            r = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
    caps = r.capabilities
    assert caps is not None
    assert caps.auth == ("GSSAPI", "NTLM", "LOGIN")
    assert caps.size and caps.size_limit is None
    assert "X-EXPS" in caps.keywords and "XEXCH50" in caps.keywords


async def test_no_help_when_disabled() -> None:
    async with lab(SmtpProfile(preset="qmail")) as srv:
        r = await smtp.run(target(), settings_for(smtp_help=False), port=srv.port,
                           resolve_ptr=False)
        assert srv.sessions[0].commands == ["EHLO mxscope.invalid", "QUIT"]
    assert r.help == () and r.help_code is None
    # Without HELP, qmail's bare greeting names nothing.
    assert r.mta.category == "Unidentified"


# -- greet pause / postscreen ---------------------------------------------------------------------


async def test_waits_for_delayed_greeting_without_speaking() -> None:
    async with lab(SmtpProfile(preset="exim", greeting_delay=0.6)) as srv:
        r = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
        b = await smtp.grab_banner("127.0.0.1", srv.port, connect_timeout=2,
                                   greeting_timeout=2)
    assert r.status is Status.OK and r.greeting_code == 220, r.message
    assert b.outcome == "answered" and b.code == 220
    for session in srv.sessions:
        assert not any("before the greeting" in t for _d, t in session.transcript)


async def test_postscreen_multiline_greeting_is_awaited_whole() -> None:
    async with lab(SmtpProfile(preset="postscreen", postscreen_pause=0.5)) as srv:
        r = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
    assert r.status is Status.OK, r.message
    assert r.greeting == ("220-mx1.lab.test ESMTP Postfix", "220 mx1.lab.test ESMTP Postfix")
    assert srv.sessions[0].commands[0] == "EHLO mxscope.invalid"


# -- hostile servers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("hostile", "status", "rejected"), [
    ("silent", Status.TIMEOUT, False),
    ("drip", Status.TIMEOUT, False),
    ("huge-greeting", Status.ERROR, False),
    ("binary", Status.ERROR, False),
    ("endless-continuation", Status.ERROR, False),
    ("greet-421", Status.OK, True),
    ("greet-554", Status.OK, True),
    ("reset-mid", Status.RESET, False),
])
async def test_hostile_servers(hostile: str, status: Status, rejected: bool) -> None:
    profile = SmtpProfile(preset="postfix", hostile=hostile, drip_interval=0.05)
    quick = settings_for(greeting_timeout=0.6, smtp_timeout=0.6)
    async with lab(profile) as srv:
        r = await asyncio.wait_for(
            smtp.run(target(), quick, port=srv.port, resolve_ptr=False), 10)
        b = await asyncio.wait_for(
            smtp.grab_banner("127.0.0.1", srv.port, connect_timeout=1, greeting_timeout=0.6,
                             ehlo="probe.lab.test"), 10)
    assert r.status is status, r.message
    assert r.rejected is rejected
    assert r.message
    if rejected:
        code = int(hostile[-3:])
        assert r.greeting_code == code and r.ehlo == ()
        assert r.greeting_hostname == "mx1.lab.test"  # the enhanced code is skipped
        assert b.outcome == "answered" and b.code == code and b.rejected and b.ehlo == ()
        assert "EHLO" not in " ".join(srv.sessions[0].commands)
    elif hostile == "reset-mid":
        # The greeting and the identification survive the reset after EHLO.
        assert r.greeting_code == 220 and r.mta.category == "Postfix"
        assert r.message.startswith("EHLO")
        assert b.outcome == "answered" and b.ehlo_code is None and "EHLO" in b.message
    else:
        assert r.greeting_code is None
        expected = {"silent": "timeout", "drip": "timeout"}.get(hostile, "error")
        assert b.outcome == expected and b.code is None
        assert r.transcript == () or all(d == "S" for d, _ in r.transcript)  # never spoke
    if hostile == "drip":
        assert r.message.startswith("greeting: no complete greeting")


async def test_starttls_broken_is_only_noted() -> None:
    # The smtp probe does not STARTTLS: it reports the offer, the ports probe tries it.
    async with lab(SmtpProfile(preset="postfix", hostile="starttls-broken")) as srv:
        r = await smtp.run(target(), settings_for(), port=srv.port, resolve_ptr=False)
    assert r.status is Status.OK and r.capabilities and r.capabilities.starttls


async def test_refused() -> None:
    port = closed_port()
    r = await smtp.run(target(), settings_for(), port=port, resolve_ptr=False)
    b = await smtp.grab_banner("127.0.0.1", port, connect_timeout=1, greeting_timeout=1)
    assert r.status is Status.REFUSED and r.greeting_code is None
    assert r.connect_ms is None and r.mta.category == "Unidentified"
    assert b.outcome == "refused"


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    times out (on loopback, without any firewall)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connect_timeout() -> None:
    with unanswered_port() as port:
        await asyncio.sleep(0.05)  # let the fillers' handshakes land in the queue
        r = await smtp.run(target(), settings_for(connect_timeout=0.4), port=port,
                           resolve_ptr=False)
        b = await smtp.grab_banner("127.0.0.1", port, connect_timeout=0.4, greeting_timeout=1)
    assert r.status is Status.TIMEOUT and r.message.startswith("connect: no connection")
    assert b.outcome == "timeout" and b.connect_ms is None


@pytest.mark.parametrize(("ehlo", "help_", "quit_", "commands"), [
    (None, False, True, ["QUIT"]),
    (None, False, False, []),
    ("probe.lab.test", False, True, ["EHLO probe.lab.test", "QUIT"]),
    (None, True, True, ["HELP", "QUIT"]),
    ("probe.lab.test", True, False, ["EHLO probe.lab.test", "HELP"]),
])
async def test_grab_dialogue_ends_with_quit_when_asked(ehlo, help_, quit_, commands) -> None:
    # The last wanted reply ends the dialogue from inside the protocol: QUIT (or not)
    # exactly once, after everything asked for, and the result is complete.
    async with lab(SmtpProfile(preset="exim")) as srv:
        b = await smtp.grab_banner("127.0.0.1", srv.port, connect_timeout=2,
                                   greeting_timeout=2, ehlo=ehlo, help=help_, quit=quit_)
        await settled(srv)
    assert b.outcome == "answered" and b.code == 220 and b.message == ""
    assert (b.ehlo_code == 250) is (ehlo is not None) and bool(b.ehlo) is (ehlo is not None)
    assert (b.help_code is not None) is help_
    assert srv.sessions[0].commands == commands


async def test_replies_after_the_greeting_in_one_chunk_are_ignored() -> None:
    # A server that sends its greeting and more in one segment: the greeting counts, the
    # rest is not read as replies to commands never sent.
    async with scripted(b"220 a.lab.test ESMTP\r\n250 unasked\r\nnot smtp\r\n",
                        {"QUIT": b"221 bye\r\n"}) as (port, seen):
        b = await smtp.grab_banner("127.0.0.1", port, connect_timeout=2, greeting_timeout=2)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert (b.outcome, b.code, b.greeting, b.message) == ("answered", 220,
                                                          ("220 a.lab.test ESMTP",), "")
    assert seen == ["QUIT"]


def _live_grab_timers(loop: asyncio.AbstractEventLoop) -> list[object]:
    # The default loop's timer heap (private, but the only way to see a leaked handle).
    return [h for h in getattr(loop, "_scheduled", [])
            if not h.cancelled() and isinstance(getattr(h._callback, "__self__", None),
                                                smtp._Grab)]


async def test_greeting_slower_than_the_connect_timeout_is_still_awaited() -> None:
    # One timer serves every step: armed for the connect deadline, it must re-arm itself
    # for the (later) greeting deadline instead of ending the greeting wait early.
    async with lab(SmtpProfile(preset="exim", greeting_delay=0.5)) as srv:
        b = await smtp.grab_banner("127.0.0.1", srv.port, connect_timeout=0.2,
                                   greeting_timeout=2, ehlo="probe.lab.test", help=True)
        silent = SmtpProfile(preset="postfix", hostile="silent")
        async with lab(silent) as quiet:
            t = await smtp.grab_banner("127.0.0.1", quiet.port, connect_timeout=0.2,
                                       greeting_timeout=0.5)
    assert b.outcome == "answered" and b.code == 220 and b.ehlo_code == 250, b.message
    assert b.help_code is not None and b.message == ""
    assert t.outcome == "timeout" and t.message == "greeting: no complete reply in time"
    assert not _live_grab_timers(asyncio.get_running_loop())


async def test_cancelling_a_grab_is_not_a_timeout() -> None:
    # Someone else's cancel (a forced stop) or an outer deadline during the connect must
    # propagate, not be mistaken for grab_banner's own connect timeout.
    with unanswered_port() as port:
        await asyncio.sleep(0.05)
        task = asyncio.create_task(
            smtp.grab_banner("127.0.0.1", port, connect_timeout=5, greeting_timeout=1))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await smtp.grab_banner("127.0.0.1", port, connect_timeout=5, greeting_timeout=1)
        # And its own connect timeout inside a longer outer one is a result, not an error.
        async with asyncio.timeout(5):
            b = await smtp.grab_banner("127.0.0.1", port, connect_timeout=0.2,
                                       greeting_timeout=1)
        assert b.outcome == "timeout" and b.message.startswith("no connection within")
        assert asyncio.current_task().cancelling() == 0
    assert not _live_grab_timers(asyncio.get_running_loop())


async def test_close_before_greeting_is_reset() -> None:
    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await smtp.run(target(), settings_for(), port=port, resolve_ptr=False)
        b = await smtp.grab_banner("127.0.0.1", port, connect_timeout=1, greeting_timeout=1)
    finally:
        server.close()
        await server.wait_closed()
    assert r.status is Status.RESET
    assert "without a greeting" in r.message
    assert b.outcome == "reset"


# -- HELO fallback ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scripted(greeting: bytes, answers: dict[str, bytes]) -> AsyncIterator[tuple[int, list[str]]]:
    """A few lines of SMTP server for dialogues the lab has no preset for: fixed answer per
    verb; the connection ends after QUIT or an answer starting with 421."""
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        while line := await reader.readline():
            text = line.decode().strip()
            seen.append(text)
            answer = answers[text.split(" ")[0].upper()]
            writer.write(answer)
            if text.upper() == "QUIT" or answer.startswith(b"421"):
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def test_helo_fallback_when_ehlo_refused() -> None:
    # An old MTA that knows only RFC 821: 502 to EHLO.
    answers = {"EHLO": b"502 command not implemented\r\n", "HELO": b"250 old.lab.test Hello\r\n",
               "HELP": b"214 no help\r\n", "QUIT": b"221 bye\r\n"}
    async with scripted(b"220 old.lab.test SMTP Smail3.2.0.115 ready\r\n", answers) as (port, seen):
        r = await smtp.run(target(), settings_for(), port=port, resolve_ptr=False)
    assert r.status is Status.OK, r.message
    assert r.helo_fallback and r.ehlo_code == 250 and r.capabilities is None
    assert r.ehlo == ("250 old.lab.test Hello",)
    assert seen == ["EHLO mxscope.invalid", "HELO mxscope.invalid", "HELP", "QUIT"]
    assert (r.mta.product, r.mta.version) == ("Smail", "3.2.0.115")


async def test_ehlo_answered_421_ends_the_dialogue() -> None:
    answers = {"EHLO": b"421 4.7.0 mx.lab.test too busy, try later\r\n"}
    async with scripted(b"220 mx.lab.test ESMTP Exim 4.97\r\n", answers) as (port, seen):
        r = await smtp.run(target(), settings_for(), port=port, resolve_ptr=False)
    assert r.status is Status.OK and not r.rejected
    assert r.ehlo_code == 421 and not r.helo_fallback
    assert r.message.startswith("EHLO refused: 421")
    assert seen[0] == "EHLO mxscope.invalid" and "HELP" not in seen


# -- PTR / greeting name --------------------------------------------------------------------------


async def test_ptr_matches_greeting_name() -> None:
    zone = Zone().add_host("mx1.lab.test", "127.0.0.31")
    async with dns(zone) as ns, lab(SmtpProfile(preset="postfix"), host="127.0.0.31") as srv:
        r = await smtp.run(target("127.0.0.31"), settings_for(ns), port=srv.port)
    assert r.ptr is not None
    assert r.ptr.names == ("mx1.lab.test",)
    assert r.ptr.fcrdns and r.ptr.outcome == "confirmed"
    assert r.ptr.greeting_name == "mx1.lab.test" and r.ptr.greeting_matches is True
    assert "31.0.0.127.in-addr.arpa" in {q for q, _t, _tr in ns.log}


async def test_ptr_does_not_match_greeting_name() -> None:
    zone = Zone().add_host("other.lab.test", "127.0.0.32")
    async with dns(zone) as ns, lab(SmtpProfile(preset="exim"), host="127.0.0.32") as srv:
        r = await smtp.run(target("127.0.0.32"), settings_for(ns), port=srv.port)
    assert r.ptr is not None
    assert r.ptr.names == ("other.lab.test",) and r.ptr.fcrdns
    assert r.ptr.greeting_matches is False
    assert "not among the PTR names" in r.ptr.message


async def test_no_ptr_record() -> None:
    async with dns(Zone()) as ns, lab(SmtpProfile(preset="exim"), host="127.0.0.33") as srv:
        r = await smtp.run(target("127.0.0.33"), settings_for(ns), port=srv.port)
    assert r.status is Status.OK
    assert r.ptr is not None
    assert r.ptr.outcome == "no_ptr" and r.ptr.names == () and not r.ptr.fcrdns
    assert r.ptr.greeting_matches is None


# -- host-name targets ----------------------------------------------------------------------------


async def test_hostname_target_uses_first_address() -> None:
    # A before AAAA: IPv4 is tried first (an rrset has no order, so one record per type).
    zone = Zone().add_host("mx.lab.test", "127.0.0.34").add("mx.lab.test", "AAAA", "::1")
    async with dns(zone) as ns, lab(SmtpProfile(preset="sendmail"), host="127.0.0.34") as srv:
        r = await smtp.run(target("mx.lab.test"), settings_for(ns), port=srv.port)
    assert r.status is Status.OK, r.message
    assert r.address == "127.0.0.34"
    assert r.addresses == ("127.0.0.34", "::1")
    assert "first of 2 addresses of mx.lab.test" in r.message
    assert r.resolve_ms is not None


async def test_hostname_that_does_not_resolve() -> None:
    async with dns(Zone().add("lab.test", "TXT", "zone apex")) as ns:
        r = await smtp.run(target("nowhere.lab.test"), settings_for(ns), port=closed_port())
    assert r.status is Status.NXDOMAIN
    assert r.address is None and r.greeting_code is None and r.transcript == ()


# -- implicit TLS -----------------------------------------------------------------------------------


async def test_implicit_tls() -> None:
    with LabCerts() as certs:
        profile = SmtpProfile(preset="exim", implicit_tls=True, tls="self-signed")
        async with lab(profile, certs=certs) as srv:
            r = await smtp.run(target(), settings_for(), port=srv.port, implicit_tls=True,
                               resolve_ptr=False)
            plain = await smtp.run(target(), settings_for(greeting_timeout=0.5), port=srv.port,
                                   resolve_ptr=False)
    assert r.status is Status.OK, r.message
    assert r.tls_version is not None and r.tls_version.startswith("TLS")
    assert r.mta.category == "Exim"
    # Plain text to a TLS port: no greeting arrives.
    assert plain.status is not Status.OK and plain.greeting_code is None


# -- input checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "ok"), [
    ("mx.example.com", "mx.example.com"),
    ("MX.Example.COM.", "mx.example.com"),
    ("[192.0.2.1]", "[192.0.2.1]"),
    ("[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"),
    ("a\r\nMAIL FROM:<x@y>", None),
    ("two words", None),
    ("", None),
    ("[300.1.1.1]", None),
    ("bad_label-.example", None),
])
def test_check_helo_name(name: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(ValueError):
            smtp.check_helo_name(name)
    else:
        assert smtp.check_helo_name(name) == ok


async def test_bad_helo_setting_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        await smtp.run(target(), settings_for(helo_name="x\r\nRSET"), port=25)
    with pytest.raises(ValueError):
        await smtp.grab_banner("127.0.0.1", 25, connect_timeout=1, greeting_timeout=1,
                               ehlo="x\r\nRSET")


async def test_helo_setting_is_sent_in_its_checked_form() -> None:
    # An IDN setting passes check_helo_name; what goes on the wire is its A-label form
    # (the raw name would be refused as non-ASCII mid-dialogue and escape the probe).
    async with lab(SmtpProfile(preset="exim")) as srv:
        r = await smtp.run(target(), settings_for(helo_name="Bücher.Lab.Test.", smtp_help=False),
                           port=srv.port, resolve_ptr=False)
        await settled(srv)
    assert r.status is Status.OK and r.ehlo_code == 250, r.message
    assert srv.sessions[0].commands == ["EHLO xn--bcher-kva.lab.test", "QUIT"]


# -- CLI --------------------------------------------------------------------------------------------


@pytest.fixture
def lab_thread() -> Iterator[LabThread]:
    with LabThread() as thread:
        yield thread


def _invoke(*args: str):
    return CliRunner().invoke(main, ["smtp", *args])


def test_cli_text(lab_thread: LabThread) -> None:
    zone = Zone().add_host("mx1.lab.test", "127.0.0.41")
    ns = lab_thread.start(DnsServer(zone))
    srv = lab_thread.start(SmtpServer(SmtpProfile(preset="postfix-debian"), host="127.0.0.41"))
    result = _invoke("127.0.0.41", "--port", str(srv.port), "--nameserver", ns.nameserver)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "220 mx1.lab.test ESMTP Postfix (Debian/GNU)" in out
    assert "Postfix  [Postfix; rule postfix-debian" in out
    assert "FCrDNS ok" in out and "is a PTR name" in out
    assert "→ EHLO mxscope.invalid" in out


def test_cli_json(lab_thread: LabThread) -> None:
    srv = lab_thread.start(SmtpServer(SmtpProfile(preset="exim")))
    result = _invoke("127.0.0.1", "--port", str(srv.port), "--no-ptr", "--no-help",
                     "--helo", "client.lab.test", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "ok" and data["rejected"] is False
    assert data["mta"]["category"] == "Exim" and data["mta"]["version"] == "4.97"
    assert data["capabilities"]["size_limit"] == 52428800
    assert data["help"] == [] and data["ptr"] is None
    assert srv.sessions[0].commands == ["EHLO client.lab.test", "QUIT"]
    assert set(data) == {
        "target", "address", "addresses", "port", "implicit_tls", "status", "rejected",
        "message", "greeting_code", "greeting", "greeting_hostname", "ehlo_code", "ehlo",
        "helo_fallback", "capabilities", "help_code", "help", "tls_version", "tls_cipher",
        "ptr", "mta", "resolve_ms", "connect_ms", "greeting_ms", "ehlo_ms", "help_ms",
        "total_ms", "transcript",
    }


def test_cli_rejected_greeting_exits_3(lab_thread: LabThread) -> None:
    srv = lab_thread.start(SmtpServer(SmtpProfile(preset="postfix", hostile="greet-554")))
    result = _invoke("127.0.0.1", "--port", str(srv.port), "--no-ptr")
    assert result.exit_code == 3, result.output
    assert "greeting rejected: 554" in result.output


def test_cli_no_answer_exits_1(lab_thread: LabThread) -> None:
    srv = lab_thread.start(SmtpServer(SmtpProfile(preset="postfix", hostile="silent")))
    result = _invoke("127.0.0.1", "--port", str(srv.port), "--no-ptr",
                     "--greeting-timeout", "0.3", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["status"] == "timeout"
    refused = _invoke("127.0.0.1", "--port", str(closed_port()), "--no-ptr")
    assert refused.exit_code == 1
    assert "refused" in refused.output


@pytest.mark.parametrize("args", [
    ["not a host"],
    ["127.0.0.1", "--helo", "x\r\nRSET"],
    ["127.0.0.1", "--helo", "two words"],
    ["127.0.0.1", "--port", "0"],
    ["127.0.0.1", "--nameserver", "not-an-ip"],
])
def test_cli_bad_input_exits_2_and_sends_nothing(lab_thread: LabThread, args: list[str]) -> None:
    srv = lab_thread.start(SmtpServer(SmtpProfile(preset="postfix")))
    if args[0] == "127.0.0.1" and "--port" not in args:
        args = [*args, "--port", str(srv.port)]
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert srv.sessions == []
