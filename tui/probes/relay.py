"""Open-relay test: does the server accept mail for a foreign domain from us?

One connection, never DATA:

1. connect (port 25/587, or 465 with implicit TLS); wait for the whole greeting
   (Settings.greeting_timeout) before saying anything — greet-pause and postscreen punish
   clients that speak first;
2. EHLO (HELO when EHLO is refused);
3. STARTTLS whenever the server offers it (and we are not already on TLS), then EHLO again.
   Why: a relaying MTA would use opportunistic TLS too, and servers that demand TLS
   before MAIL would otherwise answer every variant "530 Must issue STARTTLS first" and
   tell us nothing about relaying. The certificate is not judged here (the smtp/ports
   probes do that): opportunistic TLS accepts any certificate, like an MTA. A failed
   handshake leaves the connection unusable, so the test stops there (INCONCLUSIVE);
4. for each variant: RSET → MAIL FROM → RCPT TO, and read the answer; DATA/BDAT are never
   sent, so no message can ever be relayed by this test;
5. QUIT.

Variants: two *controls* first, then the *relay* forms. The controls are a surely
nonexistent local mailbox (at the server's own name) and a recipient in a domain that
can never exist (``.invalid``, RFC 6761). The relay forms are the classic ones: the
plain foreign recipient with four senders (null, external, the server's own name, its
[IP] literal) and the percent hack, quoted local parts, double-@, source routes and UUCP
bang paths aimed at ext = the foreign recipient's domain, through host = the server's
greeting name (or the target's host name) and [ip] = the connected address
(``[IPv6:…]`` on IPv6). That is 18 RCPTs: fewer than Postfix's default
smtpd_hard_error_limit (20), so a closed Postfix answers every one instead of hanging up.

Outcome per variant (of the reply to RCPT, or to MAIL when MAIL is refused):
2xx accepted; 5xx rejected; 530, or a 4xx/5xx whose text asks for authentication,
auth-required; a 4xx whose text says relaying is denied (Postfix's
``454 4.7.1 <…>: Relay access denied`` under defer_unauth_destination) is
relay-denied-temporary — a refusal, not a deferral; any other 4xx deferred
(greylisting); timeout / error when the dialogue broke (the test stops there: after a
lost reply the dialogue is out of step), and not-tried for what was never reached.

Verdict:

* OPEN RELAY — at least one relay form was accepted (``accepted`` lists them) and the
  server does not accept everything.
* INCONCLUSIVE with ``accepts_all`` — relay forms were accepted but so were *both*
  controls. A server that takes a random local mailbox and an undeliverable ``.invalid``
  domain at RCPT time checks nothing before DATA: it may bounce everything afterwards
  (accept-then-bounce, a backscatter source) or really relay; the RCPT answers cannot
  tell which, and confirming would need DATA, which this test never sends. Calling it
  OPEN RELAY would smear every catch-all; calling it CLOSED would hide a possible open
  relay; so we say we cannot decide, and why.
* INCONCLUSIVE — nothing accepted, but some forms were deferred (retry later: a
  greylisting server answers on the next attempt), timed out, broke the connection or
  were never tried; or every MAIL FROM was refused so relaying was never tested.
* AUTH REQUIRED — nothing accepted, every form refused, at least one asking for
  authentication.
* CLOSED — every relay form refused (5xx, or a temporary relay-denied).

Bad input (sender, recipient, HELO name) raises AddressError before any socket is
opened; validate with ``check_inputs`` first in a UI. Everything after that is a result.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tui.config import Settings
from tui.probes.address import (
    AddressError,
    Mailbox,
    check_path,
    validate_domain,
    validate_mailbox,
)
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import make_resolver, query
from tui.probes.smtpwire import (
    ConnectionClosed,
    Reply,
    ReplyTimeout,
    SmtpClient,
    SmtpWireError,
    ehlo_capabilities,
)
from tui.probes.target import Target

MAX_COMMANDS = 72  # 18 variants x 3 + EHLO/HELO/STARTTLS/EHLO/QUIT, with room to spare
DEFAULT_DEADLINE = 180.0  # whole dialogue, seconds; tarpits delay each refusal
MAX_TRANSCRIPT = 400
MAX_TRANSCRIPT_LINE = 300
MAX_REPLY_TEXT = 512

_AUTH_TEXT = re.compile(
    r"auth\w*\s+(is\s+)?required|must\s+(first\s+)?auth|not\s+authenticated|"
    r"authenticat\w*\s+(is\s+)?(required|needed|first)|auth\s+first|please\s+authenticate|"
    r"smtp\s+auth\w*\s+(is\s+)?required|requires?\s+(smtp\s+)?authenticat",
    re.IGNORECASE,
)
_RELAY_DENIED_TEXT = re.compile(
    r"relay(ing)?\s+(access\s+)?(is\s+)?(denied|not\s+(permitted|allowed)|prohibited|refused|forbidden)|"
    r"unable\s+to\s+relay|(not|never)\s+(permitted|allowed)\s+to\s+relay|"
    r"(we|i)\s+do\s+not\s+relay|no\s+relay(ing)?\b|cannot\s+relay|relay\s+not\s+permitted",
    re.IGNORECASE,
)


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    AUTH_REQUIRED = "auth-required"
    RELAY_DENIED_TEMPORARY = "relay-denied-temporary"
    ERROR = "error"
    TIMEOUT = "timeout"
    NOT_TRIED = "not-tried"


class Verdict(enum.StrEnum):
    OPEN_RELAY = "open-relay"
    CLOSED = "closed"
    INCONCLUSIVE = "inconclusive"
    AUTH_REQUIRED = "auth-required"


REFUSALS = frozenset({Outcome.REJECTED, Outcome.RELAY_DENIED_TEMPORARY, Outcome.AUTH_REQUIRED})
VariantKind = Literal["control", "relay"]
Stage = Literal["", "rset", "mail", "rcpt"]


@dataclass(frozen=True, slots=True)
class VariantResult:
    id: str
    kind: VariantKind  # "control" (catch-all detection) or "relay"
    description: str
    mail_from: str  # the reverse-path as sent, e.g. "<>" or "<a@b>"
    rcpt_to: str  # the forward-path as sent
    outcome: Outcome
    stage: Stage  # the command whose reply decided the outcome ("" if none)
    code: int | None
    enhanced: str | None
    reply: str  # that reply (code and text), bounded; or what went wrong
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class RelayResult:
    target: str
    address: str | None  # the IP we connected to
    port: int
    status: Status
    message: str
    verdict: Verdict
    accepted: tuple[str, ...]  # ids of relay variants accepted at RCPT
    accepts_all: bool  # both controls accepted as well: likely accept-then-bounce
    implicit_tls: bool
    starttls: Literal["used", "not-offered", "refused", "failed", "skipped"]
    tls_version: str | None
    greeting: str
    server_name: str | None  # from the greeting (or EHLO) when it is a valid host name
    esmtp: bool
    helo: str  # the name we sent in EHLO/HELO
    mail_from: str
    rcpt_to: str
    variants: tuple[VariantResult, ...]
    commands_sent: int
    transcript: tuple[tuple[str, str], ...]  # (C|S|*, line), bounded
    connect_ms: float | None
    greeting_ms: float | None
    total_ms: float


@dataclass(frozen=True, slots=True)
class RelayInputs:
    mail_from: Mailbox  # may be the null sender
    rcpt_to: Mailbox  # dot-atom local part, domain name
    helo: str


@dataclass(frozen=True, slots=True)
class _Plan:
    id: str
    kind: VariantKind
    description: str
    mail_from: str  # path body (without <>)
    rcpt_to: str


def check_inputs(
    settings: Settings, *, mail_from: str | None = None, rcpt_to: str | None = None,
    helo: str | None = None,
) -> RelayInputs:
    """Validate sender, recipient and HELO name (flags win over Settings). Raises AddressError.

    Non-ASCII is accepted here; it is refused later unless the server offers SMTPUTF8.
    The recipient must have an unquoted local part and a domain name, since the relay
    forms embed both inside other local parts (``user%ext``, ``"user@ext"``, ``ext!user``).
    """
    sender_text = settings.relay_mail_from if mail_from is None else mail_from
    rcpt_text = settings.relay_rcpt_to if rcpt_to is None else rcpt_to
    helo_text = settings.helo_name if helo is None else helo
    try:
        sender = validate_mailbox(sender_text, utf8=True, allow_null=True)
    except AddressError as exc:
        raise AddressError(f"sender (MAIL FROM): {exc}") from None
    try:
        rcpt = validate_mailbox(rcpt_text, utf8=True)
    except AddressError as exc:
        raise AddressError(f"recipient (RCPT TO): {exc}") from None
    if rcpt.quoted or rcpt.is_literal:
        raise AddressError(
            "recipient (RCPT TO): the relay test needs an unquoted local part and a domain "
            "name (not an address literal)"
        )
    try:
        validate_domain(helo_text)
    except AddressError as exc:
        raise AddressError(f"HELO name: {exc}") from None
    return RelayInputs(sender, rcpt, helo_text)


def classify(reply: Reply) -> Outcome:
    """Outcome of a reply to MAIL FROM or RCPT TO (a 2xx means accepted)."""
    text = reply.text
    if 200 <= reply.code < 300:
        return Outcome.ACCEPTED
    if reply.code == 530:
        return Outcome.AUTH_REQUIRED
    if 400 <= reply.code < 600:
        if _AUTH_TEXT.search(text):
            return Outcome.AUTH_REQUIRED
        if reply.code >= 500:
            return Outcome.REJECTED
        if _RELAY_DENIED_TEXT.search(text):
            return Outcome.RELAY_DENIED_TEMPORARY
        return Outcome.DEFERRED
    return Outcome.ERROR  # 1xx/3xx make no sense here


def ip_literal(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.version == 6:
        return f"[IPv6:{addr.compressed}]"
    return f"[{addr}]"


def build_plan(inputs: RelayInputs, ip: str, host: str | None, token: str, *,
               utf8: bool = False) -> tuple[_Plan, ...]:
    """The variants, in the order they are tried; forms using ``host`` only when known.

    Every built path passes ``check_path`` (wire safety); a form that does not — only
    possible when a long recipient meets a long server name and the path would exceed
    the RFC 5321 limit of 256 octets — is left out rather than sent.
    """
    user, ext = inputs.rcpt_to.local, inputs.rcpt_to.domain
    lit = ip_literal(ip)
    sender = inputs.mail_from.text
    sender_local = inputs.mail_from.local or "mxscope-relay-test"
    local_domain = host or lit
    plans: list[_Plan] = [
        _Plan("local-unknown", "control", f"nonexistent mailbox at the server's own name ({local_domain})",
              sender, f"mxscope-nx-{token}@{local_domain}"),
        _Plan("invalid-domain", "control", "recipient in a domain that cannot exist (.invalid)",
              sender, f"{user}@mxscope-{token}.invalid"),
        _Plan("null-sender", "relay", "null sender to the foreign recipient", "", f"{user}@{ext}"),
        _Plan("ext-sender", "relay", "external sender to the foreign recipient", sender, f"{user}@{ext}"),
    ]
    if host:
        plans.append(_Plan("sender-host", "relay", "sender at the server's own name",
                           f"{sender_local}@{host}", f"{user}@{ext}"))
    plans.append(_Plan("sender-ip", "relay", "sender at the server's own address literal",
                       f"{sender_local}@{lit}", f"{user}@{ext}"))
    forms: list[tuple[str, str, str, bool]] = [
        ("percent-ip", "percent hack via the address literal", f"{user}%{ext}@{lit}", False),
        ("percent-host", "percent hack via the server's name", f"{user}%{ext}@{host}", True),
        ("quoted-at", "quoted local part holding user@ext, no domain", f'"{user}@{ext}"', False),
        ("quoted-percent", "quoted local part holding user%ext, no domain", f'"{user}%{ext}"', False),
        ("double-at-ip", "double @ via the address literal", f"{user}@{ext}@{lit}", False),
        ("quoted-at-ip", "quoted user@ext at the address literal", f'"{user}@{ext}"@{lit}', False),
        ("double-at-host", "double @ via the server's name", f"{user}@{ext}@{host}", True),
        ("route-ip", "source route via the address literal", f"@{lit}:{user}@{ext}", False),
        ("route-host", "source route via the server's name", f"@{host}:{user}@{ext}", True),
        ("bang", "UUCP bang path", f"{ext}!{user}", False),
        ("bang-ip", "bang path at the address literal", f"{ext}!{user}@{lit}", False),
        ("bang-host", "bang path at the server's name", f"{ext}!{user}@{host}", True),
    ]
    for vid, desc, rcpt, needs_host in forms:
        if needs_host and not host:
            continue
        plans.append(_Plan(vid, "relay", desc, sender, rcpt))
    safe: list[_Plan] = []
    for plan in plans:
        try:
            check_path(plan.mail_from, utf8=utf8)
            check_path(plan.rcpt_to, utf8=utf8)
        except AddressError:
            continue
        safe.append(plan)
    return tuple(safe)


def _server_name(line: str) -> str | None:
    """The first word of a greeting/EHLO line when it is a usable dotted host name."""
    word = line.split(" ", 1)[0].strip() if line else ""
    if "." not in word:
        return None
    try:
        validate_domain(word, allow_literal=False)
    except AddressError:
        return None
    return word.rstrip(".").lower()


def _short(reply: Reply) -> str:
    text = reply.as_text().replace("\n", " / ")
    return text if len(text) <= MAX_REPLY_TEXT else text[: MAX_REPLY_TEXT - 1] + "…"


def verdict_for(variants: tuple[VariantResult, ...]) -> tuple[Verdict, tuple[str, ...], bool, str]:
    """(verdict, accepted relay ids, accepts_all, one-line explanation)."""
    relay = [v for v in variants if v.kind == "relay"]
    controls = {v.id: v.outcome for v in variants if v.kind == "control"}
    accepted = tuple(v.id for v in relay if v.outcome is Outcome.ACCEPTED)
    accepts_all = bool(controls) and all(o is Outcome.ACCEPTED for o in controls.values())
    if not relay:
        return Verdict.INCONCLUSIVE, (), accepts_all, "no relay form was tried"
    if accepted and accepts_all:
        return (
            Verdict.INCONCLUSIVE, accepted, True,
            "accepts all recipients (may bounce later), even a nonexistent local mailbox and "
            "a .invalid domain: likely accept-then-bounce; OPEN RELAY cannot be confirmed "
            "without DATA, which this test never sends",
        )
    if accepted:
        note = ""
        if any(o is not Outcome.ACCEPTED and o not in REFUSALS for o in controls.values()):
            note = " (catch-all check incomplete)"
        return (
            Verdict.OPEN_RELAY, accepted, False,
            f"OPEN RELAY: {len(accepted)} of {len(relay)} relay forms accepted{note}: "
            + ", ".join(accepted),
        )
    counts = {o: sum(1 for v in relay if v.outcome is o) for o in Outcome}
    pending = [o for o in (Outcome.DEFERRED, Outcome.TIMEOUT, Outcome.ERROR, Outcome.NOT_TRIED)
               if counts[o]]
    if pending:
        parts = [f"{counts[o]} {o.value}" for o in pending]
        hint = ("deferred (4xx, e.g. greylisting): retry later" if Outcome.DEFERRED in pending
                else "the dialogue did not complete: retry later")
        return (Verdict.INCONCLUSIVE, (), accepts_all,
                f"nothing accepted, but {', '.join(parts)} of {len(relay)} relay forms; {hint}")
    if all(v.stage == "mail" for v in relay) and not counts[Outcome.AUTH_REQUIRED]:
        return (Verdict.INCONCLUSIVE, (), accepts_all,
                "every MAIL FROM was refused, so relaying was never tested: try another sender "
                "(--mail-from)")
    if counts[Outcome.AUTH_REQUIRED]:
        return (Verdict.AUTH_REQUIRED, (), accepts_all,
                f"relaying requires authentication: {counts[Outcome.AUTH_REQUIRED]} of "
                f"{len(relay)} relay forms answered 'authentication required', the rest refused")
    temp = counts[Outcome.RELAY_DENIED_TEMPORARY]
    extra = f" ({temp} with a temporary relay-denied code)" if temp else ""
    return (Verdict.CLOSED, (), accepts_all,
            f"closed: all {len(relay)} relay forms refused{extra}")


class _Stop(Exception):
    """The dialogue cannot go on; ``status`` and message say why."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Session:
    def __init__(self, target: Target, settings: Settings, inputs: RelayInputs, port: int,
                 implicit_tls: bool, use_starttls: bool, deadline: float,
                 on_variant: Callable[[VariantResult], None] | None) -> None:
        self.target = target
        self.settings = settings
        self.inputs = inputs
        self.port = port
        self.implicit_tls = implicit_tls
        self.use_starttls = use_starttls
        self.on_variant = on_variant
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + deadline
        self.client: SmtpClient | None = None
        self.address: str | None = None
        self.status = Status.OK
        self.message = ""
        self.commands = 0
        self.greeting = ""
        self.server_name: str | None = None
        self.esmtp = False
        self.starttls: Literal["used", "not-offered", "refused", "failed", "skipped"] = (
            "skipped" if implicit_tls or not use_starttls else "not-offered")
        self.variants: list[VariantResult] = []
        self.connect_ms: float | None = None
        self.greeting_ms: float | None = None
        self.transcript: tuple[tuple[str, str], ...] = ()
        self.tls_version: str | None = None

    # -- plumbing -------------------------------------------------------------------
    def _step_timeout(self, base: float) -> float:
        left = self.deadline - self.loop.time()
        if left <= 0:
            raise ReplyTimeout("the relay test ran out of its overall time budget")
        return min(base, left)

    async def _command(self, line: str) -> Reply:
        assert self.client is not None
        if self.commands >= MAX_COMMANDS - 1:  # keep one for QUIT
            raise _Stop(Status.ERROR, f"command budget ({MAX_COMMANDS}) used up")
        timeout = self._step_timeout(self.settings.smtp_timeout)
        self.commands += 1
        try:
            return await self.client.command(line, timeout)
        except ReplyTimeout:
            if timeout < self.settings.smtp_timeout:  # cut short by the overall deadline
                raise ReplyTimeout("the relay test ran out of its overall time budget") from None
            raise

    @staticmethod
    def _tls_context() -> ssl.SSLContext:
        # Opportunistic, like an MTA: the relay test does not judge certificates.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    # -- phases ---------------------------------------------------------------------
    async def resolve(self) -> str:
        if self.target.is_ip:
            return self.target.text
        resolver = make_resolver(self.settings)
        failures: list[str] = []
        status = Status.ERROR
        for rdtype in ("A", "AAAA"):
            answer = await query(resolver, self.target.text, rdtype)
            if answer.status is Status.OK and answer.records:
                return answer.records[0]
            failures.append(f"{rdtype}: {answer.message or answer.status.value}")
            if answer.status is not Status.NOANSWER:
                status = answer.status
            if answer.status is Status.NXDOMAIN:
                break  # no such name: no AAAA either
        raise _Stop(status, f"cannot resolve {self.target.text} ({'; '.join(failures)})")

    async def connect(self, ip: str) -> None:
        sw = Stopwatch()
        tls = self._tls_context() if self.implicit_tls else None
        try:
            self.client = await SmtpClient.connect(
                ip, self.port, connect_timeout=self.settings.connect_timeout,
                timeout=self.settings.smtp_timeout, tls=tls,
                server_hostname=None if self.target.is_ip else self.target.text,
            )
        except SmtpWireError as exc:
            raise _Stop(exc.status, f"connect to {ip} port {self.port}: {exc}") from None
        except ConnectionRefusedError:
            raise _Stop(Status.REFUSED, f"connection to {ip} port {self.port} refused") from None
        except ssl.SSLError as exc:
            raise _Stop(Status.ERROR, f"TLS handshake with {ip} port {self.port} failed: "
                                      f"{exc.reason or exc}") from None
        except OSError as exc:
            raise _Stop(Status.ERROR, f"connect to {ip} port {self.port}: "
                                      f"{exc.strerror or exc}") from None
        self.connect_ms = sw.ms()
        self._note_tls()
        peer = self.client.writer.get_extra_info("peername")
        peer_ip = str(peer[0]).split("%")[0] if peer else ip
        addr = ipaddress.ip_address(peer_ip)
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        self.address = addr.compressed

    async def greet(self) -> None:
        assert self.client is not None
        sw = Stopwatch()
        reply = await self.client.read_reply(self.settings.greeting_timeout)
        self.greeting_ms = sw.ms()
        self.greeting = reply.as_text()
        if reply.code != 220:
            raise _Stop(Status.ERROR, f"the server refused the session: {_short(reply)}")
        self.server_name = _server_name(reply.first)

    async def hello(self) -> dict[str, str]:
        helo = self.inputs.helo
        reply = await self._command(f"EHLO {helo}")
        if reply.code == 250:
            self.esmtp = True
            self.server_name = self.server_name or _server_name(reply.first)
            return ehlo_capabilities(reply)
        if reply.code == 421:
            raise _Stop(Status.ERROR, f"the server closed the session: {_short(reply)}")
        reply = await self._command(f"HELO {helo}")
        if reply.code != 250:
            raise _Stop(Status.ERROR, f"EHLO and HELO both refused: {_short(reply)}")
        return {}

    async def maybe_starttls(self, caps: dict[str, str]) -> dict[str, str]:
        assert self.client is not None
        if self.starttls == "skipped":
            return caps
        if "STARTTLS" not in caps:
            self.starttls = "not-offered"
            return caps
        reply = await self._command("STARTTLS")
        if reply.code != 220:
            if reply.code == 421:
                raise _Stop(Status.ERROR, f"the server closed the session: {_short(reply)}")
            self.starttls = "refused"
            return caps
        try:
            await self.client.starttls(self._tls_context(), self.target.text,
                                       timeout=self._step_timeout(self.settings.smtp_timeout))
        except SmtpWireError as exc:
            self.starttls = "failed"
            raise _Stop(exc.status, f"STARTTLS failed: {exc}") from None
        self.starttls = "used"
        self._note_tls()
        return await self.hello()

    def _note_tls(self) -> None:
        assert self.client is not None
        if self.client.tls is not None:
            self.tls_version = self.client.tls.version()

    def _emit(self, result: VariantResult) -> None:
        self.variants.append(result)
        if self.on_variant is not None:
            self.on_variant(result)

    async def try_variant(self, plan: _Plan, smtputf8: bool) -> None:
        """One RSET/MAIL/RCPT round. Raises _Stop or SmtpWireError when the dialogue breaks
        (after recording the variant)."""
        sw = Stopwatch()
        mail = f"<{plan.mail_from}>"
        rcpt = f"<{plan.rcpt_to}>"
        stage: Stage = "rset"

        def record(outcome: Outcome, reply: Reply | None, note: str = "") -> None:
            self._emit(VariantResult(
                plan.id, plan.kind, plan.description, mail, rcpt, outcome,
                stage if (reply is not None or note) else "",
                reply.code if reply else None, reply.enhanced if reply else None,
                _short(reply) if reply else note, sw.ms()))

        try:
            reply = await self._command("RSET")
            if reply.code != 250:
                record(Outcome.ERROR, reply)
                raise _Stop(Status.ERROR, f"RSET refused: {_short(reply)}")
            stage = "mail"
            params = " SMTPUTF8" if smtputf8 and not (plan.mail_from + plan.rcpt_to).isascii() else ""
            reply = await self._command(f"MAIL FROM:{mail}{params}")
            if reply.code // 100 == 2:
                stage = "rcpt"
                reply = await self._command(f"RCPT TO:{rcpt}")
        except SmtpWireError as exc:
            outcome = Outcome.TIMEOUT if isinstance(exc, ReplyTimeout) else Outcome.ERROR
            record(outcome, None, f"{stage.upper() or 'command'}: {exc}")
            raise
        outcome = classify(reply)
        if stage == "mail" and outcome is Outcome.ACCEPTED:  # unreachable: 2xx goes on to RCPT
            outcome = Outcome.ERROR
        record(outcome, reply)
        if reply.code == 421:
            raise _Stop(Status.ERROR, f"the server closed the session: {_short(reply)}")

    async def dialogue(self) -> None:
        await self.connect(await self.resolve())
        await self.greet()
        caps = await self.hello()
        caps = await self.maybe_starttls(caps)
        smtputf8 = "SMTPUTF8" in caps
        assert self.client is not None and self.address is not None
        self.client.utf8 = smtputf8
        for box, what in ((self.inputs.mail_from, "sender"), (self.inputs.rcpt_to, "recipient")):
            if not box.text.isascii() and not smtputf8:
                raise _Stop(Status.ERROR, f"the {what} is not ASCII and the server does not "
                                          "offer SMTPUTF8; nothing was tried")
        host = self.server_name or (None if self.target.is_ip else self.target.text)
        plans = build_plan(self.inputs, self.address, host, secrets.token_hex(4),
                           utf8=smtputf8)
        try:
            for plan in plans:
                await self.try_variant(plan, smtputf8)
        finally:
            for plan in plans[len(self.variants):]:
                self._emit(VariantResult(plan.id, plan.kind, plan.description,
                                         f"<{plan.mail_from}>", f"<{plan.rcpt_to}>",
                                         Outcome.NOT_TRIED, "", None, None, "", 0.0))

    async def run(self) -> None:
        try:
            await self.dialogue()
        except _Stop as stop:
            self.status, self.message = stop.status, str(stop)
        except ConnectionClosed as exc:
            self.status, self.message = exc.status, f"the server dropped the connection: {exc}"
        except SmtpWireError as exc:
            self.status, self.message = exc.status, str(exc)
        finally:
            if self.client is not None:
                # QUIT even after a refusal (RFC 5321 3.8), but not into a silent or dead
                # connection: that would only add a wait.
                alive = self.status is Status.OK or self.status is Status.ERROR
                if alive and not self.client.writer.is_closing():
                    self.commands += 1
                await self.client.close(quit_first=alive)
                self.transcript = _bounded(self.client.transcript or [])


def _bounded(transcript: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    kept = [(d, line if len(line) <= MAX_TRANSCRIPT_LINE else line[:MAX_TRANSCRIPT_LINE] + "…")
            for d, line in transcript[:MAX_TRANSCRIPT]]
    if len(transcript) > MAX_TRANSCRIPT:
        kept.append(("*", f"… {len(transcript) - MAX_TRANSCRIPT} more lines not kept"))
    return tuple(kept)


async def run(
    target: Target,
    settings: Settings,
    *,
    port: int | None = None,
    implicit_tls: bool = False,
    mail_from: str | None = None,
    rcpt_to: str | None = None,
    helo: str | None = None,
    on_variant: Callable[[VariantResult], None] | None = None,
    starttls: bool = True,
    deadline: float = DEFAULT_DEADLINE,
) -> RelayResult:
    """Run the relay test against ``target`` (see the module docstring).

    ``on_variant`` is called with each VariantResult as it completes — including, at the
    end, the not-tried ones after a broken dialogue — so a UI can show progress.
    ``port`` None means Settings.smtp_port (25 unless configured).
    Raises AddressError (before connecting) for a bad sender, recipient or HELO name.
    """
    if port is None:
        port = settings.smtp_port
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a TCP port")
    inputs = check_inputs(settings, mail_from=mail_from, rcpt_to=rcpt_to, helo=helo)
    sw = Stopwatch()
    session = _Session(target, settings, inputs, port, implicit_tls, starttls, deadline,
                       on_variant)
    await session.run()
    variants = tuple(session.variants)
    verdict, accepted, accepts_all, explanation = verdict_for(variants)
    if session.status is not Status.OK and verdict is not Verdict.OPEN_RELAY:
        verdict = Verdict.INCONCLUSIVE
    message = explanation if session.status is Status.OK or not variants else (
        f"{explanation} — stopped early: {session.message}")
    if not variants:
        message = f"{session.message}; relaying not tested"
    return RelayResult(
        target=target.text, address=session.address, port=port, status=session.status,
        message=message, verdict=verdict, accepted=accepted, accepts_all=accepts_all,
        implicit_tls=implicit_tls, starttls=session.starttls,
        tls_version=session.tls_version,
        greeting=session.greeting, server_name=session.server_name, esmtp=session.esmtp,
        helo=inputs.helo, mail_from=inputs.mail_from.path, rcpt_to=inputs.rcpt_to.path,
        variants=variants, commands_sent=session.commands, transcript=session.transcript,
        connect_ms=session.connect_ms, greeting_ms=session.greeting_ms, total_ms=sw.ms(),
    )
