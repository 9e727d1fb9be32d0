"""`mxscope ports HOST`: mail ports open/closed/filtered, banner, TLS and certificate.

Exit 0 when at least one port is open and no TLS or certificate problem was found, 3 when
one was (TLS upgrade failed; certificate expired, for another host, self-signed or not
verifiable), 1 when nothing is open (all closed/filtered, or the name did not resolve),
2 for bad input (nothing sent).
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
from tui.probes import ports as probe
from tui.probes import tlsinfo
from tui.probes.base import Status

BANNER_WIDTH = 60


def parse_port_spec(text: str) -> tuple[int, str | None]:
    """'587' -> (587, None); '2526/smtps' -> (2526, 'smtps'). Raises ValueError."""
    number, sep, service = text.strip().partition("/")
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise ValueError(f"--port {text!r}: {number!r} is not a TCP port (1-65535)")
    if sep and service not in probe.SERVICES:
        raise ValueError(f"--port {text!r}: unknown service {service!r}; "
                         f"one of {', '.join(probe.SERVICES)}")
    return int(number), (service if sep else None)


def _tls_cell(r: probe.PortResult) -> str:
    if r.state != "open":
        return "-"
    label = "TLS" if r.tls_mode == "implicit" else ("STLS" if r.protocol == "pop3" else
                                                    "STARTTLS")
    if r.tls_error:
        return f"{label} FAILED"
    if r.tls is not None:
        return f"{label} {r.tls.version or '?'} {'ok' if not r.tls.problems else 'PROBLEM'}"
    if r.tls_mode == "starttls" and r.starttls_offered is False:
        return f"no {label}"
    return "-"


def _expiry_cell(r: probe.PortResult) -> str:
    info = r.tls
    if info is None or info.not_after is None or info.days_left is None:
        return "-"
    date = info.not_after[:10]
    if info.expired:
        return f"{date} (expired)"
    return f"{date} ({info.days_left} d)"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(result: probe.PortsResult) -> str:
    shown = result.target if result.address in (None, result.target) else \
        f"{result.target} ({result.address})"
    if not result.ports:
        return f"ports {shown}: {result.status.value}: {printable(result.message, 1000)}"
    header = ("PORT", "SERVICE", "STATE", "MS", "TLS", "CERT EXPIRY", "BANNER")
    rows = [header]
    for r in result.ports:
        banner = printable(r.banner, BANNER_WIDTH - 1)
        rows.append((str(r.port), r.service, r.state, _ms(r.connect_ms), _tls_cell(r),
                     _expiry_cell(r), banner or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [f"ports on {shown}"]
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i == 3 else row[i].ljust(widths[i])
                 for i in range(len(widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    notes = [f"  {r.port} {r.service}: {printable(r.message, 1000)}" for r in result.ports
             if r.tls_problem or (r.state == "open" and r.status is not Status.OK)]
    if notes:
        lines.append("")
        lines.extend(notes)
    lines.append("")
    lines.append(f"verdict: {printable(result.message, 4000)}")
    return "\n".join(lines)


def exit_code(result: probe.PortsResult) -> int:
    if result.status is not Status.OK or not result.open:
        return EXIT_FAILED
    if result.tls_failed or result.cert_problems:
        return EXIT_FINDING
    return EXIT_OK


@click.command(name="ports")
@click.argument("host", metavar="HOST")
@click.option("--port", "-p", "port_specs", multiple=True, metavar="N[/SERVICE]",
              help="Port to check (repeatable; default: settings ports, 25 465 587 2525 110 "
                   "995 143 993). SERVICE overrides what is spoken there: "
                   + ", ".join(probe.SERVICES) + ".")
@click.option("--greeting-timeout", type=click.FloatRange(min=0.05, max=600), default=None,
              help="Seconds to wait for a banner (default: settings greeting_timeout, 10).")
@click.option("--ca-file", "ca_file", type=click.Path(dir_okay=False), default=None,
              help="Extra CA bundle (PEM) to trust when verifying certificates.")
@settings_options
@json_option
def command(
    host: str, port_specs: tuple[str, ...], greeting_timeout: float | None,
    ca_file: str | None, config_file: str | None, nameservers: tuple[str, ...],
    timeout: float | None, as_json: bool,
) -> None:
    """Check the mail ports of HOST (IP address or host name) concurrently: state,
    connect time, banner, implicit TLS or STARTTLS/STLS, and the certificate (expiry,
    host name match, verification against the system CAs plus --ca-file)."""
    target = target_or_exit(host)
    ports: list[int] = []
    services: dict[int, str] = {}
    for spec in port_specs:
        try:
            number, service = parse_port_spec(spec)
        except ValueError as exc:
            fail_usage(str(exc))
        ports.append(number)
        if service is not None:
            services[number] = service
    settings = build_settings(config_file, nameservers, timeout,
                              greeting_timeout=greeting_timeout, tls_ca_file=ca_file)
    try:
        tlsinfo.make_contexts(settings)  # a bad CA file is bad input: fail before sending
    except tlsinfo.TlsSetupError as exc:
        fail_usage(str(exc))
    result = run_async(probe.run(target, settings, ports=ports or None,
                                 services=services or None))
    emit(result, as_json, render)
    raise SystemExit(exit_code(result))
