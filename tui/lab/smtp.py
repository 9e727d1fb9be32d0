"""A real SMTP server on loopback that impersonates common MTAs, relay policies and hostile
behaviours, and records every session.

    certs = LabCerts()
    profile = SmtpProfile(preset="postfix", hostname="mx1.lab.test", relay="closed",
                          local_domains=("lab.test",), tls="good")
    async with SmtpServer(profile, host="127.0.0.1", port=0, certs=certs) as srv:
        ... connect to srv.host, srv.port ...
        srv.sessions[0].commands      # client lines as received
        srv.sessions[0].data_seen     # True if DATA or BDAT ever arrived

Why our own server instead of aiosmtpd: the lab must misbehave on purpose (drip, 10 MB
greetings, RST after EHLO, broken STARTTLS, greet-pause) and answer with the exact reply
texts of the software it impersonates; both are easier in a small explicit command loop.

Greetings never contain the real clock (a fixed date) so that snapshot tests stay stable.
Relay decisions are made at RCPT from the *form* of the recipient (see classify_recipient):
a recipient is local only if its final domain is ours and it carries no relay trick
(% hack, bang path, quoted @/%, source route, second unquoted @).

``Session.closed_by``: "client" (QUIT, EOF, TLS handshake abandoned), "server" (the lab
closed it: hostile behaviour, line too long, idle timeout, stop()), "reset" (a TCP reset:
reset-mid, or the client reset the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import ssl
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tui.lab.certs import LabCerts

MAX_LINE = 4096  # a client line longer than this is dropped (RFC 5321 allows 512)
MAX_MESSAGE = 1024 * 1024  # DATA/BDAT bytes kept per session; more is read and discarded
MAX_COMMANDS = 5000  # per session, so a runaway client cannot grow memory without bound
IDLE_TIMEOUT = 60.0  # seconds between client lines before the lab gives up (RFC: 5 min)
TLS_HANDSHAKE_TIMEOUT = 10.0
HUGE_GREETING_BYTES = 10 * 1024 * 1024
BINARY_BYTES = 256 * 1024
DEFAULT_HOST = "mx1.lab.test"
DEFAULT_IP = "127.0.0.1"
# Fixed dates (3 Nov 2026 is a Tuesday): real greetings carry the time, snapshots must not.
DATE = "Tue, 3 Nov 2026 10:00:00 +0100"
DATE_PADDED = "Tue, 03 Nov 2026 10:00:00 +0100"

RelayPolicy = Literal[
    "closed",
    "open",
    "percent-hack",
    "bang-path",
    "quoted",
    "source-route",
    "multi-at",
    "greylist",
    "auth-required",
    "catch-all",
    "postfix-default",
]
RELAY_POLICIES: tuple[str, ...] = RelayPolicy.__args__  # type: ignore[attr-defined]

Hostile = Literal[
    "silent",
    "drip",
    "huge-greeting",
    "binary",
    "endless-continuation",
    "greet-421",
    "greet-554",
    "reset-mid",
    "starttls-broken",
]
HOSTILE: tuple[str, ...] = Hostile.__args__  # type: ignore[attr-defined]

TlsKind = Literal["good", "self-signed", "expired", "wrong-host"]
TLS_KINDS: tuple[str, ...] = TlsKind.__args__  # type: ignore[attr-defined]

# Which relay trick each trick policy falls for.
TRICK_POLICY: dict[str, str] = {
    "percent": "percent-hack",
    "bang": "bang-path",
    "quoted": "quoted",
    "source-route": "source-route",
    "multi-at": "multi-at",
}


# -- presets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preset:
    """How one MTA talks. Texts are templates: {host} (server name), {date}, {client} (the
    EHLO/HELO argument), {ip} (client IP), {addr} (the MAIL/RCPT address), {domain} (its
    domain), {verb} (the command word). Reply texts in ``replies`` are "code text"."""

    key: str
    software: str  # what it impersonates, "" when it names no software
    greeting_t: tuple[str, ...]
    ehlo_t: tuple[str, ...]  # first line is the hello line; "STARTTLS" is dropped if not offered
    helo_t: str
    help_code: int
    help_t: tuple[str, ...]
    replies: Mapping[str, str]

    @property
    def greeting(self) -> tuple[str, ...]:
        """Greeting lines (text after the code) as the default lab host sends them."""
        return self.greeting_for(DEFAULT_HOST)

    @property
    def ehlo(self) -> tuple[str, ...]:
        return self.ehlo_for(DEFAULT_HOST, "client.lab.test", DEFAULT_IP, starttls=True)

    @property
    def help(self) -> tuple[str, ...]:
        return tuple(_fmt(t, host=DEFAULT_HOST) for t in self.help_t)

    def greeting_for(self, host: str) -> tuple[str, ...]:
        return tuple(_fmt(t, host=host) for t in self.greeting_t)

    def ehlo_for(self, host: str, client: str, ip: str, *, starttls: bool) -> tuple[str, ...]:
        lines = [_fmt(t, host=host, client=client, ip=ip) for t in self.ehlo_t]
        if not starttls:
            lines = [line for line in lines if line.upper() != "STARTTLS"]
        elif "STARTTLS" not in lines:
            lines.insert(max(1, len(lines) - 1), "STARTTLS")
        return tuple(lines)

    def reply(self, name: str, **values: str) -> tuple[int, str]:
        text = self.replies.get(name) or _DEFAULT_REPLIES[name]
        code, _, rest = text.partition(" ")
        return int(code), _fmt(rest, **values)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _fmt(template: str, **values: str) -> str:
    return template.format_map(_Blank(date=DATE, date_padded=DATE_PADDED, **values))


# RFC 5321 style defaults; presets override what their software says differently.
_DEFAULT_REPLIES: dict[str, str] = {
    "mail_ok": "250 2.1.0 Ok",
    "rcpt_ok": "250 2.1.5 Ok",
    "relay_denied": "550 5.7.1 <{addr}>: Relay access denied",
    "unknown": "500 5.5.2 Error: command not recognized",
    "not_implemented": "502 5.5.1 Error: command not implemented",
    "vrfy": "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
    "noop": "250 2.0.0 Ok",
    "rset": "250 2.0.0 Ok",
    "data": "354 End data with <CR><LF>.<CR><LF>",
    "queued": "250 2.0.0 Ok: queued as 4F2A1B3C9D",
    "quit": "221 2.0.0 Bye",
    "starttls": "220 2.0.0 Ready to start TLS",
    "tls_active": "554 5.5.1 Error: TLS already active",
    "need_helo": "503 5.5.1 Error: send HELO/EHLO first",
    "need_mail": "503 5.5.1 Error: need MAIL command",
    "need_rcpt": "554 5.5.1 Error: no valid recipients",
    "nested_mail": "503 5.5.1 Error: nested MAIL command",
    "bad_sender": "501 5.1.7 Bad sender address syntax",
    "bad_rcpt": "501 5.1.3 Bad recipient address syntax",
    "helo_syntax": "501 Syntax: EHLO hostname",
    "bad_syntax": "500 5.5.2 Error: bad syntax",
    "too_big": "552 5.3.4 Error: message file too big",
    "too_long": "500 5.5.0 Line too long",
    "timeout": "421 4.4.2 {host} Error: timeout exceeded",
    "bdat_ok": "250 2.0.0 Ok: {size} octets received",
}

# Common policy replies (the contract fixes these across presets).
GREYLIST = "451 4.7.1 <{addr}>: Recipient address rejected: Greylisted, please try again later"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
POSTFIX_DEFAULT = "454 4.7.1 <{addr}>: Relay access denied"
UNKNOWN_DOMAIN = "550 5.1.2 <{addr}>: Recipient address rejected: Domain not found"
GREET_421 = "421 4.3.2 {host} Service not available, closing transmission channel"
GREET_554 = "554 5.7.1 {host} ESMTP not accepting messages"
EARLY_TALKER = "554 5.5.1 {host} Protocol error: talking before the greeting"

_POSTFIX_EHLO = (
    "{host}",
    "PIPELINING",
    "SIZE 10240000",
    "VRFY",
    "ETRN",
    "STARTTLS",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
    "DSN",
    "SMTPUTF8",
    "CHUNKING",
)
_POSTFIX_REPLIES = {
    "relay_denied": "554 5.7.1 <{addr}>: Relay access denied",
    "unknown": "502 5.5.2 Error: command not recognized",
    "vrfy": "252 2.0.0 {addr}",
}


def _postfix(key: str, greeting: tuple[str, ...], software: str = "Postfix") -> Preset:
    # Postfix has no HELP command: it answers 502 like any unknown verb.
    return Preset(
        key=key,
        software=software,
        greeting_t=greeting,
        ehlo_t=_POSTFIX_EHLO,
        helo_t="{host}",
        help_code=502,
        help_t=("5.5.2 Error: command not recognized",),
        replies=_POSTFIX_REPLIES,
    )


_PRESET_LIST: tuple[Preset, ...] = (
    Preset(
        key="sendmail",
        software="Sendmail 8.17.1",
        greeting_t=("{host} ESMTP Sendmail 8.17.1/8.17.1; {date}",),
        ehlo_t=(
            "{host} Hello {client} [{ip}], pleased to meet you",
            "ENHANCEDSTATUSCODES",
            "PIPELINING",
            "8BITMIME",
            "SIZE",
            "DSN",
            "ETRN",
            "STARTTLS",
            "DELIVERBY",
            "HELP",
        ),
        helo_t="{host} Hello {client} [{ip}], pleased to meet you",
        help_code=214,
        help_t=(
            "2.0.0 This is sendmail version 8.17.1",
            "2.0.0 Topics:",
            "2.0.0 \tHELO\tEHLO\tMAIL\tRCPT\tDATA",
            "2.0.0 \tRSET\tNOOP\tQUIT\tHELP\tVRFY",
            "2.0.0 \tEXPN\tVERB\tETRN\tDSN\tAUTH",
            "2.0.0 \tSTARTTLS",
            '2.0.0 For more info use "HELP <topic>".',
            "2.0.0 To report bugs in the implementation see",
            "2.0.0 \thttp://www.sendmail.org/email-addresses.html",
            "2.0.0 For local information send email to Postmaster at your site.",
            "2.0.0 End of HELP info",
        ),
        replies={
            "mail_ok": "250 2.1.0 <{addr}>... Sender ok",
            "rcpt_ok": "250 2.1.5 <{addr}>... Recipient ok",
            "relay_denied": "550 5.7.1 <{addr}>... Relaying denied",
            "unknown": '500 5.5.1 Command unrecognized: "{verb}"',
            "vrfy": "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
            "rset": "250 2.0.0 Reset state",
            "data": '354 Enter mail, end with "." on a line by itself',
            "queued": "250 2.0.0 5A3A0B0C012345 Message accepted for delivery",
            "quit": "221 2.0.0 {host} closing connection",
            "need_helo": "503 5.0.0 Polite people say HELO first",
            "need_mail": "503 5.0.0 Need MAIL before RCPT",
            "need_rcpt": "503 5.0.0 Need RCPT (recipient)",
            "nested_mail": "503 5.5.0 Sender already specified",
            "bad_sender": "553 5.1.3 <{addr}>... Domain name required for sender address",
            "bad_rcpt": "553 5.1.3 <{addr}>... User address required",
            "helo_syntax": "501 5.0.0 HELO requires domain address",
        },
    ),
    _postfix("postfix", ("{host} ESMTP Postfix",)),
    _postfix("postfix-debian", ("{host} ESMTP Postfix (Debian/GNU)",)),
    _postfix("postfix-ubuntu", ("{host} ESMTP Postfix (Ubuntu)",)),
    _postfix(
        "postfix-multiline",
        ("{host} ESMTP Postfix", "No UCE, no relaying, no unauthorized use of this system."),
    ),
    # postscreen: "220-" at once, the final "220 " only after the greet pause.
    _postfix("postscreen", ("{host} ESMTP Postfix", "{host} ESMTP Postfix")),
    Preset(
        key="qmail",
        software="qmail",
        greeting_t=("{host} ESMTP",),
        ehlo_t=("{host}", "STARTTLS", "PIPELINING", "8BITMIME"),
        helo_t="{host}",
        help_code=214,
        help_t=("qmail home page: http://pobox.com/~djb/qmail.html",),
        replies={
            "mail_ok": "250 ok",
            "rcpt_ok": "250 ok",
            # qmail-smtpd's rcpthosts refusal is really 553.
            "relay_denied": "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
            "unknown": "502 unimplemented (#5.5.1)",
            "not_implemented": "502 unimplemented (#5.5.1)",
            "vrfy": "252 send some mail, i'll try my best",
            "noop": "250 ok",
            "rset": "250 flushed",
            "data": "354 go ahead",
            "queued": "250 ok 1793696400 qp 4242",
            "quit": "221 {host}",
            "starttls": "220 ready for tls",
            "need_helo": "503 5.5.1 send HELO/EHLO first",
            "need_mail": "503 MAIL first (#5.5.1)",
            "need_rcpt": "503 RCPT first (#5.5.1)",
            "nested_mail": "503 5.5.1 nested MAIL command",
            "bad_sender": "555 syntax error (#5.5.4)",
            "bad_rcpt": "555 syntax error (#5.5.4)",
            "helo_syntax": "501 5.5.4 syntax error",
        },
    ),
    Preset(
        key="exim",
        software="Exim 4.97",
        greeting_t=("{host} ESMTP Exim 4.97 {date_padded}",),
        ehlo_t=(
            "{host} Hello {client} [{ip}]",
            "SIZE 52428800",
            "8BITMIME",
            "PIPELINING",
            "PIPECONNECT",
            "CHUNKING",
            "STARTTLS",
            "PRDR",
            "HELP",
        ),
        helo_t="{host} Hello {client} [{ip}]",
        help_code=214,
        help_t=(
            "Commands supported:",
            "AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP",
        ),
        replies={
            "mail_ok": "250 OK",
            "rcpt_ok": "250 Accepted",
            "relay_denied": "550 relay not permitted",
            "unknown": "500 unrecognized command",
            "vrfy": "252 Administrative prohibition",
            "noop": "250 OK",
            "rset": "250 Reset OK",
            "data": '354 Enter message, ending with "." on a line by itself',
            "queued": "250 OK id=1uA2b3-000Cde-4F",
            "quit": "221 {host} closing connection",
            "starttls": "220 TLS go ahead",
            "need_helo": "503 HELO or EHLO required",
            "need_mail": "503 sender not yet given",
            "need_rcpt": "503 valid RCPT command must precede DATA",
            "nested_mail": "503 sender already given",
            "bad_sender": "501 <{addr}>: malformed address",
            "bad_rcpt": "501 <{addr}>: malformed address",
            "helo_syntax": "501 Syntactically invalid EHLO argument(s)",
        },
    ),
    Preset(
        key="imail",
        software="IMail 12.5.7",
        greeting_t=("{host} (IMail 12.5.7 2134-1) NT-ESMTP Server X1",),
        ehlo_t=(
            "{host} says hello",
            "SIZE 0",
            "8BITMIME",
            "DSN",
            "ETRN",
            "STARTTLS",
            "AUTH LOGIN CRAM-MD5",
            "AUTH=LOGIN",
            "EHLO",
        ),
        helo_t="{host} says hello",
        help_code=214,
        help_t=(
            "Commands:",
            "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY ETRN",
            "End of HELP info",
        ),
        replies={
            "mail_ok": "250 ok",
            "rcpt_ok": "250 ok its for <{addr}>",
            "relay_denied": "550 not local host {domain}, not a gateway",
            "unknown": "502 unimplemented",
            "not_implemented": "502 unimplemented",
            "vrfy": "252 Cannot VRFY user",
            "noop": "250 ok",
            "rset": "250 ok",
            "data": "354 Start mail input; end with <CRLF>.<CRLF>",
            "queued": "250 Message queued",
            "quit": "221 Goodbye",
            "starttls": "220 Ready to start TLS",
        },
    ),
    Preset(
        key="intermail",
        software="InterMail vM.8.04.03.22",
        greeting_t=(
            "{host} ESMTP server (InterMail vM.8.04.03.22 201-2389-100-172-20160420) ready {date}",
        ),
        ehlo_t=(
            "{host}",
            "HELP",
            "PIPELINING",
            "DSN",
            "8BITMIME",
            "STARTTLS",
            "SIZE 20971520",
        ),
        helo_t="{host}",
        help_code=214,
        help_t=(
            "This SMTP server is a part of the InterMail E-mail system.  For",
            "information about InterMail, please see http://www.openwave.com",
            "",
            "      Supported commands:",
            "",
            "           EHLO     HELO     MAIL     RCPT     DATA",
            "           VRFY     RSET     NOOP     QUIT",
            "",
            "      SMTP Extensions supported through EHLO:",
            "",
            "           EXPN     HELP     SIZE",
            "",
            'For more information about a listed topic, use "HELP <topic>"',
            "Please report mail-related problems to Postmaster at this site.",
        ),
        replies={
            "mail_ok": "250 Sender <{addr}> Ok",
            "rcpt_ok": "250 Recipient <{addr}> Ok",
            "relay_denied": "550 Invalid recipient: <{addr}>",
            "unknown": "500 Command unrecognized",
            "vrfy": "252 Cannot VRFY user",
            "noop": "250 OK",
            "rset": "250 OK",
            "data": "354 Ok Send data ending with <CRLF>.<CRLF>",
            "queued": "250 Message received: 20261103090000.ABCD1234@{host}",
            "quit": "221 {host} ESMTP server closing connection",
        },
    ),
    Preset(
        key="exchange",
        software="Microsoft Exchange",
        greeting_t=("{host} Microsoft ESMTP MAIL Service ready at {date}",),
        ehlo_t=(
            "{host} Hello [{ip}]",
            "SIZE 37748736",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "X-ANONYMOUSTLS",
            "AUTH NTLM",
            "X-EXPS GSSAPI NTLM",
            "8BITMIME",
            "BINARYMIME",
            "CHUNKING",
            "SMTPUTF8",
            "XRDST",
        ),
        helo_t="{host} Hello [{ip}]",
        help_code=214,
        help_t=(
            "This server supports the following commands:",
            "HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT",
        ),
        replies={
            "mail_ok": "250 2.1.0 Sender OK",
            "rcpt_ok": "250 2.1.5 Recipient OK",
            "relay_denied": "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
            "unknown": "500 5.3.3 Unrecognized command",
            "not_implemented": "500 5.3.3 Unrecognized command",
            "vrfy": "252 2.1.5 Cannot VRFY user, but will take message for <{addr}>",
            "noop": "250 2.0.0 OK",
            "rset": "250 2.0.0 Resetting",
            "data": "354 Start mail input; end with <CRLF>.<CRLF>",
            "queued": "250 2.6.0 <lab1@{host}> [InternalId=1, Hostname={host}] Queued mail for delivery",
            "quit": "221 2.0.0 Service closing transmission channel",
            "starttls": "220 2.0.0 SMTP server ready",
            "need_helo": "503 5.5.2 Send hello first",
            "need_mail": "503 5.5.2 Need mail command",
            "need_rcpt": "503 5.5.2 Need rcpt command",
            "nested_mail": "503 5.5.2 Sender already specified",
            "bad_sender": "501 5.1.7 Invalid address",
            "bad_rcpt": "501 5.1.3 Invalid address",
            "helo_syntax": "501 5.5.4 Invalid domain name",
        },
    ),
    Preset(
        key="exchange-2003",
        software="Microsoft Exchange 2003 (IIS SMTP 6.0)",
        greeting_t=(
            "{host} Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  {date}",
        ),
        ehlo_t=(
            "{host} Hello [{ip}]",
            "TURN",
            "SIZE",
            "ETRN",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "8bitmime",
            "BINARYMIME",
            "CHUNKING",
            "VRFY",
            "X-EXPS GSSAPI NTLM LOGIN",
            "X-EXPS=LOGIN",
            "AUTH GSSAPI NTLM LOGIN",
            "AUTH=LOGIN",
            "X-LINK2STATE",
            "XEXCH50",
            "STARTTLS",
            "OK",
        ),
        helo_t="{host} Hello [{ip}]",
        help_code=214,
        help_t=(
            "This server supports the following commands:",
            "HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH TURN ETRN BDAT VRFY",
        ),
        replies={
            "mail_ok": "250 2.1.0 {addr}....Sender OK",
            "rcpt_ok": "250 2.1.5 {addr}",
            "relay_denied": "550 5.7.1 Unable to relay for {addr}",
            "unknown": "500 5.3.3 Unrecognized command",
            "not_implemented": "500 5.3.3 Unrecognized command",
            "vrfy": "252 2.1.5 Cannot VRFY user, but will take message for <{addr}>",
            "noop": "250 2.0.0 OK",
            "rset": "250 2.0.0 Resetting",
            "data": "354 Start mail input; end with <CRLF>.<CRLF>",
            "queued": "250 2.6.0 <lab1@{host}> Queued mail for delivery",
            "quit": "221 2.0.0 {host} Service closing transmission channel",
            "starttls": "220 2.0.0 SMTP server ready",
        },
    ),
    Preset(
        key="exchange-online",
        software="Microsoft Exchange Online",
        greeting_t=(
            "{host} Microsoft ESMTP MAIL Service ready at Tue, 3 Nov 2026 09:00:00 +0000 "
            "[08DE1A2B3C4D5E6F]",
        ),
        ehlo_t=(
            "{host} Hello [{ip}]",
            "SIZE 157286400",
            "PIPELINING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
            "8BITMIME",
            "BINARYMIME",
            "CHUNKING",
            "SMTPUTF8",
        ),
        helo_t="{host} Hello [{ip}]",
        help_code=214,
        help_t=(
            "This server supports the following commands:",
            "HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT",
        ),
        replies={
            "mail_ok": "250 2.1.0 Sender OK",
            "rcpt_ok": "250 2.1.5 Recipient OK",
            "relay_denied": "550 5.7.64 TenantAttribution; Relay Access Denied",
            "unknown": "500 5.3.3 Unrecognized command",
            "not_implemented": "500 5.3.3 Unrecognized command",
            "vrfy": "252 2.1.5 Cannot VRFY user, but will take message for <{addr}>",
            "noop": "250 2.0.0 OK",
            "rset": "250 2.0.0 Resetting",
            "data": "354 Start mail input; end with <CRLF>.<CRLF>",
            "queued": "250 2.6.0 <lab1@{host}> [InternalId=1] Queued mail for delivery",
            "quit": "221 2.0.0 Service closing transmission channel",
            "starttls": "220 2.0.0 SMTP server ready",
        },
    ),
    Preset(
        key="opensmtpd",
        software="OpenSMTPD",
        greeting_t=("{host} ESMTP OpenSMTPD",),
        ehlo_t=(
            "{host} Hello {client} [{ip}], pleased to meet you",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "SIZE 36700160",
            "DSN",
            "STARTTLS",
            "HELP",
        ),
        helo_t="{host} Hello {client} [{ip}], pleased to meet you",
        help_code=214,
        help_t=(
            "2.0.0 This is OpenSMTPD",
            "2.0.0 To report bugs in the implementation, please contact bugs@openbsd.org",
            "2.0.0 with full details",
            "2.0.0 End of HELP info",
        ),
        replies={
            "mail_ok": "250 2.0.0 Ok",
            "rcpt_ok": "250 2.1.5 Destination address valid: Recipient ok",
            "relay_denied": "550 Invalid recipient: <{addr}>",
            "unknown": "500 5.5.1 Invalid command: Command unrecognized",
            "not_implemented": "500 5.5.1 Invalid command: Command unrecognized",
            "vrfy": "252 2.5.2 Cannot VRFY user",
            "noop": "250 2.0.0 Ok",
            "rset": "250 2.0.0 Reset state",
            "data": '354 Enter mail, end with "." on a line by itself',
            "queued": "250 2.0.0 1a2b3c4d Message accepted for delivery",
            "quit": "221 2.0.0 Bye",
            "need_helo": "503 5.5.1 Invalid command: Polite people say HELO first",
            "need_mail": "503 5.5.1 Invalid command: No sender specified",
            "need_rcpt": "503 5.5.1 Invalid command: No recipient specified",
            "nested_mail": "503 5.5.1 Invalid command: Only one MAIL FROM allowed",
            "bad_sender": "553 5.1.7 Sender address syntax error",
            "bad_rcpt": "553 5.1.3 Recipient address syntax error",
        },
    ),
    Preset(
        key="haraka",
        software="Haraka 3.0.3",
        greeting_t=("{host} ESMTP Haraka/3.0.3 ready",),
        ehlo_t=(
            "{host} Hello {client} [{ip}], Haraka is at your service.",
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "SIZE 0",
            "STARTTLS",
        ),
        helo_t="{host} Hello {client} [{ip}], Haraka is at your service.",
        help_code=250,
        help_t=("Not implemented",),
        replies={
            "mail_ok": "250 sender <{addr}> OK",
            "rcpt_ok": "250 recipient <{addr}> OK",
            "relay_denied": "550 I cannot deliver mail for <{addr}>",
            "unknown": "500 Unrecognized command",
            "not_implemented": "500 Unrecognized command",
            "vrfy": "252 Just try sending a mail and we'll see how it turns out ...",
            "noop": "250 OK",
            "rset": "250 OK",
            "data": "354 go ahead, make my day",
            "queued": "250 Message Queued (6D9C0A1E-1B2C-4D3E-8F40-51A2B3C4D5E6.1)",
            "quit": "221 {host} closing connection. Have a jolly good day.",
            "starttls": "220 Go ahead.",
        },
    ),
    Preset(
        key="mdaemon",
        software="MDaemon 23.5.2",
        greeting_t=("{host} ESMTP MDaemon 23.5.2; {date_padded}",),
        ehlo_t=(
            "{host} Hello {client}, pleased to meet you",
            "ETRN",
            "AUTH LOGIN CRAM-MD5 PLAIN",
            "8BITMIME",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "SIZE 31457280",
        ),
        helo_t="{host} Hello {client}, pleased to meet you",
        help_code=214,
        help_t=(
            "Commands supported:",
            "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY ETRN AUTH STARTTLS",
        ),
        replies={
            "mail_ok": "250 2.1.0 Sender OK",
            "rcpt_ok": "250 2.1.5 Recipient OK",
            "relay_denied": "551 5.7.1 Relaying not allowed",
            "unknown": "500 5.5.1 Command unrecognized",
            "quit": "221 2.0.0 See ya in cyberspace",
        },
    ),
    Preset(
        key="mailenable",
        software="MailEnable 10.44",
        greeting_t=(
            "{host} ESMTP MailEnable Service, Version: 10.44-- ready at 11/03/26 10:00:00",
        ),
        ehlo_t=(
            "{host} [{ip}], this server offers 4 extensions",
            "AUTH LOGIN",
            "SIZE 20480000",
            "HELP",
            "AUTH=LOGIN",
            "STARTTLS",
        ),
        helo_t="{host} Welcome {client} [{ip}], pleased to meet you",
        help_code=214,
        help_t=("Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP",),
        replies={
            "mail_ok": "250 Requested mail action okay, completed",
            "rcpt_ok": "250 Requested mail action okay, completed",
            "relay_denied": "503 This mail server requires authentication when attempting to "
            "send to a non-local e-mail address. Please check your mail client settings or "
            "contact your administrator to verify that the domain or address is defined for "
            "this server.",
            "unknown": "500 Command not recognised",
            "quit": "221 Service closing transmission channel",
        },
    ),
    Preset(
        key="kerio",
        software="Kerio Connect 10.0.2",
        greeting_t=("{host} Kerio Connect 10.0.2 ESMTP ready",),
        ehlo_t=(
            "{host}",
            "AUTH CRAM-MD5 PLAIN LOGIN DIGEST-MD5",
            "SIZE 0",
            "DSN",
            "ETRN",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "HELP",
        ),
        helo_t="{host}",
        help_code=214,
        help_t=("2.0.0 Supported commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP",),
        replies={
            "mail_ok": "250 2.1.0 Sender <{addr}> ok",
            "rcpt_ok": "250 2.1.5 Recipient <{addr}> ok",
            "relay_denied": "550 5.7.1 Relaying to <{addr}> denied",
            "unknown": "502 5.5.1 Command not implemented",
            "quit": "221 2.0.0 SMTP closing connection",
        },
    ),
    Preset(
        key="generic",
        software="",
        greeting_t=("{host} ESMTP",),
        ehlo_t=("{host}", "PIPELINING", "SIZE 10485760", "STARTTLS", "8BITMIME"),
        helo_t="{host}",
        help_code=214,
        help_t=("2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY",),
        replies={},
    ),
)

PRESETS: dict[str, Preset] = {p.key: p for p in _PRESET_LIST}


# -- recipients and relay -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the lab makes of an RCPT address.

    ``trick`` names the relay trick the form uses (None for a plain address); ``domain`` is
    the outer (first-hop) domain, None for an unqualified name; ``outer_local`` says that
    first hop is this server (or absent, i.e. our own default domain)."""

    address: str
    local_part: str
    domain: str | None
    trick: str | None
    outer_local: bool

    @property
    def local(self) -> bool:
        return self.outer_local and self.trick is None


class AddressSyntaxError(ValueError):
    pass


def parse_path(argument: str, keyword: str) -> tuple[str, str]:
    """Split "FROM:<addr> PARAMS" / "TO:<addr> PARAMS" into (addr, params). Loose on
    purpose (a space after the colon, a missing <>), strict on structure."""
    head, sep, rest = argument.partition(":")
    if not sep or head.strip().upper() != keyword:
        raise AddressSyntaxError("missing " + keyword + ":")
    rest = rest.strip()
    if not rest.startswith("<"):
        addr, _, params = rest.partition(" ")
        if not addr or ">" in addr:
            raise AddressSyntaxError("bad path")
        return addr, params.strip()
    in_quote = escaped = False
    for i, ch in enumerate(rest[1:], start=1):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_quote = not in_quote
        elif ch == ">" and not in_quote:
            params = rest[i + 1 :]
            if params and not params.startswith(" "):
                raise AddressSyntaxError("junk after path")
            return rest[1:i], params.strip()
    raise AddressSyntaxError("unterminated path")


def _split_mailbox(mailbox: str) -> tuple[str, bool, str | None]:
    """(local part, quoted?, domain or None)."""
    if mailbox.startswith('"'):
        escaped = False
        for i, ch in enumerate(mailbox[1:], start=1):
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                rest = mailbox[i + 1 :]
                if rest == "":
                    return mailbox[: i + 1], True, None
                if rest.startswith("@"):
                    return mailbox[: i + 1], True, rest[1:]
                raise AddressSyntaxError("junk after quoted local part")
        raise AddressSyntaxError("unterminated quoted local part")
    at = mailbox.rfind("@")
    if at < 0:
        return mailbox, False, None
    return mailbox[:at], False, mailbox[at + 1 :]


def _check_domain(domain: str) -> None:
    if domain.startswith("["):
        if not domain.endswith("]"):
            raise AddressSyntaxError("bad address literal")
        _literal_ip(domain)
        return
    labels = domain.rstrip(".").split(".")
    if not domain or any(not lab for lab in labels):
        raise AddressSyntaxError("bad domain")
    for lab in labels:
        if not all(c.isalnum() or c in "-_" for c in lab):
            raise AddressSyntaxError("bad domain")


def _literal_ip(domain: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    inner = domain[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return ipaddress.IPv6Address(inner[5:])
        return ipaddress.IPv4Address(inner)
    except ValueError:
        raise AddressSyntaxError("bad address literal") from None


def _is_own(domain: str | None, names: frozenset[str], ips: frozenset[str]) -> bool:
    if domain is None:
        return True
    if domain.startswith("["):
        ip = _literal_ip(domain)
        mapped = getattr(ip, "ipv4_mapped", None)
        return ip.compressed in ips or (mapped is not None and mapped.compressed in ips)
    return domain.rstrip(".").lower() in names


def classify_recipient(address: str, *, names: frozenset[str], ips: frozenset[str]) -> Recipient:
    """Classify an RCPT address. ``names`` are our hostname and local domains (lower case),
    ``ips`` our own addresses (compressed form). Raises AddressSyntaxError."""
    if not address or any(ord(c) < 33 and c != " " for c in address) or "\x7f" in address:
        raise AddressSyntaxError("empty or control characters")
    trick: str | None = None
    mailbox = address
    route_domain: str | None = None
    if address.startswith("@"):
        # Source route "@hop1,@hop2:user@dom": the first hop is where it goes next.
        colon = _colon_outside_brackets(address)
        route, mailbox = address[:colon], address[colon + 1 :]
        if colon < 0 or not mailbox:
            raise AddressSyntaxError("bad source route")
        hops = [h.strip() for h in route.split(",")]
        for hop in hops:
            if not hop.startswith("@") or len(hop) < 2:
                raise AddressSyntaxError("bad source route")
            _check_domain(hop[1:])
        trick = "source-route"
        route_domain = hops[0][1:]
    local, quoted, domain = _split_mailbox(mailbox)
    if not local or (not quoted and (" " in local or '"' in local)):
        raise AddressSyntaxError("bad local part")
    if domain is not None:
        _check_domain(domain)
    if trick is None:
        if quoted:
            if "@" in local or "%" in local:
                trick = "quoted"
        elif "@" in local:
            trick = "multi-at"
        elif "%" in local:
            trick = "percent"
        elif "!" in local:
            trick = "bang"
    outer = route_domain if route_domain is not None else domain
    return Recipient(
        address=address,
        local_part=local,
        domain=outer,
        trick=trick,
        outer_local=_is_own(outer, names, ips),
    )


def _colon_outside_brackets(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            return i
    return -1


def check_sender(address: str) -> None:
    """Loose MAIL FROM check: <> is fine; otherwise something@something or a bare name."""
    if address == "":
        return
    if any(ord(c) < 32 or c == "\x7f" for c in address):
        raise AddressSyntaxError("control characters")
    mailbox = (
        address[_colon_outside_brackets(address) + 1 :] if address.startswith("@") else address
    )
    local, quoted, domain = _split_mailbox(mailbox)
    if not local or (not quoted and " " in local):
        raise AddressSyntaxError("empty local part or unquoted space")
    if domain is not None:
        _check_domain(domain)


# -- profile and sessions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpProfile:
    preset: str = "postfix"
    hostname: str = DEFAULT_HOST
    relay: str = "closed"
    local_domains: tuple[str, ...] = ("lab.test",)
    hostile: str | None = None
    tls: str | None = None  # None: no STARTTLS; else which certificate (see TLS_KINDS)
    implicit_tls: bool = False  # TLS from the first byte; uses tls or "good" if tls is None
    greeting_delay: float = 0.0  # greet-pause: a client speaking earlier is rejected
    # Lab-only knobs (not in the shared contract; defaults match it):
    postscreen_pause: float = 1.0  # pause between postscreen's "220-" and "220 " lines
    drip_interval: float = 1.0  # seconds per byte for hostile="drip"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; one of {sorted(PRESETS)}")
        if self.relay not in RELAY_POLICIES:
            raise ValueError(f"unknown relay policy {self.relay!r}; one of {RELAY_POLICIES}")
        if self.hostile is not None and self.hostile not in HOSTILE:
            raise ValueError(f"unknown hostile behaviour {self.hostile!r}; one of {HOSTILE}")
        if self.tls is not None and self.tls not in TLS_KINDS:
            raise ValueError(f"unknown tls kind {self.tls!r}; one of {TLS_KINDS}")
        if isinstance(self.local_domains, str):
            raise TypeError("local_domains must be a tuple of names, not a string")

    @property
    def cert_kind(self) -> str | None:
        if self.implicit_tls:
            return self.tls or "good"
        return self.tls


@dataclass
class Session:
    """One client connection as the lab saw it."""

    peer: tuple[str, int]
    local: tuple[str, int]
    commands: list[str] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    data_seen: bool = False
    closed_by: str | None = None
    tls: bool = False
    helo: str | None = None
    mail_from: str | None = None
    rcpts: list[str] = field(default_factory=list)  # accepted recipients
    messages: list[bytes] = field(default_factory=list)  # bodies received (DATA/BDAT)

    def note(self, text: str) -> None:
        self.transcript.append(("*", text))

    def close(self, by: str) -> None:
        if self.closed_by is None:
            self.closed_by = by


class _Drop(Exception):
    """End the session now (the reason is already in the transcript)."""


class _Reset(Exception):
    """End the session with a TCP reset."""


# -- server --------------------------------------------------------------------------------------


class SmtpServer:
    """One lab SMTP listener; every connection gets the profile's behaviour."""

    def __init__(
        self,
        profile: SmtpProfile,
        host: str = "127.0.0.1",
        port: int = 0,
        certs: LabCerts | None = None,
    ) -> None:
        self.profile = profile
        self.preset = PRESETS[profile.preset]
        self.host = host
        self.port = port
        self.certs = certs
        self.sessions: list[Session] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ssl: ssl.SSLContext | None = None
        kind = profile.cert_kind
        if kind is not None and certs is None:
            raise ValueError("a TLS profile needs certs=LabCerts()")
        if kind is not None and certs is not None:
            self._ssl = certs.server_context(kind, profile.hostname)

    @property
    def address(self) -> str:
        """host:port, with brackets for IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def start(self) -> SmtpServer:
        self._server = await asyncio.start_server(
            self._accept,
            self.host,
            self.port,
            limit=MAX_LINE,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and end every session now (hostile senders included)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def __aenter__(self) -> SmtpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- one connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or (self.host, self.port)
        session = Session(peer=(peer[0], peer[1]), local=(local[0], local[1]))
        self.sessions.append(session)
        conn = _Connection(self, session, reader, writer)
        try:
            await conn.run()
        except _Reset:
            session.close("reset")
            conn.reset()
        except _Drop:
            session.close("server")
        except asyncio.CancelledError:
            session.close("server")
            session.note("lab server stopped")
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            session.close("reset" if isinstance(exc, ConnectionResetError) else "client")
            session.note(f"connection error: {exc.__class__.__name__}")
        except Exception as exc:
            # A lab bug: record it where a test looking at the session will see it.
            session.close("server")
            session.note(f"lab error: {exc!r}")
            raise
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1)
            writer.transport.abort()


class _Connection:
    def __init__(
        self,
        server: SmtpServer,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.profile = server.profile
        self.preset = server.preset
        self.session = session
        self.reader = reader
        self.writer = writer
        self.host = server.profile.hostname
        own_ips = {session.local[0].split("%")[0], server.host}
        self.own_ips = frozenset(
            ipaddress.ip_address(ip).compressed for ip in own_ips if _is_ip(ip)
        )
        self.names = frozenset(
            [self.host.lower().rstrip(".")]
            + [d.lower().rstrip(".") for d in self.profile.local_domains]
        )
        self.starttls_offered = (
            self.profile.tls is not None and not self.profile.implicit_tls
        ) or self.profile.hostile == "starttls-broken"

    # -- output -------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        if self.profile.hostile == "drip":
            for i in range(len(data)):
                self.writer.write(data[i : i + 1])
                await self.writer.drain()
                await asyncio.sleep(self.profile.drip_interval)
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def reply(self, code: int, lines: str | tuple[str, ...] | list[str]) -> None:
        if isinstance(lines, str):
            lines = (lines,)
        out = []
        for i, text in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            line = f"{code}{sep}{text}" if text else f"{code}{sep}".rstrip(" ")
            out.append(line)
            self.session.transcript.append(("S", line))
        await self.write(("\r\n".join(out) + "\r\n").encode("utf-8"))

    async def say(self, name: str, **values: str) -> None:
        code, text = self.preset.reply(name, host=self.host, **values)
        await self.reply(code, text)

    def reset(self) -> None:
        """Close with RST: SO_LINGER on, zero timeout, then close."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    # -- input --------------------------------------------------------------------------------

    async def readline(self) -> str | None:
        """One client line without CRLF, None at EOF. Too long → drop the client."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                raw = await self.reader.readline()
        except TimeoutError:
            await self.say("timeout")
            self.session.note("idle timeout")
            raise _Drop from None
        except ValueError:  # StreamReader limit overrun: line longer than MAX_LINE
            self.session.note(f"client line longer than {MAX_LINE} bytes")
            await self.say("too_long")
            raise _Drop from None
        if not raw:
            return None
        if len(raw) > MAX_LINE:
            self.session.note(f"client line longer than {MAX_LINE} bytes")
            await self.say("too_long")
            raise _Drop
        line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        return line

    async def wait_quiet(self, seconds: float) -> bool:
        """Wait; True if the client said something (an early talker)."""
        try:
            async with asyncio.timeout(seconds):
                data = await self.reader.read(1)
        except TimeoutError:
            return False
        if not data:
            self.session.close("client")
            raise _Drop
        self.session.note("client spoke before the greeting")
        return True

    async def drain_input(self) -> None:
        """Swallow client input until it goes away (hostile servers that keep the line)."""
        while True:
            data = await self.reader.read(4096)
            if not data:
                self.session.close("client")
                return

    # -- the dialogue -------------------------------------------------------------------------

    async def run(self) -> None:
        prof = self.profile
        if prof.implicit_tls:
            # The handshake runs inside this task (not in start_server) so that stop() can
            # cancel a client stuck in it and the session records a failed handshake.
            await self.handshake()
        if prof.greeting_delay > 0 and await self.wait_quiet(prof.greeting_delay):
            await self.reply(*_code_text(EARLY_TALKER, host=self.host))
            raise _Drop
        if prof.hostile in _PRE_GREETING:
            await getattr(self, "_hostile_" + prof.hostile.replace("-", "_"))()
            return
        greeting = self.preset.greeting_for(self.host)
        if self.preset.key == "postscreen":
            self.session.transcript.append(("S", f"220-{greeting[0]}"))
            await self.write(f"220-{greeting[0]}\r\n".encode())
            if await self.wait_quiet(prof.postscreen_pause):
                await self.reply(554, "5.5.1 Protocol error")
                raise _Drop
            self.session.transcript.append(("S", f"220 {greeting[-1]}"))
            await self.write(f"220 {greeting[-1]}\r\n".encode())
        else:
            await self.reply(220, greeting)
        await self.dialogue()

    async def dialogue(self) -> None:
        s = self.session
        mail: str | None = None
        rcpts: list[str] = []
        while True:
            line = await self.readline()
            if line is None:
                s.close("client")
                return
            if len(s.commands) >= MAX_COMMANDS:
                await self.reply(421, f"4.7.0 {self.host} Error: too many commands")
                raise _Drop
            s.commands.append(line)
            s.transcript.append(("C", line))
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            arg = arg.strip()
            if verb in ("EHLO", "HELO"):
                if not arg:
                    await self.say("helo_syntax")
                    continue
                if self.profile.hostile == "reset-mid":
                    s.note("reset after EHLO (SO_LINGER 0)")
                    raise _Reset
                s.helo = arg
                mail, rcpts = None, []
                ip = s.peer[0]
                if verb == "EHLO":
                    lines = self.preset.ehlo_for(
                        self.host, arg, ip, starttls=self.starttls_offered and not s.tls
                    )
                    await self.reply(250, lines)
                else:
                    await self.reply(
                        250, _fmt(self.preset.helo_t, host=self.host, client=arg, ip=ip)
                    )
            elif verb == "MAIL":
                if s.helo is None:
                    await self.say("need_helo")
                elif mail is not None:
                    await self.say("nested_mail")
                else:
                    try:
                        addr, _params = parse_path(arg, "FROM")
                        check_sender(addr)
                    except AddressSyntaxError:
                        await self.say("bad_sender", addr=_addr_of(arg))
                        continue
                    mail, rcpts = addr, []
                    s.mail_from = addr
                    await self.say("mail_ok", addr=addr)
            elif verb == "RCPT":
                if mail is None:
                    await self.say("need_mail")
                    continue
                try:
                    addr, _params = parse_path(arg, "TO")
                    rcpt = classify_recipient(addr, names=self.names, ips=self.own_ips)
                except AddressSyntaxError:
                    await self.say("bad_rcpt", addr=_addr_of(arg))
                    continue
                code, text = self.relay_decision(rcpt)
                if code == 250:
                    rcpts.append(addr)
                    s.rcpts.append(addr)
                await self.reply(code, text)
            elif verb == "DATA":
                s.data_seen = True
                if mail is None:
                    await self.say("need_mail")
                elif not rcpts:
                    await self.say("need_rcpt")
                else:
                    await self.say("data")
                    await self.read_data()
                    mail, rcpts = None, []
            elif verb == "BDAT":
                s.data_seen = True
                done = await self.read_bdat(arg, ready=mail is not None and bool(rcpts))
                if done:
                    mail, rcpts = None, []
            elif verb == "RSET":
                mail, rcpts = None, []
                await self.say("rset")
            elif verb == "NOOP":
                await self.say("noop")
            elif verb == "HELP":
                help_lines = tuple(_fmt(t, host=self.host) for t in self.preset.help_t)
                await self.reply(self.preset.help_code, help_lines)
            elif verb == "VRFY":
                await self.say("vrfy", addr=arg.strip("<>"))
            elif verb == "QUIT":
                await self.say("quit")
                s.close("client")
                return
            elif verb == "STARTTLS":
                if s.tls:
                    await self.say("tls_active")
                elif not self.starttls_offered:
                    await self.say("not_implemented", verb=verb)
                else:
                    await self.say("starttls")
                    await self.start_tls()
                    mail, rcpts = None, []
            elif not verb:
                await self.say("bad_syntax")
            else:
                await self.say("unknown", verb=verb)

    def relay_decision(self, rcpt: Recipient) -> tuple[int, str]:
        policy = self.profile.relay
        values = {"addr": rcpt.address, "domain": rcpt.domain or "", "host": self.host}
        if policy == "auth-required":
            return _code_text(AUTH_REQUIRED, **values)
        if policy == "greylist":
            return _code_text(GREYLIST, **values)
        if policy == "open" and (rcpt.domain or "").rstrip(".").lower().endswith(".invalid"):
            # A real open relay still resolves where the mail goes; only accept-then-bounce
            # (catch-all) takes a domain that cannot exist (RFC 6761). Without this the two
            # policies are identical on the wire and the relay probe could not tell them apart.
            return _code_text(UNKNOWN_DOMAIN, **values)
        if policy in ("open", "catch-all") or rcpt.local:
            return self.preset.reply("rcpt_ok", **values)
        if rcpt.trick is not None and TRICK_POLICY[rcpt.trick] == policy and rcpt.outer_local:
            return self.preset.reply("rcpt_ok", **values)
        if policy == "postfix-default":
            return _code_text(POSTFIX_DEFAULT, **values)
        return self.preset.reply("relay_denied", **values)

    async def read_data(self) -> None:
        body = bytearray()
        too_big = False
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    raw = await self.reader.readline()
            except TimeoutError:
                await self.say("timeout")
                raise _Drop from None
            except ValueError:
                self.session.note(f"DATA line longer than {MAX_LINE} bytes")
                await self.say("too_long")
                raise _Drop from None
            if not raw:
                self.session.close("client")
                raise _Drop
            if raw in (b".\r\n", b".\n"):
                break
            if raw.startswith(b"."):
                raw = raw[1:]
            if len(body) + len(raw) > MAX_MESSAGE:
                too_big = True
            else:
                body += raw
        self.session.note(f"DATA: {len(body)} bytes")
        if too_big:
            await self.say("too_big")
            return
        self.session.messages.append(bytes(body))
        await self.say("queued")

    async def read_bdat(self, arg: str, *, ready: bool) -> bool:
        parts = arg.split()
        if (
            not parts
            or not parts[0].isdigit()
            or len(parts) > 2
            or (len(parts) == 2 and parts[1].upper() != "LAST")
        ):
            await self.reply(501, "5.5.4 Syntax: BDAT count [LAST]")
            return False
        size = int(parts[0])
        if size > MAX_MESSAGE:
            # We cannot stay in sync without reading it all; refuse and hang up.
            await self.say("too_big")
            raise _Drop
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                chunk = await self.reader.readexactly(size)
        except TimeoutError:
            await self.say("timeout")
            raise _Drop from None
        except asyncio.IncompleteReadError:
            self.session.close("client")
            raise _Drop from None
        self.session.note(f"BDAT: {size} bytes")
        if not ready:
            await self.say("need_rcpt")
            return False
        last = len(parts) == 2
        if last:
            self.session.messages.append(chunk)
        await self.say("bdat_ok", size=str(size))
        return last

    async def start_tls(self) -> None:
        s = self.session
        if self.profile.hostile == "starttls-broken":
            garbage = b"this is not a TLS handshake\r\n" + random.Random(7).randbytes(512)
            s.note(f"starttls-broken: sent {len(garbage)} bytes of garbage, then abort")
            await self.write(garbage)
            raise _Drop
        await self.handshake()
        s.helo = None

    async def handshake(self) -> None:
        s = self.session
        ctx = self.server._ssl
        assert ctx is not None
        try:
            await self.writer.start_tls(ctx, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            s.note(f"TLS handshake failed: {exc.__class__.__name__}: {exc}")
            s.close("client")
            raise _Drop from None
        s.tls = True
        s.note("TLS established")

    # -- hostile behaviours before/instead of the greeting -----------------------------------

    async def _hostile_silent(self) -> None:
        self.session.note("silent: never answering")
        await self.drain_input()

    async def _hostile_greet_421(self) -> None:
        await self.reply(*_code_text(GREET_421, host=self.host))
        raise _Drop

    async def _hostile_greet_554(self) -> None:
        await self.reply(*_code_text(GREET_554, host=self.host))
        raise _Drop

    async def _hostile_huge_greeting(self) -> None:
        self.session.note(f"huge-greeting: 220 + {HUGE_GREETING_BYTES} bytes, no newline")
        self.writer.write(b"220 ")
        chunk = b"A" * 65536
        sent = 0
        while sent < HUGE_GREETING_BYTES:
            if self.reader.at_eof():
                self.session.close("client")
                return
            self.writer.write(chunk)
            await self.writer.drain()
            sent += len(chunk)
        await self.drain_input()

    async def _hostile_binary(self) -> None:
        rng = random.Random(1234)
        self.session.note(f"binary: {BINARY_BYTES} bytes of garbage")
        # Start with bytes no SMTP reply (nor TLS record) begins with.
        self.writer.write(b"\x00\xff\xfe\x80")
        sent = 0
        while sent < BINARY_BYTES:
            if self.reader.at_eof():
                self.session.close("client")
                return
            self.writer.write(rng.randbytes(4096))
            await self.writer.drain()
            sent += 4096
        await self.drain_input()

    async def _hostile_endless_continuation(self) -> None:
        self.session.note("endless-continuation: 220- lines until the client leaves")
        line = f"220-{self.host} ESMTP continuing\r\n".encode()
        batch = line * 64
        while not self.reader.at_eof():
            self.writer.write(batch)
            await self.writer.drain()
            await asyncio.sleep(0.01)  # pace it: the lab shares the CPU with the client
        self.session.close("client")


_PRE_GREETING = (
    "silent",
    "greet-421",
    "greet-554",
    "huge-greeting",
    "binary",
    "endless-continuation",
)


def _code_text(template: str, **values: str) -> tuple[int, str]:
    code, _, text = template.partition(" ")
    return int(code), _fmt(text, **values)


def _addr_of(arg: str) -> str:
    rest = arg.partition(":")[2].strip()
    return rest[1:].partition(">")[0] if rest.startswith("<") else rest.partition(" ")[0]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
