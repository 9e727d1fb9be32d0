"""The ports probe and `mxscope ports`: open / closed / filtered, banners, implicit TLS and
STARTTLS/STLS for SMTP, POP3 and IMAP against the lab servers with good, expired,
self-signed and wrong-host certificates, broken STARTTLS, concurrency, IPv6, the default
port list on privileged ports, and the CLI's text, JSON and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Iterator

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import Settings
from tui.lab.certs import LabCerts
from tui.lab.dns import DnsServer, Zone
from tui.lab.mailports import ImapServer, Pop3Server
from tui.lab.runner import LabThread
from tui.lab.smtp import SmtpProfile, SmtpServer
from tui.probes import ports
from tui.probes.base import Status
from tui.probes.target import parse_target

HOST = "mx1.lab.test"
IP = "127.0.0.1"


@pytest.fixture(scope="module")
def certs() -> Iterator[LabCerts]:
    with LabCerts() as lab:
        yield lab


def fast(certs: LabCerts, **more: object) -> Settings:
    values: dict[str, object] = dict(
        tls_ca_file=certs.ca_pem_path, connect_timeout=0.5, greeting_timeout=1.0,
        timeout=3.0, smtp_timeout=3.0, dns_timeout=2.0,
    )
    values.update(more)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound but not listening: a connect gets RST, and no one else can take the port."""
    with socket.socket() as s:
        s.bind((IP, 0))
        yield s.getsockname()[1]


@contextlib.contextmanager
def black_hole(host: str = IP, port: int = 0) -> Iterator[int]:
    """A listener with backlog 0 whose accept queue is full: Linux drops further SYNs, so
    a connect gets no answer at all (filtered), on loopback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    fillers: list[socket.socket] = []
    with socket.socket(family) as srv:
        srv.bind((host, port))
        srv.listen(0)
        address = srv.getsockname()[:2]
        try:
            for _ in range(8):
                filler = socket.socket(family)
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(address)
                except TimeoutError:
                    break  # the queue is full
            else:
                pytest.fail("could not fill the accept queue")
            yield address[1]
        finally:
            for filler in fillers:
                filler.close()


@pytest.fixture
def filtered_port() -> Iterator[int]:
    with black_hole() as port:
        yield port


async def one(port: int, service: str, settings: Settings,
              target: str = IP) -> ports.PortResult:
    result = await ports.run(parse_target(target), settings, ports=[port],
                             services={port: service})
    assert len(result.ports) == 1
    return result.ports[0]


# -- states ---------------------------------------------------------------------------------


async def test_closed_filtered_and_silent(certs: LabCerts, closed_port: int,
                                          filtered_port: int) -> None:
    settings = fast(certs, greeting_timeout=0.5)
    async with SmtpServer(SmtpProfile(hostile="silent"), certs=certs) as silent:
        result = await ports.run(parse_target(IP), settings,
                                 ports=[closed_port, filtered_port, silent.port],
                                 services={closed_port: "smtp", filtered_port: "smtp",
                                           silent.port: "smtp"})
    closed, filtered, quiet = result.ports
    assert (closed.state, closed.status) == ("closed", Status.REFUSED)
    assert closed.message == "closed (connection refused)" and closed.connect_ms is None
    assert (filtered.state, filtered.status) == ("filtered", Status.TIMEOUT)
    assert filtered.message.startswith("filtered (no answer within")
    assert (quiet.state, quiet.status) == ("open", Status.TIMEOUT)
    assert quiet.connect_ms is not None and quiet.banner == ""
    assert "no greeting within 0.5 s" in quiet.message
    assert (result.open, result.closed, result.filtered, result.errors) == (1, 1, 1, 0)
    assert result.status is Status.OK
    assert result.message == "1 open, 1 closed, 1 filtered; no greeting on " + str(silent.port)


async def test_nothing_open(certs: LabCerts, closed_port: int, filtered_port: int) -> None:
    result = await ports.run(parse_target(IP), fast(certs), ports=[closed_port, filtered_port])
    assert result.status is Status.TIMEOUT and result.open == 0
    assert "nothing answers" in result.message
    only_closed = await ports.run(parse_target(IP), fast(certs), ports=[closed_port])
    assert only_closed.status is Status.REFUSED


async def test_unknown_port_reads_a_plain_banner(certs: LabCerts) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, IP, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await ports.run(parse_target(IP), fast(certs), ports=[port])
    finally:
        server.close()
    (r,) = result.ports
    assert (r.service, r.state, r.status, r.banner) == ("tcp", "open", Status.OK,
                                                        "SSH-2.0-OpenSSH_9.6")
    assert r.tls is None and r.starttls_offered is None


# -- SMTP -----------------------------------------------------------------------------------


async def test_smtp_starttls_good(certs: LabCerts) -> None:
    async with SmtpServer(SmtpProfile(preset="postfix", tls="good"), certs=certs) as srv:
        r = await one(srv.port, "smtp", fast(certs))
        commands = srv.sessions[0].commands
    assert r.state == "open" and r.status is Status.OK
    assert r.banner == "220 mx1.lab.test ESMTP Postfix"
    assert r.starttls_offered is True and r.tls_error == ""
    assert r.tls is not None and r.tls.verified and r.tls.problems == ()
    assert r.tls.expected_host == IP and r.tls.host_match is True
    assert "STARTTLS TLSv1" in r.message and "certificate verified" in r.message
    assert commands[0].startswith("EHLO ") and commands[1] == "STARTTLS"
    assert len(srv.sessions) == 1  # a good certificate costs one connection
    assert ("C", "STARTTLS") in r.transcript


async def test_smtp_without_starttls(certs: LabCerts) -> None:
    async with SmtpServer(SmtpProfile(preset="exim"), certs=certs) as srv:
        r = await one(srv.port, "smtp", fast(certs))
        assert "STARTTLS" not in srv.sessions[0].commands
    assert r.status is Status.OK and r.starttls_offered is False and r.tls is None
    assert "no STARTTLS offered" in r.message and not r.tls_problem


@pytest.mark.parametrize(
    ("kind", "error"),
    [("expired", "certificate has expired"),
     ("self-signed", "self-signed certificate"),
     ("wrong-host", "hostname mismatch")],
)
@pytest.mark.parametrize("service", ["smtp", "smtps"])
async def test_smtp_bad_certificates(certs: LabCerts, kind: str, error: str, service: str,
                                     dns_lab: DnsServer) -> None:
    profile = SmtpProfile(tls=kind, implicit_tls=service == "smtps")
    async with SmtpServer(profile, certs=certs) as srv:
        settings = fast(certs, nameservers=(dns_lab.nameserver,))
        r = await one(srv.port, service, settings, target=HOST)
        sessions = len(srv.sessions)
    assert r.state == "open" and r.status is Status.OK and r.tls_error == ""
    assert r.banner == "220 mx1.lab.test ESMTP Postfix"
    assert r.tls is not None and not r.tls.verified
    assert r.tls.verify_error == error and error in r.tls.problems
    assert r.tls.expected_host == HOST
    assert f"certificate problem: {error}" in r.message
    assert sessions == 2  # verification failed, so one more look with verification off


async def test_smtp_starttls_broken(certs: LabCerts) -> None:
    profile = SmtpProfile(tls="good", hostile="starttls-broken")
    async with SmtpServer(profile, certs=certs) as srv:
        result = await ports.run(parse_target(IP), fast(certs), ports=[srv.port],
                                 services={srv.port: "smtp"})
    (r,) = result.ports
    assert r.state == "open" and r.status is Status.ERROR
    assert r.tls is None and r.tls_error.startswith("TLS handshake failed")
    assert "STARTTLS failed" in r.message
    assert result.tls_failed == (srv.port,) and f"TLS failed on {srv.port}" in result.message


@pytest.mark.parametrize("hostile", ["huge-greeting", "binary", "greet-554"])
async def test_smtp_hostile_greetings_end(certs: LabCerts, hostile: str) -> None:
    async with SmtpServer(SmtpProfile(hostile=hostile), certs=certs) as srv:
        r = await one(srv.port, "smtp", fast(certs))
    assert r.state == "open" and len(r.banner) <= ports.MAX_BANNER
    if hostile == "greet-554":
        assert r.status is Status.OK and r.banner.startswith("554")
        assert "refuses sessions (554)" in r.message
    else:
        assert r.status is Status.ERROR and r.tls is None


# -- POP3 and IMAP --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Pop3Server, ImapServer])
async def test_mail_starttls_good(certs: LabCerts, cls: type[Pop3Server]) -> None:
    async with cls(tls="good", certs=certs) as srv:
        r = await one(srv.port, srv.protocol, fast(certs))
        record = srv.sessions[0]
    assert r.status is Status.OK and r.starttls_offered is True
    assert r.tls is not None and r.tls.verified and r.tls.problems == ()
    assert record.tls and record.closed_by == "client"
    if cls is Pop3Server:
        assert r.banner == "+OK Dovecot ready."
        assert record.commands == ["CAPA", "STLS", "QUIT"]
        assert "STLS TLSv1" in r.message
    else:
        assert r.banner.startswith("* OK [CAPABILITY IMAP4rev1 ") and "STARTTLS" in r.banner
        # The greeting listed the capabilities, so no CAPABILITY command was needed.
        assert record.commands == ["m1 STARTTLS", "m2 LOGOUT"]


@pytest.mark.parametrize("cls", [Pop3Server, ImapServer])
async def test_mail_implicit_tls(certs: LabCerts, cls: type[Pop3Server]) -> None:
    async with cls(tls="good", implicit_tls=True, certs=certs) as srv:
        r = await one(srv.port, srv.protocol + "s", fast(certs))
    assert r.tls_mode == "implicit" and r.status is Status.OK
    assert r.tls is not None and r.tls.verified and r.starttls_offered is None
    assert r.banner.startswith("+OK" if cls is Pop3Server else "* OK")


@pytest.mark.parametrize("cls", [Pop3Server, ImapServer])
@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize(
    ("kind", "error"),
    [("expired", "certificate has expired"),
     ("self-signed", "self-signed certificate"),
     ("wrong-host", "IP address mismatch")],
)
async def test_mail_bad_certificates(certs: LabCerts, cls: type[Pop3Server], implicit: bool,
                                     kind: str, error: str) -> None:
    async with cls(tls=kind, implicit_tls=implicit, certs=certs) as srv:
        service = srv.protocol + ("s" if implicit else "")
        r = await one(srv.port, service, fast(certs))
    assert r.status is Status.OK and r.tls is not None
    assert r.tls.verify_error == error and r.tls.problems[0] == error
    assert r.tls_problem and r.banner  # the banner is there even for implicit TLS


async def test_mail_without_starttls(certs: LabCerts) -> None:
    async with Pop3Server() as pop, ImapServer() as imap:
        result = await ports.run(parse_target(IP), fast(certs), ports=[pop.port, imap.port],
                                 services={pop.port: "pop3", imap.port: "imap"})
        # CAPA lists no STLS, so STLS is not tried; IMAP's greeting lists its capabilities.
        assert pop.sessions[0].commands == ["CAPA", "QUIT"]
        assert imap.sessions[0].commands == ["m1 LOGOUT"]
    p, i = result.ports
    assert p.starttls_offered is False and i.starttls_offered is False
    assert "no STLS offered" in p.message and "no STARTTLS offered" in i.message
    assert result.tls_ok == () and result.cert_problems == () and result.tls_failed == ()


@pytest.mark.parametrize("cls", [Pop3Server, ImapServer])
async def test_mail_starttls_broken(certs: LabCerts, cls: type[Pop3Server]) -> None:
    async with cls(tls="good", hostile="starttls-broken", certs=certs) as srv:
        r = await one(srv.port, srv.protocol, fast(certs))
    assert r.state == "open" and r.status is Status.ERROR and r.tls is None
    assert r.tls_error.startswith("TLS handshake failed")
    assert r.starttls_offered is True


async def test_imap_capability_command_when_greeting_lacks_it(certs: LabCerts) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4 server ready\r\n")
        while line := await reader.readline():
            tag, _, verb = line.decode().strip().partition(" ")
            if verb == "CAPABILITY":
                writer.write(f"* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK done\r\n".encode())
            elif verb == "LOGOUT":
                writer.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, IP, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await one(port, "imap", fast(certs))
    finally:
        server.close()
    assert r.status is Status.OK and r.starttls_offered is False
    assert ("C", "m1 CAPABILITY") in r.transcript


async def test_legacy_tls_server_is_described(certs: LabCerts) -> None:
    """TLS 1.0 only: the strict handshake fails, the lenient one still reads the cert."""
    ctx = certs.server_context("good", HOST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK legacy POP3\r\n")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(100), 3)
        writer.close()

    server = await asyncio.start_server(handle, IP, 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await one(port, "pop3s", fast(certs))
    finally:
        server.close()
    assert r.tls is not None and r.tls.version == "TLSv1" and not r.tls.verified
    assert r.tls.verify_error and r.banner == "+OK legacy POP3"


# -- the whole run --------------------------------------------------------------------------


@pytest.fixture
async def dns_lab() -> AsyncIterator[DnsServer]:
    zone = Zone().add_host(HOST, IP).add_host("v6.lab.test", "::1")
    async with DnsServer(zone) as server:
        yield server


async def test_concurrent_ports_and_streaming(certs: LabCerts, closed_port: int) -> None:
    """Each server greets only once all three connections have arrived: probing one port
    after another would hit the greeting timeout on the first."""
    arrived = 0
    everyone = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            everyone.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), 5)
        writer.write(b"hello after a rendezvous\r\n")
        await writer.drain()
        writer.close()

    servers = [await asyncio.start_server(handle, IP, 0) for _ in range(3)]
    wanted = [s.sockets[0].getsockname()[1] for s in servers] + [closed_port]
    seen: list[int] = []
    try:
        result = await ports.run(parse_target(IP), fast(certs, greeting_timeout=3.0),
                                 ports=wanted, on_port=lambda r: seen.append(r.port))
    finally:
        for s in servers:
            s.close()
    assert [r.port for r in result.ports] == wanted  # the requested order
    assert sorted(seen) == sorted(wanted)  # each streamed exactly once
    assert [r.banner for r in result.ports[:3]] == ["hello after a rendezvous"] * 3
    assert result.open == 3 and result.closed == 1


async def test_hostname_target_resolves_via_lab_dns(certs: LabCerts, dns_lab: DnsServer) -> None:
    async with SmtpServer(SmtpProfile(tls="good"), certs=certs) as srv:
        result = await ports.run(parse_target(HOST),
                                 fast(certs, nameservers=(dns_lab.nameserver,)),
                                 ports=[srv.port], services={srv.port: "submission"})
    assert result.address == IP and result.expected_host == HOST
    (r,) = result.ports
    assert r.tls is not None and r.tls.verified and r.tls.expected_host == HOST
    assert result.tls_ok == (srv.port,) and result.message.endswith(f"TLS ok on {srv.port}")


async def test_unresolvable_name_sends_nothing(certs: LabCerts, dns_lab: DnsServer) -> None:
    async with SmtpServer(SmtpProfile(), certs=certs) as srv:
        result = await ports.run(parse_target("missing.lab.test"),
                                 fast(certs, nameservers=(dns_lab.nameserver,)),
                                 ports=[srv.port])
        assert srv.sessions == []
    assert result.status is Status.NXDOMAIN and result.ports == ()
    assert result.address is None and "missing.lab.test" in result.message


async def test_ipv6_loopback(certs: LabCerts, dns_lab: DnsServer) -> None:
    async with SmtpServer(SmtpProfile(tls="good"), host="::1", certs=certs) as smtp, \
            ImapServer(host="::1", tls="good", implicit_tls=True, certs=certs) as imap:
        services = {smtp.port: "smtp", imap.port: "imaps"}
        by_ip = await ports.run(parse_target("::1"), fast(certs), ports=list(services),
                                services=services)
        by_name = await ports.run(parse_target("v6.lab.test"),
                                  fast(certs, nameservers=(dns_lab.nameserver,)),
                                  ports=[smtp.port], services=services)
    assert by_ip.address == "::1" and by_ip.open == 2
    assert all(r.tls is not None and r.tls.verified for r in by_ip.ports)
    assert by_name.address == "::1"
    assert by_name.ports[0].tls is not None and by_name.ports[0].tls.problems == (
        "hostname mismatch",)  # the lab's good cert names mx1.lab.test, not v6.lab.test
    with black_hole("::1") as port:
        hole = await ports.run(parse_target("[::1]"), fast(certs), ports=[port])
    assert hole.ports[0].state == "filtered"


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        ports.validate([0], None)
    with pytest.raises(ValueError, match="unknown service"):
        ports.validate([25], {25: "ftp"})
    assert ports.service_for(993).name == "imaps"
    assert ports.service_for(12345).name == "tcp"
    assert ports.service_for(25, {25: "smtps"}).tls == "implicit"


async def test_bad_ca_file_is_a_result(certs: LabCerts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with SmtpServer(SmtpProfile(), certs=certs) as srv:
        result = await ports.run(parse_target(IP),
                                 fast(certs, tls_ca_file=str(tmp_path / "nope.pem")),
                                 ports=[srv.port])
        assert srv.sessions == []
    assert result.status is Status.ERROR and "no such file" in result.message


def _free_loopback() -> str:
    """A loopback address nobody else's test is likely to use for privileged ports."""
    return f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(2, 254)}"


@pytest.mark.skipif(os.geteuid() != 0, reason="binding ports below 1024 needs root")
async def test_default_port_list_on_privileged_ports(certs: LabCerts) -> None:
    """All eight standard ports in one run: Settings.ports, no overrides."""
    for _ in range(5):
        addr = _free_loopback()
        try:
            probe_socket = socket.socket()
            probe_socket.bind((addr, 25))
            probe_socket.close()
            break
        except OSError:
            continue
    zone = Zone().add_host("mail.lab.test", addr)
    stack = contextlib.AsyncExitStack()
    async with stack:
        dns = await stack.enter_async_context(DnsServer(zone))
        host = "mail.lab.test"
        for server in (
            SmtpServer(SmtpProfile(hostname=host, tls="good"), host=addr, port=25, certs=certs),
            SmtpServer(SmtpProfile(hostname=host, tls="good", implicit_tls=True), host=addr,
                       port=465, certs=certs),
            SmtpServer(SmtpProfile(hostname=host, tls="expired"), host=addr, port=587,
                       certs=certs),
            Pop3Server(addr, 110, hostname=host, tls="good", certs=certs),
            Pop3Server(addr, 995, hostname=host, tls="good", implicit_tls=True, certs=certs),
            ImapServer(addr, 993, hostname=host, tls="self-signed", implicit_tls=True,
                       certs=certs),
        ):
            await stack.enter_async_context(server)
        closed = stack.enter_context(socket.socket())
        closed.bind((addr, 2525))  # bound, not listening: refused
        stack.enter_context(black_hole(addr, 143))
        settings = fast(certs, nameservers=(dns.nameserver,))
        assert settings.ports == (25, 465, 587, 2525, 110, 995, 143, 993)
        result = await ports.run(parse_target(host), settings)
    by_port = {r.port: r for r in result.ports}
    assert [r.port for r in result.ports] == list(settings.ports)
    assert {p: r.service for p, r in by_port.items()} == ports.STANDARD_SERVICES
    assert {p for p, r in by_port.items() if r.state == "open"} == {25, 465, 587, 110, 995, 993}
    assert by_port[2525].state == "closed" and by_port[143].state == "filtered"
    assert result.tls_ok == (25, 465, 110, 995)
    assert result.cert_problems == (587, 993)
    assert result.message == (
        "6 open, 1 closed, 1 filtered; TLS ok on 25, 465, 110, 995; "
        "certificate has expired on 587; self-signed certificate on 993"
    )


# -- CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(certs: LabCerts) -> Iterator[dict[str, object]]:
    with LabThread() as thread:
        servers = {
            "good": thread.start(SmtpServer(SmtpProfile(tls="good"), certs=certs)),
            "expired": thread.start(Pop3Server(tls="expired", implicit_tls=True, certs=certs)),
            "imap": thread.start(ImapServer(tls="good", certs=certs)),
        }
        yield {"thread": thread, **servers}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ports", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_text_ok(lab: dict[str, SmtpServer], certs: LabCerts) -> None:
    good, imap = lab["good"], lab["imap"]
    code, out, _ = invoke(IP, "--port", f"{good.port}/smtp", "--port", f"{imap.port}/imap",
                          "--ca-file", certs.ca_pem_path, "--timeout", "2")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"ports on {IP}"
    assert lines[1].split() == ["PORT", "SERVICE", "STATE", "MS", "TLS", "CERT", "EXPIRY",
                                "BANNER"]
    smtp_row = next(line for line in lines if line.startswith(str(good.port)))
    assert "smtp" in smtp_row and "open" in smtp_row and "STARTTLS TLSv1" in smtp_row
    assert "220 mx1.lab.test ESMTP Postfix" in smtp_row
    assert lines[-1] == f"verdict: 2 open, 0 closed, 0 filtered; TLS ok on {good.port}, " \
                        f"{imap.port}"


def test_cli_json_and_certificate_problem(lab: dict[str, Pop3Server], certs: LabCerts,
                                          closed_port: int) -> None:
    expired = lab["expired"]
    code, out, _ = invoke(IP, "-p", f"{expired.port}/pop3s", "-p", str(closed_port),
                          "--ca-file", certs.ca_pem_path, "--json")
    assert code == 3
    doc = json.loads(out)
    assert set(doc) == {"target", "address", "expected_host", "status", "message", "ports",
                        "open", "closed", "filtered", "errors", "tls_ok", "tls_failed",
                        "cert_problems", "expiring", "resolve_ms", "elapsed_ms"}
    assert doc["status"] == "ok" and doc["cert_problems"] == [expired.port]
    first, second = doc["ports"]
    assert first["tls"]["verify_error"] == "certificate has expired"
    assert first["tls"]["expired"] is True and first["banner"] == "+OK Dovecot ready."
    assert second["state"] == "closed" and second["tls"] is None
    assert first["transcript"][0] == ["*", "certificate has expired"]


def test_cli_text_certificate_problem(lab: dict[str, Pop3Server]) -> None:
    # Without --ca-file the lab CA is unknown: the certificate cannot be verified.
    code, out, _ = invoke(IP, "-p", f"{lab['expired'].port}/pop3s")
    assert code == 3
    assert "TLS TLSv1" in out and "PROBLEM" in out and "(expired)" in out
    assert "certificate has expired" in out


def test_cli_nothing_open(closed_port: int) -> None:
    code, out, _ = invoke(IP, "--port", str(closed_port))
    assert code == 1 and "nothing answers" in out
    with black_hole() as port:
        code, out, _ = invoke(IP, "--port", str(port), "--timeout", "0.3", "--json")
    assert code == 1 and json.loads(out)["ports"][0]["state"] == "filtered"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exa mple.test"], "white space"),
        ([IP, "--port", "70000"], "not a TCP port"),
        ([IP, "--port", "25/ftp"], "unknown service"),
        ([IP, "--port", "x"], "not a TCP port"),
        ([IP, "--ca-file", "/nonexistent/ca.pem"], "no such file"),
        ([IP, "--nameserver", "not-an-ip"], "not an IP address"),
    ],
)
def test_cli_bad_input_sends_nothing(lab: dict[str, SmtpServer], args: list[str],
                                     message: str) -> None:
    good = lab["good"]
    before = len(good.sessions)
    extra = [] if "--port" in args else ["--port", f"{good.port}/smtp"]
    code, out, err = invoke(*args, *extra)
    assert code == 2 and out == ""
    assert message in err and err.startswith("mxscope: error: ")
    assert len(good.sessions) == before


# -- the lab POP3/IMAP servers themselves ---------------------------------------------------


async def _talk(port: int, *lines: str, host: str = IP) -> list[str]:
    reader, writer = await asyncio.open_connection(host, port)
    got = [(await asyncio.wait_for(reader.readline(), 5)).decode().rstrip()]
    for line in lines:
        writer.write(line.encode() + b"\r\n")
        await writer.drain()
        while True:
            answer = (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip()
            got.append(answer)
            if not answer or answer == "." or answer.startswith(("-ERR", "a ")) or (
                answer.startswith("+OK") and line != "CAPA"
            ):
                break
    writer.close()
    return got


async def test_lab_pop3_dialogue(certs: LabCerts) -> None:
    async with Pop3Server(tls="good", certs=certs) as srv:
        got = await _talk(srv.port, "CAPA", "USER bob", "FROB", "QUIT")
    assert got[0] == "+OK Dovecot ready."
    assert got[1] == "+OK" and "STLS" in got and "." in got
    assert any("Plaintext authentication disallowed" in g for g in got)
    assert "-ERR Unknown command: FROB" in got and got[-1] == "+OK Logging out."
    assert srv.sessions[0].commands == ["CAPA", "USER bob", "FROB", "QUIT"]


async def test_lab_imap_dialogue(certs: LabCerts) -> None:
    async with ImapServer(certs=certs) as srv:
        got = await _talk(srv.port, "a CAPABILITY", "a LOGIN bob secret", "a STARTTLS",
                          "a LOGOUT")
    assert got[0].startswith("* OK [CAPABILITY IMAP4rev1") and "STARTTLS" not in got[0]
    assert "a OK Pre-login capabilities listed, post-login capabilities have more." in got
    assert any("[PRIVACYREQUIRED]" in g for g in got)
    assert "a BAD Unknown command." in got  # no certificate, no STARTTLS
    assert got[-2:] == ["* BYE Logging out", "a OK Logout completed."]


async def test_lab_stop_ends_silent_sessions_and_checks_arguments(certs: LabCerts) -> None:
    srv = await ImapServer(hostile="silent").start()
    reader, writer = await asyncio.open_connection(IP, srv.port)
    async with asyncio.timeout(5):
        while not srv.sessions:  # accepted, so stop() has a session to end
            await asyncio.sleep(0.01)
    await srv.stop()
    assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed, not hanging
    writer.close()
    with pytest.raises(ValueError, match="certs"):
        Pop3Server(tls="good")
    with pytest.raises(ValueError, match="implicit_tls"):
        Pop3Server(implicit_tls=True, certs=certs)
    with pytest.raises(ValueError, match="tls must be"):
        ImapServer(tls="bogus", certs=certs)  # type: ignore[arg-type]


async def test_lab_line_bound(certs: LabCerts) -> None:
    async with Pop3Server() as srv:
        reader, writer = await asyncio.open_connection(IP, srv.port)
        await reader.readline()
        writer.write(b"X" * 20000 + b"\r\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert rest == b"" and srv.sessions[0].closed_by == "server"


def test_cli_render_escapes_server_text() -> None:
    from tui.commands import ports as ports_cmd
    from tui.probes.base import Stopwatch

    result = ports._empty(parse_target("127.0.0.1"), None, "127.0.0.1",
                          Status.ERROR, "\x1b[31mred", None, Stopwatch())
    out = ports_cmd.render(result)
    assert "\x1b" not in out and "\\x1b[31mred" in out
