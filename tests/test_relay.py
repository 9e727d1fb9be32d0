"""The relay probe and `mxscope relay` against the lab SMTP server: every relay policy's
verdict and per-variant outcomes, proof from the lab's session record that no DATA/BDAT
was sent (RSET before each variant, QUIT at the end), IPv6 literals, TLS, hostile servers,
dialogues that break mid-way, bad input (nothing sent) and the CLI's text/JSON/exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import Settings
from tui.lab.certs import LabCerts
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.lab.smtp import PRESETS, Session, SmtpProfile, SmtpServer
from tui.probes import relay
from tui.probes.address import AddressError
from tui.probes.base import Status
from tui.probes.relay import Outcome, Verdict
from tui.probes.smtpwire import Reply
from tui.probes.target import parse_target

OC = Outcome
RELAY_IDS = (
    "null-sender", "ext-sender", "sender-host", "sender-ip",
    "percent-ip", "percent-host", "quoted-at", "quoted-percent", "double-at-ip",
    "quoted-at-ip", "double-at-host", "route-ip", "route-host", "bang", "bang-ip", "bang-host",
)
CONTROL_IDS = ("local-unknown", "invalid-domain")

# policy -> (verdict, accepted relay ids, control outcomes, outcome of the other relay ids)
POLICIES: dict[str, tuple[Verdict, tuple[str, ...], tuple[Outcome, Outcome], Outcome]] = {
    "closed": (Verdict.CLOSED, (), (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "open": (Verdict.OPEN_RELAY, RELAY_IDS, (OC.ACCEPTED, OC.REJECTED), OC.ACCEPTED),
    "percent-hack": (Verdict.OPEN_RELAY, ("percent-ip", "percent-host"),
                     (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "bang-path": (Verdict.OPEN_RELAY, ("bang", "bang-ip", "bang-host"),
                  (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "quoted": (Verdict.OPEN_RELAY, ("quoted-at", "quoted-percent", "quoted-at-ip"),
               (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "source-route": (Verdict.OPEN_RELAY, ("route-ip", "route-host"),
                     (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "multi-at": (Verdict.OPEN_RELAY, ("double-at-ip", "double-at-host"),
                 (OC.ACCEPTED, OC.REJECTED), OC.REJECTED),
    "greylist": (Verdict.INCONCLUSIVE, (), (OC.DEFERRED, OC.DEFERRED), OC.DEFERRED),
    "auth-required": (Verdict.AUTH_REQUIRED, (), (OC.AUTH_REQUIRED, OC.AUTH_REQUIRED),
                      OC.AUTH_REQUIRED),
    "catch-all": (Verdict.INCONCLUSIVE, RELAY_IDS, (OC.ACCEPTED, OC.ACCEPTED), OC.ACCEPTED),
    "postfix-default": (Verdict.CLOSED, (), (OC.ACCEPTED, OC.RELAY_DENIED_TEMPORARY),
                        OC.RELAY_DENIED_TEMPORARY),
}


def settings(**changes: object) -> Settings:
    # Lab nameserver on a dead port: nothing may fall back to the system resolver.
    base = Settings(nameservers=("127.0.0.1:9",), dns_timeout=0.5, connect_timeout=2.0,
                    greeting_timeout=2.0, smtp_timeout=2.0)
    return base.replace(**changes)


@contextlib.asynccontextmanager
async def lab(host: str = "127.0.0.1", certs: LabCerts | None = None,
              **profile: object) -> AsyncIterator[SmtpServer]:
    async with SmtpServer(SmtpProfile(**profile), host=host, port=0, certs=certs) as srv:
        yield srv


def assert_clean_dialogue(session: Session, result: relay.RelayResult) -> None:
    """No DATA/BDAT, RSET before every MAIL, MAIL before every RCPT, QUIT last."""
    cmds = [c.upper() for c in session.commands]
    assert not session.data_seen
    assert not any(c.startswith(("DATA", "BDAT")) for c in cmds)
    assert cmds[0].startswith("EHLO ")
    for i, c in enumerate(cmds):
        if c.startswith("MAIL FROM:"):
            assert cmds[i - 1] == "RSET"
        if c.startswith("RCPT TO:"):
            assert cmds[i - 1].startswith("MAIL FROM:")
    tried = [v for v in result.variants if v.outcome is not OC.NOT_TRIED]
    assert cmds.count("RSET") == len(tried)
    assert cmds[-1] == "QUIT"
    assert session.closed_by == "client"
    assert result.commands_sent == len(session.commands) <= relay.MAX_COMMANDS
    # What the lab received is exactly what the result says was sent.
    for v in tried:
        assert f"MAIL FROM:{v.mail_from}" in session.commands
        if v.stage == "rcpt":
            assert f"RCPT TO:{v.rcpt_to}" in session.commands


# -- every relay policy ---------------------------------------------------------------------


@pytest.mark.parametrize("policy", sorted(POLICIES))
async def test_relay_policy_verdicts_and_outcomes(policy: str) -> None:
    verdict, accepted, controls, others = POLICIES[policy]
    streamed: list[relay.VariantResult] = []
    async with lab(relay=policy) as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                 on_variant=streamed.append)
        session = srv.sessions[0]
    assert result.status is Status.OK, result.message
    assert result.verdict is verdict, result.message
    assert result.accepted == accepted
    assert result.accepts_all is (policy == "catch-all")
    outcomes = {v.id: v.outcome for v in result.variants}
    assert tuple(outcomes) == CONTROL_IDS + RELAY_IDS
    assert (outcomes["local-unknown"], outcomes["invalid-domain"]) == controls
    for vid in RELAY_IDS:
        assert outcomes[vid] is (OC.ACCEPTED if vid in accepted else others), vid
    assert streamed == list(result.variants)
    assert all(v.stage == "rcpt" and v.code is not None for v in result.variants)
    assert_clean_dialogue(session, result)
    assert result.server_name == "mx1.lab.test"


def test_policy_table_covers_every_lab_policy() -> None:
    from tui.lab.smtp import RELAY_POLICIES

    assert set(POLICIES) == set(RELAY_POLICIES)


async def test_catch_all_message_explains_accept_then_bounce() -> None:
    async with lab(relay="catch-all") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
    assert "accept-then-bounce" in result.message
    assert "without DATA" in result.message


async def test_greylist_says_retry_later() -> None:
    async with lab(relay="greylist") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
    assert "retry later" in result.message


async def test_built_forms_on_the_wire() -> None:
    async with lab(relay="closed") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                 mail_from="probe@sender.example", rcpt_to="joe@far.example")
        cmds = srv.sessions[0].commands
    by_id = {v.id: v for v in result.variants}
    expected = {
        "null-sender": ("<>", "<joe@far.example>"),
        "ext-sender": ("<probe@sender.example>", "<joe@far.example>"),
        "sender-host": ("<probe@mx1.lab.test>", "<joe@far.example>"),
        "sender-ip": ("<probe@[127.0.0.1]>", "<joe@far.example>"),
        "percent-ip": ("<probe@sender.example>", "<joe%far.example@[127.0.0.1]>"),
        "percent-host": ("<probe@sender.example>", "<joe%far.example@mx1.lab.test>"),
        "quoted-at": ("<probe@sender.example>", '<"joe@far.example">'),
        "quoted-percent": ("<probe@sender.example>", '<"joe%far.example">'),
        "double-at-ip": ("<probe@sender.example>", "<joe@far.example@[127.0.0.1]>"),
        "quoted-at-ip": ("<probe@sender.example>", '<"joe@far.example"@[127.0.0.1]>'),
        "double-at-host": ("<probe@sender.example>", "<joe@far.example@mx1.lab.test>"),
        "route-ip": ("<probe@sender.example>", "<@[127.0.0.1]:joe@far.example>"),
        "route-host": ("<probe@sender.example>", "<@mx1.lab.test:joe@far.example>"),
        "bang": ("<probe@sender.example>", "<far.example!joe>"),
        "bang-ip": ("<probe@sender.example>", "<far.example!joe@[127.0.0.1]>"),
        "bang-host": ("<probe@sender.example>", "<far.example!joe@mx1.lab.test>"),
    }
    for vid, (mail, rcpt) in expected.items():
        assert (by_id[vid].mail_from, by_id[vid].rcpt_to) == (mail, rcpt)
        assert f"RCPT TO:{rcpt}" in cmds
    assert by_id["local-unknown"].rcpt_to.endswith("@mx1.lab.test>")
    assert by_id["invalid-domain"].rcpt_to.startswith("<joe@")
    assert by_id["invalid-domain"].rcpt_to.endswith(".invalid>")
    assert result.mail_from == "<probe@sender.example>"
    assert result.rcpt_to == "<joe@far.example>"


@pytest.mark.parametrize("preset", sorted(PRESETS))
async def test_closed_servers_of_every_preset(preset: str) -> None:
    """Real refusal texts: 550/553/554 refuse; MailEnable's 503 'requires authentication'."""
    profile: dict[str, object] = {"preset": preset, "relay": "closed"}
    if preset == "postscreen":
        profile["postscreen_pause"] = 0.3
    async with lab(**profile) as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
        session = srv.sessions[0]
    want = Verdict.AUTH_REQUIRED if preset == "mailenable" else Verdict.CLOSED
    assert result.verdict is want, (preset, result.message)
    assert result.accepted == ()
    assert_clean_dialogue(session, result)


async def test_postscreen_greeting_is_waited_for() -> None:
    """Speaking before the final 220 line would get us dropped; we never do."""
    async with lab(preset="postscreen", postscreen_pause=0.5) as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
        transcript = srv.sessions[0].transcript
    assert result.status is Status.OK
    assert result.verdict is Verdict.CLOSED
    assert not any("before the greeting" in line for _d, line in transcript)


async def test_greet_pause_is_respected() -> None:
    async with lab(greeting_delay=0.5) as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
    assert result.status is Status.OK
    assert result.verdict is Verdict.CLOSED


async def test_variants_stream_while_the_dialogue_runs() -> None:
    seen: list[int] = []
    async with lab(relay="closed") as srv:
        def on_variant(v: relay.VariantResult) -> None:
            seen.append(len(srv.sessions[0].commands))

        await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                        on_variant=on_variant)
        total = len(srv.sessions[0].commands)
    assert len(seen) == len(CONTROL_IDS + RELAY_IDS)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[0] < total // 2  # the first variant was reported long before the end


# -- IPv6, hostnames, TLS --------------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_ipv6_gets_ipv6_literal_variants() -> None:
    async with lab(host="::1", relay="percent-hack") as srv:
        result = await relay.run(parse_target("::1"), settings(), port=srv.port)
        session = srv.sessions[0]
    assert result.address == "::1"
    by_id = {v.id: v for v in result.variants}
    assert by_id["percent-ip"].rcpt_to == "<mxscope-relay-test%example.net@[IPv6:::1]>"
    assert by_id["sender-ip"].mail_from == "<mxscope-relay-test@[IPv6:::1]>"
    for vid in ("route-ip", "bang-ip", "double-at-ip", "quoted-at-ip"):
        assert "[IPv6:::1]" in by_id[vid].rcpt_to
    assert not any("[127.0.0.1]" in c for c in session.commands)
    assert result.verdict is Verdict.OPEN_RELAY
    assert result.accepted == ("percent-ip", "percent-host")
    assert_clean_dialogue(session, result)


async def test_hostname_target_resolved_through_the_lab_dns() -> None:
    zone = Zone().add_host("mx.relay.test", "127.0.0.1")
    async with DnsServer(zone) as dns, lab(relay="percent-hack", hostname="localhost") as srv:
        result = await relay.run(parse_target("mx.relay.test"),
                                 settings(nameservers=(dns.nameserver,)), port=srv.port)
    assert result.address == "127.0.0.1"
    # The greeting names no dotted host, so host forms use the target's own name.
    assert result.server_name is None
    by_id = {v.id: v for v in result.variants}
    assert by_id["percent-host"].rcpt_to.endswith("@mx.relay.test>")
    # The lab knows itself as localhost, not mx.relay.test: only the literal form relays.
    assert result.accepted == ("percent-ip",)


async def test_unresolvable_hostname_sends_nothing() -> None:
    async with DnsServer(Zone()) as dns:
        result = await relay.run(parse_target("nowhere.relay.test"),
                                 settings(nameservers=(dns.nameserver,)))
    assert result.status is Status.NXDOMAIN
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.variants == () and result.commands_sent == 0
    assert "cannot resolve" in result.message


async def test_starttls_used_when_offered() -> None:
    certs = LabCerts()
    try:
        async with lab(relay="bang-path", tls="self-signed", certs=certs) as srv:
            result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port)
            session = srv.sessions[0]
    finally:
        certs.close()
    assert result.starttls == "used"
    assert result.tls_version is not None and result.tls_version.startswith("TLS")
    assert session.tls
    assert session.commands[:3] == ["EHLO mxscope.invalid", "STARTTLS", "EHLO mxscope.invalid"]
    assert result.verdict is Verdict.OPEN_RELAY
    assert_clean_dialogue(session, result)


async def test_implicit_tls() -> None:
    certs = LabCerts()
    try:
        async with lab(relay="closed", implicit_tls=True, certs=certs) as srv:
            result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                     implicit_tls=True)
            session = srv.sessions[0]
    finally:
        certs.close()
    assert result.status is Status.OK, result.message
    assert result.implicit_tls and result.starttls == "skipped"
    assert result.tls_version is not None
    assert result.verdict is Verdict.CLOSED
    assert_clean_dialogue(session, result)


async def test_starttls_can_be_turned_off() -> None:
    certs = LabCerts()
    try:
        async with lab(relay="closed", tls="good", certs=certs) as srv:
            result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                     starttls=False)
            session = srv.sessions[0]
    finally:
        certs.close()
    assert result.starttls == "skipped" and not session.tls
    assert "STARTTLS" not in session.commands


# -- hostile servers and broken dialogues ----------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "status", "text"),
    [
        ("silent", Status.TIMEOUT, "no complete reply"),
        ("greet-421", Status.ERROR, "421"),
        ("greet-554", Status.ERROR, "554"),
        ("reset-mid", Status.RESET, "dropped"),
        ("binary", Status.ERROR, ""),
        ("huge-greeting", Status.ERROR, "longer than"),
        ("endless-continuation", Status.ERROR, "lines"),
        ("drip", Status.TIMEOUT, "no complete reply"),
        ("starttls-broken", (Status.ERROR, Status.RESET), "STARTTLS failed"),
    ],
)
async def test_hostile_servers_end_inconclusive(
    hostile: str, status: Status | tuple[Status, ...], text: str
) -> None:
    async with lab(hostile=hostile, drip_interval=0.1) as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(greeting_timeout=1.0),
                                 port=srv.port)
        session = srv.sessions[0]
    assert result.verdict is Verdict.INCONCLUSIVE
    wanted = status if isinstance(status, tuple) else (status,)
    assert result.status in wanted, result.message
    assert text in result.message
    assert result.accepted == ()
    assert not any(c.upper().startswith(("MAIL", "RCPT", "DATA", "BDAT"))
                   for c in session.commands)
    if hostile == "starttls-broken":
        assert result.starttls == "failed"


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port)
    assert result.status is Status.REFUSED
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.variants == ()


Answer = bytes | str | None | tuple[float, bytes]


@contextlib.asynccontextmanager
async def scripted(answer: Callable[[str, int], Answer]) -> AsyncIterator[tuple[int, list[str]]]:
    """A tiny SMTP server for what the lab cannot do: answer(line, n) gives the reply bytes
    for the n-th command, (delay, bytes) to answer late, None to stay silent, "close" to
    hang up."""
    received: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            writer.write(b"220 scripted.lab.test ESMTP\r\n")
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                received.append(text)
                reply = answer(text, len(received))
                if reply == "close":
                    break
                if reply is None:
                    await reader.read()  # silent until the client leaves
                    break
                if isinstance(reply, tuple):
                    await asyncio.sleep(reply[0])
                    reply = reply[1]
                assert isinstance(reply, bytes)
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def accept_until(n_rcpt: int, then: str | None) -> Callable[[str, int], Answer]:
    """Accept everything (250) for n_rcpt RCPTs, then do ``then`` at the next RCPT."""
    count = [0]

    def answer(line: str, _n: int) -> Answer:
        if line.upper().startswith("RCPT"):
            count[0] += 1
            if line.endswith(".invalid>"):  # a server that checks the destination exists
                return b"550 5.1.2 Domain not found\r\n"
            if count[0] > n_rcpt:
                if then == "421":
                    return b"421 4.7.0 scripted.lab.test Error: too many errors\r\n"
                return then
        if line.upper().startswith("EHLO"):
            return b"250-scripted.lab.test\r\n250 PIPELINING\r\n"
        return b"250 ok\r\n"

    return answer


async def test_drop_mid_way_keeps_done_variants_and_reports_the_rest_not_tried() -> None:
    async with scripted(accept_until(4, "close")) as (port, received):
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port)
    outcomes = [v.outcome for v in result.variants]
    # the 2 controls, then null-sender and ext-sender
    assert outcomes[:4] == [OC.ACCEPTED, OC.REJECTED, OC.ACCEPTED, OC.ACCEPTED]
    assert outcomes[4] is OC.ERROR
    assert set(outcomes[5:]) == {OC.NOT_TRIED}
    assert len(result.variants) == len(CONTROL_IDS + RELAY_IDS)
    assert result.status is Status.RESET
    # Two relay forms were accepted before the drop: that finding stands.
    assert result.verdict is Verdict.OPEN_RELAY
    assert result.accepted == ("null-sender", "ext-sender")
    assert "stopped early" in result.message
    assert not any(c.upper().startswith("DATA") for c in received)


async def test_timeout_mid_way_is_inconclusive() -> None:
    async with scripted(accept_until(0, None)) as (port, received):  # silent at RCPT 1
        result = await relay.run(parse_target("127.0.0.1"), settings(smtp_timeout=0.5),
                                 port=port)
    assert result.status is Status.TIMEOUT
    assert result.variants[0].outcome is OC.TIMEOUT
    assert {v.outcome for v in result.variants[1:]} == {OC.NOT_TRIED}
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "QUIT" not in received  # not into a silent connection


async def test_421_mid_way_stops_and_quits() -> None:
    async with scripted(accept_until(2, "421")) as (port, received):
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port)
    assert [v.outcome for v in result.variants[:2]] == [OC.ACCEPTED, OC.REJECTED]
    assert result.variants[2].outcome is OC.DEFERRED and result.variants[2].code == 421
    assert {v.outcome for v in result.variants[3:]} == {OC.NOT_TRIED}
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "closed the session" in result.message
    assert received.count("RSET") == 3
    assert received[-1] == "QUIT"


async def test_overall_deadline_bounds_a_tarpit() -> None:
    """A server that answers every command slowly cannot keep the test running for long."""

    def answer(line: str, _n: int) -> tuple[float, bytes]:
        return 0.1, b"250 ok\r\n"  # a tarpit: every reply 0.1 s late

    async with scripted(answer) as (port, received):
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port,
                                 deadline=0.6)
    assert result.status is Status.TIMEOUT
    assert "overall time budget" in result.message
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.variants[-1].outcome is OC.NOT_TRIED
    assert not any(c.upper().startswith("DATA") for c in received)


async def test_all_senders_refused_is_inconclusive() -> None:
    def answer(line: str, _n: int) -> bytes:
        if line.upper().startswith("MAIL"):
            return b"550 5.7.1 sender rejected by policy\r\n"
        return b"250 ok\r\n"

    async with scripted(answer) as (port, received):
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port)
    assert all(v.stage == "mail" and v.outcome is OC.REJECTED for v in result.variants)
    assert not any(c.upper().startswith("RCPT") for c in received)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "--mail-from" in result.message
    assert received[-1] == "QUIT"


async def test_helo_fallback_when_ehlo_is_refused() -> None:
    def answer(line: str, _n: int) -> bytes:
        if line.upper().startswith("EHLO"):
            return b"500 5.5.1 command unrecognized\r\n"
        if line.upper().startswith("RCPT"):
            return b"554 5.7.1 Relaying denied\r\n"
        return b"250 ok\r\n"

    async with scripted(answer) as (port, received):
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=port)
    assert received[:2] == ["EHLO mxscope.invalid", "HELO mxscope.invalid"]
    assert not result.esmtp
    assert result.verdict is Verdict.CLOSED


# -- input validation: nothing is sent --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"mail_from": "a@example.com\r\nDATA"}, "sender.*CR/LF"),
        ({"rcpt_to": "joe@far.example\nRCPT TO:<x@y.example>"}, "recipient.*CR/LF"),
        ({"rcpt_to": "joe doe@far.example"}, "recipient.*white space"),
        ({"rcpt_to": "<>"}, "recipient.*null address"),
        ({"rcpt_to": '"joe"@far.example'}, "unquoted local part"),
        ({"rcpt_to": "joe@[192.0.2.1]"}, "not an address literal"),
        ({"mail_from": "no-at-sign"}, "sender.*no '@domain'"),
        ({"helo": "bad name"}, "HELO name"),
        ({"helo": "x\r\nMAIL FROM:<>"}, "HELO name.*CR/LF"),
    ],
)
async def test_bad_input_raises_before_connecting(kwargs: dict[str, str], reason: str) -> None:
    async with lab(relay="open") as srv:
        with pytest.raises(AddressError, match=reason):
            await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port, **kwargs)
        await asyncio.sleep(0.05)
        assert srv.sessions == []


async def test_bad_settings_address_raises_before_connecting() -> None:
    async with lab(relay="open") as srv:
        with pytest.raises(AddressError, match="sender"):
            await relay.run(parse_target("127.0.0.1"),
                            settings(relay_mail_from="x@y.example\r\nDATA"), port=srv.port)
        assert srv.sessions == []


async def test_non_ascii_needs_smtputf8() -> None:
    # exim preset: no SMTPUTF8 -> EHLO then QUIT, no MAIL.
    async with lab(preset="exim", relay="bang-path") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                 rcpt_to="jöe@far.example")
        cmds = srv.sessions[0].commands
    assert result.status is Status.ERROR and "SMTPUTF8" in result.message
    assert result.verdict is Verdict.INCONCLUSIVE
    assert [c.split()[0] for c in cmds] == ["EHLO", "QUIT"]
    # postfix preset offers SMTPUTF8: the parameter goes on MAIL FROM.
    async with lab(preset="postfix", relay="bang-path") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(), port=srv.port,
                                 rcpt_to="jöe@far.example")
        cmds = srv.sessions[0].commands
    assert result.verdict is Verdict.OPEN_RELAY
    assert "MAIL FROM:<mxscope-relay-test@example.com> SMTPUTF8" in cmds
    assert "RCPT TO:<jöe@far.example>" in cmds
    assert "RCPT TO:<far.example!jöe@mx1.lab.test>" in cmds


async def test_port_defaults_to_settings_smtp_port() -> None:
    async with lab(relay="closed") as srv:
        result = await relay.run(parse_target("127.0.0.1"), settings(smtp_port=srv.port))
    assert result.port == srv.port and result.verdict is Verdict.CLOSED


def test_bad_port_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="TCP port"):
        asyncio.run(relay.run(parse_target("127.0.0.1"), settings(), port=0))


# -- pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "outcome"),
    [
        (250, "2.1.5 Ok", OC.ACCEPTED),
        (251, "User not local; will forward", OC.ACCEPTED),
        (554, "5.7.1 <x@y>: Relay access denied", OC.REJECTED),
        (550, "5.7.1 Unable to relay", OC.REJECTED),
        (454, "4.7.1 <x@y>: Relay access denied", OC.RELAY_DENIED_TEMPORARY),
        (450, "4.7.1 Relaying not permitted, try again later", OC.RELAY_DENIED_TEMPORARY),
        (451, "4.7.1 <x@y>: Recipient address rejected: Greylisted, please try again later",
         OC.DEFERRED),
        (450, "4.2.0 <x@y>: Recipient address rejected: Greylisted, see http://postgrey/",
         OC.DEFERRED),
        (421, "4.7.0 too many errors", OC.DEFERRED),
        (530, "5.7.0 Authentication required", OC.AUTH_REQUIRED),
        (530, "5.7.1 Client was not authenticated", OC.AUTH_REQUIRED),
        (550, "5.7.1 SMTP AUTH is required for relaying", OC.AUTH_REQUIRED),
        (503, "This mail server requires authentication when attempting to send to a "
              "non-local e-mail address.", OC.AUTH_REQUIRED),
        (454, "4.7.0 Authentication required, try again", OC.AUTH_REQUIRED),
        (354, "go ahead", OC.ERROR),
    ],
)
def test_classify(code: int, text: str, outcome: Outcome) -> None:
    assert relay.classify(Reply(code, (text,))) is outcome


def _v(vid: str, kind: str, outcome: Outcome, stage: str = "rcpt") -> relay.VariantResult:
    return relay.VariantResult(vid, kind, "", "<a@b.example>", "<c@d.example>", outcome,
                               stage, None, None, "", 0.0)  # type: ignore[arg-type]


def test_verdict_rules() -> None:
    ctl = (_v("local-unknown", "control", OC.ACCEPTED), _v("invalid-domain", "control", OC.REJECTED))
    assert relay.verdict_for(ctl + (_v("a", "relay", OC.REJECTED),))[0] is Verdict.CLOSED
    v, accepted, _all, _m = relay.verdict_for(
        ctl + (_v("a", "relay", OC.DEFERRED), _v("b", "relay", OC.ACCEPTED)))
    assert (v, accepted) == (Verdict.OPEN_RELAY, ("b",))
    assert relay.verdict_for(
        ctl + (_v("a", "relay", OC.DEFERRED), _v("b", "relay", OC.REJECTED)))[0] is \
        Verdict.INCONCLUSIVE
    assert relay.verdict_for(
        ctl + (_v("a", "relay", OC.AUTH_REQUIRED), _v("b", "relay", OC.REJECTED)))[0] is \
        Verdict.AUTH_REQUIRED
    assert relay.verdict_for(
        ctl + (_v("a", "relay", OC.AUTH_REQUIRED), _v("b", "relay", OC.TIMEOUT)))[0] is \
        Verdict.INCONCLUSIVE
    everything = (_v("local-unknown", "control", OC.ACCEPTED),
                  _v("invalid-domain", "control", OC.ACCEPTED), _v("a", "relay", OC.ACCEPTED))
    v, _acc, accepts_all, _m = relay.verdict_for(everything)
    assert (v, accepts_all) == (Verdict.INCONCLUSIVE, True)
    assert relay.verdict_for(())[0] is Verdict.INCONCLUSIVE


# -- CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_lab() -> Iterator[dict[str, SmtpServer]]:
    with LabThread() as thread:
        yield {
            policy: thread.start(SmtpServer(SmtpProfile(relay=policy), host="127.0.0.1", port=0))
            for policy in ("closed", "open", "bang-path", "auth-required", "greylist",
                           "postfix-default", "catch-all")
        }


def invoke(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, ["relay", *args, "--nameserver", "127.0.0.1:9"])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("policy", "code", "label"),
    [
        ("closed", 0, "CLOSED"),
        ("postfix-default", 0, "CLOSED"),
        ("auth-required", 0, "AUTH REQUIRED"),
        ("open", 3, "OPEN RELAY"),
        ("bang-path", 3, "OPEN RELAY"),
        ("greylist", 1, "INCONCLUSIVE"),
        ("catch-all", 1, "INCONCLUSIVE"),
    ],
)
def test_cli_text_and_exit_codes(cli_lab: dict[str, SmtpServer], policy: str, code: int,
                                 label: str) -> None:
    exit_code, out, _err = invoke("127.0.0.1", "--port", str(cli_lab[policy].port))
    assert exit_code == code, out
    lines = out.splitlines()
    verdict_line = next(line for line in lines if line.startswith("verdict:"))
    assert verdict_line.startswith(f"verdict: {label} - ")
    variant_lines = [line for line in lines if line.split(" ", 1)[0] in {o.value for o in OC}]
    assert len(variant_lines) == len(CONTROL_IDS + RELAY_IDS)
    if policy == "bang-path":
        accepted = [line for line in variant_lines if line.startswith("accepted")]
        assert any("bang-host" in line and "<example.net!mxscope-relay-test@mx1.lab.test>"
                   in line and "250" in line for line in accepted)
        assert "bang, bang-ip, bang-host" in verdict_line
    if policy == "postfix-default":
        assert any(line.startswith("relay-denied-temporary") and " 454 " in line
                   for line in variant_lines)


def test_cli_json(cli_lab: dict[str, SmtpServer]) -> None:
    exit_code, out, _err = invoke("127.0.0.1", "--port", str(cli_lab["bang-path"].port),
                                  "--json", "--mail-from", "<>", "--rcpt-to", "joe@far.example",
                                  "--helo", "probe.example")
    assert exit_code == 3
    doc = json.loads(out)
    assert doc["verdict"] == "open-relay"
    assert doc["accepted"] == ["bang", "bang-ip", "bang-host"]
    assert doc["mail_from"] == "<>" and doc["rcpt_to"] == "<joe@far.example>"
    assert doc["helo"] == "probe.example"
    assert set(doc) == {
        "target", "address", "port", "status", "message", "verdict", "accepted",
        "accepts_all", "implicit_tls", "starttls", "tls_version", "greeting", "server_name",
        "esmtp", "helo", "mail_from", "rcpt_to", "variants", "commands_sent", "transcript",
        "connect_ms", "greeting_ms", "total_ms",
    }
    variant = doc["variants"][-1]
    assert set(variant) == {"id", "kind", "description", "mail_from", "rcpt_to", "outcome",
                            "stage", "code", "enhanced", "reply", "elapsed_ms"}
    assert variant["rcpt_to"] == "<far.example!joe@mx1.lab.test>"
    assert ["C", "QUIT"] in doc["transcript"]


def test_cli_transcript(cli_lab: dict[str, SmtpServer]) -> None:
    exit_code, out, _err = invoke("127.0.0.1", "--port", str(cli_lab["closed"].port),
                                  "--transcript")
    assert exit_code == 0
    assert "C: EHLO mxscope.invalid" in out
    assert "C: RSET" in out and "C: QUIT" in out
    assert "C: DATA" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mail-from", "a b@example.com"], "white space"),
        (["--rcpt-to", "joe"], "no '@domain'"),
        (["--rcpt-to", "<>"], "null address"),
        (["--helo", "bad_name!"], "HELO name"),
    ],
)
def test_cli_bad_input_exits_2_and_sends_nothing(cli_lab: dict[str, SmtpServer],
                                                 args: list[str], message: str) -> None:
    srv = cli_lab["open"]
    before = len(srv.sessions)
    exit_code, out, err = invoke("127.0.0.1", "--port", str(srv.port), *args)
    assert exit_code == 2
    assert message in err and out == ""
    assert len(srv.sessions) == before


def test_cli_bad_host_and_port() -> None:
    assert invoke("bad host")[0] == 2
    assert invoke("127.0.0.1", "--port", "0")[0] == 2


def test_cli_port_from_settings(cli_lab: dict[str, SmtpServer],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MXSCOPE_SMTP_PORT", str(cli_lab["open"].port))
    exit_code, out, _err = invoke("127.0.0.1")
    assert exit_code == 3 and "verdict: OPEN RELAY" in out
    monkeypatch.setenv("MXSCOPE_SMTP_PORT", "70000")
    exit_code, _out, err = invoke("127.0.0.1")
    assert exit_code == 2 and "not a TCP port" in err


def test_cli_connection_failure_exits_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        exit_code, out, _err = invoke("127.0.0.1", "--port", str(s.getsockname()[1]))
    assert exit_code == 1
    assert "verdict: INCONCLUSIVE" in out and "refused" in out


def test_cli_render_escapes_server_text() -> None:
    # A hostile reply must not drive the user's terminal (ESC sequences, bells).
    from tui.commands import relay as relay_cmd

    v = relay.VariantResult("bang", "relay", "UUCP bang path", "<>", "<ext!user>",
                            relay.Outcome.REJECTED, "rcpt", 550, None,
                            "550 \x1b[2Jno\x07", 1.0)
    line = relay_cmd.render_variant(v)
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2Jno\\x07" in line
