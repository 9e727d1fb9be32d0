"""`mxscope relay HOST`: is the mail server an open relay? (RSET/MAIL/RCPT only, never DATA)

Text output prints one line per variant as it completes (outcome, reply code, variant,
addresses, short reply), then the verdict; --json prints one document at the end.
Exit 0 CLOSED or AUTH REQUIRED, 3 OPEN RELAY, 1 INCONCLUSIVE (deferred, dropped,
unreachable, accepts everything), 2 bad input (nothing sent).
"""

from __future__ import annotations

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_FINDING,
    EXIT_OK,
    build_settings,
    emit,
    fail_usage,
    json_option,
    printable,
    run_async,
    settings_options,
    target_or_exit,
)
from tui.probes import relay as probe
from tui.probes.address import AddressError

REPLY_WIDTH = 72
EXIT_BY_VERDICT = {
    probe.Verdict.CLOSED: EXIT_OK,
    probe.Verdict.AUTH_REQUIRED: EXIT_OK,
    probe.Verdict.OPEN_RELAY: EXIT_FINDING,
    probe.Verdict.INCONCLUSIVE: EXIT_FAILED,
}


def render_variant(v: probe.VariantResult) -> str:
    code = str(v.code) if v.code is not None else "---"
    tag = "(control) " if v.kind == "control" else ""
    reply = f": {printable(v.reply, REPLY_WIDTH - 1)}" if v.reply else ""
    return (f"{v.outcome.value:<22} {code:>3}  {v.id:<14} {tag}"
            f"{v.mail_from} -> {v.rcpt_to}{reply}")


def render_server(result: probe.RelayResult) -> str:
    where = result.target if result.address in (None, result.target) else \
        f"{result.target} ({result.address})"
    tls = "implicit TLS" if result.implicit_tls else f"STARTTLS {result.starttls}"
    if result.tls_version:
        tls += f", {result.tls_version}"
    lines = [f"server: {where} port {result.port}, {tls}, "
             f"{result.commands_sent} commands sent"]
    if result.greeting:
        lines.append(f"greeting: {printable(result.greeting.splitlines()[-1], 99)}")
    return "\n".join(lines)


def render_verdict(result: probe.RelayResult) -> str:
    label = result.verdict.value.replace("-", " ").upper()
    lines = [f"verdict: {label} - {printable(result.message, 1000)}"]
    if result.status.value != "ok":
        lines.append(f"status: {result.status.value}")
    return "\n".join(lines)


def render_transcript(result: probe.RelayResult) -> str:
    return "\n".join(f"{d}: {printable(line, 1000)}" for d, line in result.transcript)


@click.command(name="relay")
@click.argument("target_text", metavar="HOST")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="SMTP port (default: settings smtp_port, 25; 465 with --tls).")
@click.option("--tls", "implicit_tls", is_flag=True,
              help="TLS from the first byte (SMTPS, port 465). Port 465 implies it.")
@click.option("--mail-from", metavar="ADDR", default=None,
              help="Sender for the test, or <> (default: settings relay_mail_from).")
@click.option("--rcpt-to", metavar="ADDR", default=None,
              help="Foreign recipient to relay to (default: settings relay_rcpt_to).")
@click.option("--helo", metavar="NAME", default=None,
              help="Name for EHLO/HELO (default: settings helo_name).")
@click.option("--transcript", "show_transcript", is_flag=True,
              help="Also print the SMTP dialogue (JSON always carries it).")
@settings_options
@json_option
def command(
    target_text: str, port: int | None, implicit_tls: bool, mail_from: str | None,
    rcpt_to: str | None, helo: str | None, show_transcript: bool, config_file: str | None,
    nameservers: tuple[str, ...], timeout: float | None, as_json: bool,
) -> None:
    """Test whether HOST relays mail for a foreign domain, with the classic relay address
    forms (percent hack, quoted, double @, source route, bang path) and catch-all
    controls. Sends RSET/MAIL FROM/RCPT TO only, never DATA: nothing is ever delivered.
    """
    target = target_or_exit(target_text)
    # --timeout bounds every SMTP reply too (the greeting wait stays: greet-pause needs it).
    settings = build_settings(config_file, nameservers, timeout, smtp_timeout=timeout)
    chosen_port = port if port is not None else (465 if implicit_tls else settings.smtp_port)
    tls = implicit_tls or chosen_port == 465  # 465 is implicit TLS, however it was chosen
    try:
        probe.check_inputs(settings, mail_from=mail_from, rcpt_to=rcpt_to, helo=helo)
    except AddressError as exc:
        fail_usage(str(exc))

    def on_variant(v: probe.VariantResult) -> None:
        click.echo(render_variant(v))

    if not as_json:
        click.echo(f"relay test of {target.text} port {chosen_port}: RSET/MAIL/RCPT only, "
                   "never DATA")
    result = run_async(probe.run(
        target, settings, port=chosen_port, implicit_tls=tls, mail_from=mail_from,
        rcpt_to=rcpt_to, helo=helo, on_variant=None if as_json else on_variant,
    ))

    def render(r: probe.RelayResult) -> str:
        parts = [render_server(r)]
        if show_transcript and r.transcript:
            parts += ["transcript:", render_transcript(r)]
        parts.append(render_verdict(r))
        return "\n".join(parts)

    emit(result, as_json, render)
    raise SystemExit(EXIT_BY_VERDICT[result.verdict])
