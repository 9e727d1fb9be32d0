"""The lab SMTP server, driven over real sockets by a raw asyncio client and by smtplib.

Every read in here is bounded in bytes and time, so a misbehaving lab fails a test instead
of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import smtplib
import ssl

import pytest

from tui.lab.certs import LabCerts
from tui.lab.runner import LabThread
from tui.lab.smtp import (
    HOSTILE,
    PRESETS,
    RELAY_POLICIES,
    SmtpProfile,
    SmtpServer,
)

HOST = "mx1.lab.test"
READ_LIMIT = 64 * 1024


class Raw:
    """A deliberately dumb SMTP client: bounded line reads, nothing clever."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, srv: SmtpServer, **kw: object) -> Raw:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(srv.host, srv.port, limit=READ_LIMIT, **kw), 5
        )
        return cls(reader, writer)

    async def line(self, timeout: float = 5) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("server closed the connection")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def reply(self, timeout: float = 5) -> tuple[int, list[str]]:
        lines: list[str] = []
        for _ in range(200):
            line = await self.line(timeout)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), [text[4:] for text in lines]
        raise AssertionError("reply longer than 200 lines")

    async def send(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def cmd(self, line: str, timeout: float = 5) -> tuple[int, list[str]]:
        await self.send(line)
        return await self.reply(timeout)

    async def close(self) -> None:
        self.writer.transport.abort()


async def _closed(srv: SmtpServer, index: int = 0) -> str | None:
    """Wait (bounded) for the server to finish recording session ``index``."""
    for _ in range(500):
        if len(srv.sessions) > index and srv.sessions[index].closed_by is not None:
            return srv.sessions[index].closed_by
        await asyncio.sleep(0.01)
    return None


@pytest.fixture(scope="module")
def certs() -> LabCerts:
    with LabCerts() as lab_certs:
        yield lab_certs


# -- presets ------------------------------------------------------------------------------------

# What the real software puts in its greeting, hand-written here (not taken from the module)
# so a change to a preset's text has to be deliberate.
EXPECTED_GREETINGS = {
    "sendmail": ["mx1.lab.test ESMTP Sendmail 8.17.1/8.17.1; Tue, 3 Nov 2026 10:00:00 +0100"],
    "postfix": ["mx1.lab.test ESMTP Postfix"],
    "postfix-debian": ["mx1.lab.test ESMTP Postfix (Debian/GNU)"],
    "qmail": ["mx1.lab.test ESMTP"],
    "exim": ["mx1.lab.test ESMTP Exim 4.97 Tue, 03 Nov 2026 10:00:00 +0100"],
    "imail": ["mx1.lab.test (IMail 12.5.7 2134-1) NT-ESMTP Server X1"],
    "intermail": [
        "mx1.lab.test ESMTP server (InterMail vM.8.04.03.22 201-2389-100-172-20160420) "
        "ready Tue, 3 Nov 2026 10:00:00 +0100"
    ],
    "exchange": [
        "mx1.lab.test Microsoft ESMTP MAIL Service ready at Tue, 3 Nov 2026 10:00:00 +0100"
    ],
    "opensmtpd": ["mx1.lab.test ESMTP OpenSMTPD"],
    "haraka": ["mx1.lab.test ESMTP Haraka/3.0.3 ready"],
    "generic": ["mx1.lab.test ESMTP"],
    "postscreen": ["mx1.lab.test ESMTP Postfix", "mx1.lab.test ESMTP Postfix"],
}


@pytest.mark.parametrize("key", sorted(PRESETS))
async def test_each_preset_greets_answers_ehlo_help_and_quit(key: str) -> None:
    preset = PRESETS[key]
    profile = SmtpProfile(preset=key, hostname=HOST, postscreen_pause=0.05)
    async with SmtpServer(profile) as srv:
        c = await Raw.open(srv)
        code, greeting = await c.reply()
        assert code == 220
        assert tuple(greeting) == preset.greeting
        if key in EXPECTED_GREETINGS:
            assert greeting == EXPECTED_GREETINGS[key]
        if key == "postfix-multiline":
            assert len(greeting) > 1
        code, ehlo = await c.cmd("EHLO client.lab.test")
        assert code == 250 and ehlo[0].startswith(HOST)
        assert "STARTTLS" not in ehlo  # tls=None: not offered
        code, help_lines = await c.cmd("HELP")
        assert code == preset.help_code
        assert tuple(help_lines) == preset.help
        code, _ = await c.cmd("QUIT")
        assert code == 221
        assert await _closed(srv) == "client"
        await c.close()
        assert srv.sessions[0].commands == ["EHLO client.lab.test", "HELP", "QUIT"]


async def test_presets_say_what_the_real_software_says() -> None:
    assert PRESETS["qmail"].help == ("qmail home page: http://pobox.com/~djb/qmail.html",)
    assert PRESETS["postfix"].help_code == 502  # Postfix has no HELP command
    assert PRESETS["sendmail"].help[0] == "2.0.0 This is sendmail version 8.17.1"
    assert not any(
        word in " ".join(PRESETS["generic"].greeting + PRESETS["generic"].ehlo).lower()
        for word in ("postfix", "sendmail", "exim", "qmail", "microsoft")
    )


async def test_greeting_uses_the_profile_hostname() -> None:
    async with SmtpServer(SmtpProfile(preset="exim", hostname="smtp.other.test")) as srv:
        c = await Raw.open(srv)
        code, greeting = await c.reply()
        assert code == 220 and greeting[0].startswith("smtp.other.test ESMTP Exim 4.97 ")
        code, ehlo = await c.cmd("EHLO me.test")
        assert ehlo[0] == "smtp.other.test Hello me.test [127.0.0.1]"
        await c.close()


async def test_over_ipv6_loopback() -> None:
    async with SmtpServer(SmtpProfile(preset="sendmail"), host="::1") as srv:
        assert srv.address.startswith("[::1]:")
        c = await Raw.open(srv)
        code, greeting = await c.reply()
        assert code == 220 and "Sendmail" in greeting[0]
        code, ehlo = await c.cmd("EHLO me.test")
        assert ehlo[0] == f"{HOST} Hello me.test [::1], pleased to meet you"
        await c.close()


# -- command loop -------------------------------------------------------------------------------


async def test_command_loop_sequence_errors_and_syntax() -> None:
    async with SmtpServer(SmtpProfile(preset="postfix")) as srv:
        c = await Raw.open(srv)
        await c.reply()
        assert (await c.cmd("MAIL FROM:<a@b.test>"))[0] == 503  # no EHLO yet
        assert (await c.cmd("EHLO"))[0] == 501
        assert (await c.cmd("EHLO me.test"))[0] == 250
        assert (await c.cmd("RCPT TO:<postmaster@lab.test>"))[0] == 503  # no MAIL yet
        assert (await c.cmd("DATA"))[0] == 503
        assert (await c.cmd("MAIL FROM:<a b@x.test>"))[0] == 501
        assert (await c.cmd("MAIL FROM:<a@b.test"))[0] == 501
        assert (await c.cmd("MAIL TO:<a@b.test>"))[0] == 501
        assert (await c.cmd("MAIL FROM:<>"))[0] == 250  # null sender
        assert (await c.cmd("MAIL FROM:<a@b.test>"))[0] == 503  # nested
        assert (await c.cmd("RSET"))[0] == 250
        assert (await c.cmd("MAIL FROM: <a@b.test> SIZE=100"))[0] == 250
        assert (await c.cmd("RCPT TO:<>"))[0] == 501
        assert (await c.cmd("RCPT TO:<postmaster@lab..test>"))[0] == 501
        assert (await c.cmd("VRFY postmaster"))[0] == 252
        assert (await c.cmd("NOOP"))[0] == 250
        assert (await c.cmd("XYZZY"))[0] in (500, 502)
        assert (await c.cmd("STARTTLS"))[0] in (500, 502)  # not offered without tls
        assert (await c.cmd(""))[0] == 500
        await c.close()
        assert await _closed(srv) is not None
        assert srv.sessions[0].data_seen is True  # the DATA above counts, even refused


async def test_data_and_bdat_are_recorded() -> None:
    async with SmtpServer(SmtpProfile(preset="postfix", relay="open")) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        await c.cmd("MAIL FROM:<a@b.test>")
        assert (await c.cmd("RCPT TO:<someone@ext.test>"))[0] == 250
        assert (await c.cmd("DATA"))[0] == 354
        code, text = await c.cmd("Subject: hi\r\n\r\n..leading dot\r\n.")
        assert code == 250 and "queued" in text[0]
        await c.cmd("MAIL FROM:<a@b.test>")
        await c.cmd("RCPT TO:<someone@ext.test>")
        c.writer.write(b"BDAT 5 LAST\r\nhello")
        assert (await c.reply())[0] == 250
        await c.cmd("QUIT")
        await c.close()
        assert await _closed(srv) == "client"
        s = srv.sessions[0]
        assert s.data_seen is True
        assert s.messages == [b"Subject: hi\r\n\r\n.leading dot\r\n", b"hello"]
        assert s.rcpts == ["someone@ext.test", "someone@ext.test"]
        assert ("C", "DATA") in s.transcript


async def test_a_session_without_data_says_so() -> None:
    async with SmtpServer(SmtpProfile(preset="postfix", relay="open")) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        await c.cmd("MAIL FROM:<a@b.test>")
        await c.cmd("RCPT TO:<x@ext.test>")
        await c.cmd("QUIT")
        await c.close()
        await _closed(srv)
        assert srv.sessions[0].data_seen is False


async def test_overlong_line_drops_the_client() -> None:
    async with SmtpServer(SmtpProfile(preset="postfix")) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.send("EHLO " + "a" * 5000)
        code, _ = await c.reply()
        assert code == 500
        with pytest.raises((EOFError, ConnectionError)):
            await c.line()
        assert await _closed(srv) == "server"
        await c.close()


def test_smtplib_dialogue_in_a_thread_via_labthread() -> None:
    with LabThread() as lab:
        srv = lab.start(SmtpServer(SmtpProfile(preset="sendmail", relay="closed")))
        with smtplib.SMTP(srv.host, srv.port, timeout=5) as client:
            code, _ = client.ehlo("me.test")
            assert code == 250
            refused = client.sendmail(
                "a@b.test", ["postmaster@lab.test"], b"Subject: t\r\n\r\nx\r\n"
            )
            assert refused == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
                client.sendmail("a@b.test", ["victim@ext.test"], b"x\r\n")
            code, text = info.value.recipients["victim@ext.test"]
            assert code == 550 and b"Relaying denied" in text
        assert srv.sessions[0].messages == [b"Subject: t\r\n\r\nx\r\n"]


# -- relay policies ------------------------------------------------------------------------------

# Recipient forms on a server at 127.0.0.1 named mx1.lab.test with local domain lab.test.
FORMS = {
    "local": "postmaster@lab.test",
    "local-host": "postmaster@mx1.lab.test",
    "local-literal": "postmaster@[127.0.0.1]",
    "local-bare": "postmaster",
    "plain": "victim@ext.example",
    "percent-literal": "victim%ext.example@[127.0.0.1]",
    "percent-host": "victim%ext.example@mx1.lab.test",
    "percent-elsewhere": "victim%ext.example@other.example",
    "quoted-bare": '"victim@ext.example"',
    "quoted-percent-bare": '"victim%ext.example"',
    "quoted-literal": '"victim@ext.example"@[127.0.0.1]',
    "multi-at-literal": "victim@ext.example@[127.0.0.1]",
    "multi-at-host": "victim@ext.example@mx1.lab.test",
    "route-literal": "@[127.0.0.1]:victim@ext.example",
    "route-host": "@mx1.lab.test:victim@ext.example",
    "bang": "ext.example!victim",
    "bang-literal": "ext.example!victim@[127.0.0.1]",
    "bang-host": "ext.example!victim@mx1.lab.test",
}
LOCAL = {"local", "local-host", "local-literal", "local-bare"}
EVERYONE = {"open", "catch-all"}
# Which policies (besides open/catch-all) accept each non-local form.
TRICK_ACCEPTED_BY = {
    "plain": set(),
    "percent-literal": {"percent-hack"},
    "percent-host": {"percent-hack"},
    "percent-elsewhere": set(),  # a % form, but its first hop is not us
    "quoted-bare": {"quoted"},
    "quoted-percent-bare": {"quoted"},
    "quoted-literal": {"quoted"},
    "multi-at-literal": {"multi-at"},
    "multi-at-host": {"multi-at"},
    "route-literal": {"source-route"},
    "route-host": {"source-route"},
    "bang": {"bang-path"},
    "bang-literal": {"bang-path"},
    "bang-host": {"bang-path"},
}


def _expected(policy: str, form: str) -> int:
    if policy == "greylist":
        return 451
    if policy == "auth-required":
        return 530
    if form in LOCAL or policy in EVERYONE or policy in TRICK_ACCEPTED_BY[form]:
        return 250
    return 454 if policy == "postfix-default" else 554


@pytest.mark.parametrize("policy", RELAY_POLICIES)
async def test_relay_policy_answers_for_each_recipient_form(policy: str) -> None:
    profile = SmtpProfile(preset="postfix", relay=policy, local_domains=("lab.test",))
    async with SmtpServer(profile) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        assert (await c.cmd("MAIL FROM:<probe@me.test>"))[0] == 250
        got = {}
        for form, address in FORMS.items():
            code, text = await c.cmd(f"RCPT TO:<{address}>")
            got[form] = code
            if code == 554:
                assert text[0] == f"5.7.1 <{address}>: Relay access denied"
            if code == 454:
                assert text[0] == f"4.7.1 <{address}>: Relay access denied"
            if code == 451:
                assert "4.7.1" in text[0] and "reylist" in text[0]
            if code == 530:
                assert text[0] == "5.7.0 Authentication required"
        assert got == {form: _expected(policy, form) for form in FORMS}
        await c.cmd("QUIT")
        await c.close()
        assert srv.sessions[0].data_seen is False


async def test_relay_judges_ipv6_literals_against_the_listening_address() -> None:
    profile = SmtpProfile(preset="postfix", relay="percent-hack")
    async with SmtpServer(profile, host="::1") as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        await c.cmd("MAIL FROM:<>")
        assert (await c.cmd("RCPT TO:<postmaster@[IPv6:::1]>"))[0] == 250
        assert (await c.cmd("RCPT TO:<postmaster@[IPv6:0:0:0:0:0:0:0:1]>"))[0] == 250
        assert (await c.cmd("RCPT TO:<victim%ext.example@[IPv6:::1]>"))[0] == 250
        assert (await c.cmd("RCPT TO:<@[IPv6:::1]:victim@ext.example>"))[0] == 554
        assert (await c.cmd("RCPT TO:<postmaster@[127.0.0.1]>"))[0] == 554  # not this server
        assert (await c.cmd("RCPT TO:<postmaster@[IPv6:::1>"))[0] == 501
        await c.close()


async def test_relay_refusal_text_follows_the_preset() -> None:
    async with SmtpServer(SmtpProfile(preset="qmail", relay="closed")) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("HELO me.test")
        await c.cmd("MAIL FROM:<a@b.test>")
        code, text = await c.cmd("RCPT TO:<victim@ext.example>")
        assert code == 553 and "rcpthosts" in text[0]
        await c.close()


# -- TLS -----------------------------------------------------------------------------------------


async def _starttls(c: Raw, ctx: ssl.SSLContext, server_hostname: str) -> None:
    await asyncio.wait_for(c.writer.start_tls(ctx, server_hostname=server_hostname), 5)


@pytest.mark.parametrize("name", [HOST, "127.0.0.1"])
async def test_starttls_good_cert_verifies_against_the_lab_ca(certs: LabCerts, name: str) -> None:
    async with SmtpServer(SmtpProfile(preset="postfix", tls="good"), certs=certs) as srv:
        c = await Raw.open(srv)
        await c.reply()
        code, ehlo = await c.cmd("EHLO me.test")
        assert "STARTTLS" in ehlo
        assert (await c.cmd("STARTTLS"))[0] == 220
        ctx = ssl.create_default_context(cafile=certs.ca_pem_path)
        await _starttls(c, ctx, name)
        assert c.writer.get_extra_info("ssl_object") is not None
        code, ehlo = await c.cmd("EHLO me.test")
        assert code == 250 and "STARTTLS" not in ehlo
        assert (await c.cmd("STARTTLS"))[0] == 554  # already active
        await c.cmd("QUIT")
        await c.close()
        await _closed(srv)
        assert srv.sessions[0].tls is True
        assert ("*", "TLS established") in srv.sessions[0].transcript


async def test_starttls_good_cert_over_ipv6(certs: LabCerts) -> None:
    profile = SmtpProfile(preset="exim", tls="good")
    async with SmtpServer(profile, host="::1", certs=certs) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        assert (await c.cmd("STARTTLS"))[0] == 220
        await _starttls(c, certs.client_context(), "::1")
        assert (await c.cmd("EHLO me.test"))[0] == 250
        await c.close()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("self-signed", "self-signed"), ("expired", "expired"), ("wrong-host", "Hostname mismatch")],
)
async def test_starttls_bad_certs_fail_verification(
    certs: LabCerts, kind: str, reason: str
) -> None:
    async with SmtpServer(SmtpProfile(preset="postfix", tls=kind), certs=certs) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        assert (await c.cmd("STARTTLS"))[0] == 220
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await _starttls(c, certs.client_context(), HOST)
        assert reason.lower() in info.value.verify_message.lower()
        await c.close()
        assert await _closed(srv) == "client"
        assert any(
            "TLS handshake failed" in text for d, text in srv.sessions[0].transcript if d == "*"
        )


async def test_bad_certs_still_encrypt_without_verification(certs: LabCerts) -> None:
    # The failure above is verification, not a broken server: an unverified client connects.
    async with SmtpServer(SmtpProfile(preset="postfix", tls="self-signed"), certs=certs) as srv:
        c = await Raw.open(srv)
        await c.reply()
        await c.cmd("EHLO me.test")
        await c.cmd("STARTTLS")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        await _starttls(c, ctx, HOST)
        assert (await c.cmd("NOOP"))[0] == 250
        await c.close()


async def test_implicit_tls(certs: LabCerts) -> None:
    profile = SmtpProfile(preset="postfix", implicit_tls=True)
    async with SmtpServer(profile, certs=certs) as srv:
        c = await Raw.open(srv, ssl=certs.client_context(), server_hostname=HOST)
        code, greeting = await c.reply()
        assert code == 220 and greeting == ["mx1.lab.test ESMTP Postfix"]
        code, ehlo = await c.cmd("EHLO me.test")
        assert "STARTTLS" not in ehlo
        await c.cmd("QUIT")
        await c.close()
        await _closed(srv)
        assert srv.sessions[0].tls is True


async def test_implicit_tls_expired_cert_is_refused_by_a_verifying_client(certs: LabCerts) -> None:
    profile = SmtpProfile(preset="postfix", implicit_tls=True, tls="expired")
    async with SmtpServer(profile, certs=certs) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            await Raw.open(srv, ssl=certs.client_context(), server_hostname=HOST)
        assert await _closed(srv) == "client"
        assert srv.sessions[0].tls is False


def test_labcerts_cleans_up_its_directory() -> None:
    lab = LabCerts()
    lab.files("good", HOST)
    path = lab.ca_pem_path
    assert os.path.exists(path)
    lab.close()
    assert not os.path.exists(os.path.dirname(path))


def test_tls_profile_needs_certs_and_profiles_are_validated() -> None:
    with pytest.raises(ValueError):
        SmtpServer(SmtpProfile(tls="good"))
    with pytest.raises(ValueError):
        SmtpProfile(preset="nope")
    with pytest.raises(ValueError):
        SmtpProfile(relay="nope")
    with pytest.raises(ValueError):
        SmtpProfile(hostile="nope")
    with pytest.raises(ValueError):
        SmtpProfile(tls="nope")


# -- greet pause and postscreen -----------------------------------------------------------------


async def test_greet_pause_rejects_early_talkers_and_greets_patient_ones() -> None:
    async with SmtpServer(SmtpProfile(preset="sendmail", greeting_delay=0.3)) as srv:
        early = await Raw.open(srv)
        await early.send("EHLO rude.test")
        code, _ = await early.reply()
        assert code == 554
        assert await _closed(srv, 0) == "server"
        await early.close()
        patient = await Raw.open(srv)
        code, _ = await patient.reply()
        assert code == 220
        await patient.close()


async def test_postscreen_rejects_a_client_that_speaks_after_the_first_line() -> None:
    async with SmtpServer(SmtpProfile(preset="postscreen", postscreen_pause=0.3)) as srv:
        c = await Raw.open(srv)
        assert await c.line() == "220-mx1.lab.test ESMTP Postfix"
        await c.send("EHLO rude.test")
        code, _ = await c.reply()
        assert code == 554
        assert await _closed(srv) == "server"
        await c.close()


# -- hostile behaviours --------------------------------------------------------------------------


def _hostile(name: str, **kw: object) -> SmtpServer:
    assert name in HOSTILE
    return SmtpServer(SmtpProfile(preset="postfix", hostile=name, **kw))  # type: ignore[arg-type]


async def test_silent_never_sends_anything() -> None:
    async with _hostile("silent") as srv:
        c = await Raw.open(srv)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.reader.read(1), 0.3)
        await c.close()
        assert await _closed(srv) == "client"
        assert not [t for d, t in srv.sessions[0].transcript if d == "S"]


async def test_drip_sends_one_byte_at_a_time() -> None:
    async with _hostile("drip", drip_interval=0.2) as srv:
        c = await Raw.open(srv)
        first = await asyncio.wait_for(c.reader.read(100), 2)
        second = await asyncio.wait_for(c.reader.read(100), 2)
        assert (first, second) == (b"2", b"2")
        await c.close()
        assert await _closed(srv) in ("client", "reset")  # the drip ends with the client
    async with _hostile("drip", drip_interval=0.001) as srv:
        c = await Raw.open(srv)
        assert await c.reply() == (220, ["mx1.lab.test ESMTP Postfix"])
        await c.close()


async def test_huge_greeting_has_no_newline_and_stops_when_client_leaves() -> None:
    async with _hostile("huge-greeting") as srv:
        c = await Raw.open(srv)
        got = b""
        while len(got) < 1024 * 1024:
            chunk = await asyncio.wait_for(c.reader.read(65536), 5)
            assert chunk
            got += chunk
        assert got.startswith(b"220 ") and b"\n" not in got
        await c.close()
        assert await _closed(srv) in ("client", "reset")


async def test_binary_garbage() -> None:
    async with _hostile("binary") as srv:
        c = await Raw.open(srv)
        got = await asyncio.wait_for(c.reader.readexactly(4096), 5)
        assert not got[:3].isdigit()
        assert any(b > 127 for b in got)
        await c.close()
        assert await _closed(srv) in ("client", "reset")


async def test_endless_continuation_lines() -> None:
    async with _hostile("endless-continuation") as srv:
        c = await Raw.open(srv)
        for _ in range(300):
            line = await c.line()
            assert line.startswith("220-")
        await c.close()
        assert await _closed(srv) in ("client", "reset")


@pytest.mark.parametrize(("name", "code"), [("greet-421", 421), ("greet-554", 554)])
async def test_greet_refusal_then_close(name: str, code: int) -> None:
    async with _hostile(name) as srv:
        c = await Raw.open(srv)
        got, _ = await c.reply()
        assert got == code
        with pytest.raises((EOFError, ConnectionError)):
            await c.line()
        assert await _closed(srv) == "server"
        await c.close()


async def test_reset_mid_sends_rst_after_ehlo() -> None:
    async with _hostile("reset-mid") as srv:
        c = await Raw.open(srv)
        assert (await c.reply())[0] == 220
        await c.send("EHLO me.test")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(c.reader.read(100), 5)
        assert await _closed(srv) == "reset"
        await c.close()


async def test_starttls_broken_offers_tls_then_sends_garbage() -> None:
    async with _hostile("starttls-broken") as srv:
        c = await Raw.open(srv)
        await c.reply()
        code, ehlo = await c.cmd("EHLO me.test")
        assert "STARTTLS" in ehlo
        assert (await c.cmd("STARTTLS"))[0] == 220
        ctx = ssl.create_default_context()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _starttls(c, ctx, HOST)
        await c.close()
        assert await _closed(srv) == "server"


async def test_stop_is_prompt_with_clients_still_connected() -> None:
    servers = [
        _hostile("huge-greeting"),
        _hostile("endless-continuation"),
        _hostile("silent"),
        _hostile("drip"),
        SmtpServer(SmtpProfile(preset="postfix")),
    ]
    clients = []
    for srv in servers:
        await srv.start()
        clients.append(await Raw.open(srv))  # none of them reads: buffers fill up
    await clients[-1].send("EHLO me.test")
    for srv in servers:
        while not srv.sessions:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    # Bounded: a stop() that blocks fails here rather than hanging the suite.
    await asyncio.wait_for(asyncio.gather(*(srv.stop() for srv in servers)), 5)
    for srv in servers:
        assert srv.sessions[0].closed_by is not None
        assert not srv._tasks
    for c in clients:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            # After stop every client sees the end of the stream (after whatever was sent).
            while await asyncio.wait_for(c.reader.read(1 << 20), 5):
                pass
        await c.close()
