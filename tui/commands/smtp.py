"""`mxscope smtp HOST`: greeting, EHLO capabilities, HELP, PTR match and MTA of one server.

The greeting is awaited for Settings.greeting_timeout (10 s by default; --greeting-timeout)
whatever --timeout says, because postscreen/greet-pause servers hold it back for several
seconds on purpose. --timeout sets the connect, DNS and per-command timeouts.

Exit status: 0 the server answered with a 2xx greeting (whatever EHLO/HELP said); 3 the
server answered but refused service in its greeting (4xx/5xx such as 421 or 554); 1 no
usable answer (refused, timeout, reset, malformed reply, DNS failure); 2 bad input.
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
from tui.probes import smtp
from tui.probes.base import Status

_TRANSCRIPT_SHOWN = 60  # lines in the text output; --json has the whole (bounded) transcript


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render(r: smtp.SmtpResult) -> str:
    where = f"{r.target} port {r.port}" + (" (implicit TLS)" if r.implicit_tls else "")
    if r.address and r.address != r.target:
        where += f" → {r.address}"
    verdict = r.status.value + (", greeting rejected" if r.rejected else "")
    lines = [where, f"  status      {verdict}: {printable(r.message)}"]
    if r.greeting:
        lines.append(f"  greeting    {printable(r.greeting[0])}")
        lines.extend(f"              {printable(g)}" for g in r.greeting[1:8])
        if len(r.greeting) > 8:
            lines.append(f"              … {len(r.greeting) - 8} more line(s)")
    mta = r.mta
    if mta.category == "Unidentified":
        lines.append("  MTA         unidentified (the greeting names no known software)")
    else:
        version = f" {mta.version}" if mta.version else ""
        lines.append(f"  MTA         {mta.product}{version}  [{mta.category}; rule "
                     f"{mta.rule_id}, confidence {mta.confidence:.2f}]")
    if r.ptr is not None:
        names = ", ".join(r.ptr.names) if r.ptr.names else "none"
        lines.append(f"  PTR         {names}  (FCrDNS {'ok' if r.ptr.fcrdns else 'not ok'})")
        lines.append(f"  name match  {printable(r.ptr.message)}")
    if r.ehlo_code is not None:
        verb = "HELO" if r.helo_fallback else "EHLO"
        lines.append(f"  {verb:<11} {r.ehlo_code} {printable(r.ehlo[0][4:]) if r.ehlo else ''}")
    caps = r.capabilities
    if caps is not None:
        size = ("no" if not caps.size else
                f"{caps.size_limit} bytes" if caps.size_limit else "yes (no fixed limit)")
        lines.append(f"  STARTTLS    {'yes' if caps.starttls else 'no'}")
        lines.append(f"  AUTH        {' '.join(caps.auth) if caps.auth else 'none offered'}")
        lines.append(f"  SIZE        {size}")
        lines.append(f"  extensions  {printable(' '.join(caps.keywords))}")
    if r.tls_version:
        lines.append(f"  TLS         {r.tls_version} {r.tls_cipher or ''}".rstrip())
    if r.help:
        lines.append(f"  HELP        {printable(r.help[0])}")
        lines.extend(f"              {printable(h)}" for h in r.help[1:4])
    lines.append(f"  timings     connect {_ms(r.connect_ms)}, greeting {_ms(r.greeting_ms)}, "
                 f"EHLO {_ms(r.ehlo_ms)}, HELP {_ms(r.help_ms)}, total {_ms(r.total_ms)}")
    if r.transcript:
        lines.append("  transcript")
        for direction, text in r.transcript[:_TRANSCRIPT_SHOWN]:
            arrow = {"C": "→", "S": "←"}.get(direction, "*")
            lines.append(f"    {arrow} {printable(text, 200)}")
        if len(r.transcript) > _TRANSCRIPT_SHOWN:
            lines.append(f"    … {len(r.transcript) - _TRANSCRIPT_SHOWN} more line(s) in --json")
    return "\n".join(lines)


def exit_code(r: smtp.SmtpResult) -> int:
    if r.greeting_code is not None and r.rejected:
        return EXIT_FINDING
    if r.greeting_code is not None and r.status is Status.OK:
        return EXIT_OK
    return EXIT_FAILED


@click.command("smtp")
@click.argument("host")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port (default 25, or 465 with --tls).")
@click.option("--tls", "implicit_tls", is_flag=True,
              help="TLS from the first byte (port 465 style). Certificates are not judged "
                   "here: see `mxscope ports`.")
@click.option("--helo", "helo", default=None, metavar="NAME",
              help="Name to send in EHLO/HELO (default: Settings.helo_name).")
@click.option("--no-help", "no_help", is_flag=True, help="Do not send HELP.")
@click.option("--no-ptr", "no_ptr", is_flag=True, help="Skip the PTR / greeting-name check.")
@click.option("--greeting-timeout", type=click.FloatRange(min=0.1, max=600), default=None,
              help="Seconds to wait for the whole greeting (default 10).")
@settings_options
@json_option
def command(
    host: str,
    port: int | None,
    implicit_tls: bool,
    helo: str | None,
    no_help: bool,
    no_ptr: bool,
    greeting_timeout: float | None,
    config_file: str | None,
    nameservers: tuple[str, ...],
    timeout: float | None,
    as_json: bool,
) -> None:
    """Talk to the SMTP server HOST (IP or host name): greeting, EHLO, HELP, QUIT."""
    parsed = target_or_exit(host)
    helo_name: str | None = None
    if helo is not None:
        try:
            helo_name = smtp.check_helo_name(helo)
        except ValueError as exc:
            fail_usage(str(exc))
    settings = build_settings(
        config_file, nameservers, timeout,
        helo_name=helo_name,
        smtp_help=False if no_help else None,
        greeting_timeout=greeting_timeout,
        smtp_timeout=timeout,
    )
    try:
        smtp.check_helo_name(settings.helo_name)
    except ValueError as exc:
        fail_usage(f"helo_name setting: {exc}")
    result = run_async(smtp.run(parsed, settings, port=port or (465 if implicit_tls else 25),
                                implicit_tls=implicit_tls, resolve_ptr=not no_ptr))
    emit(result, as_json, render)
    raise SystemExit(exit_code(result))
