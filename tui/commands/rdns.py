"""`mxscope rdns TARGET`: PTR names and forward confirmation (FCrDNS).

Exit status: 0 every address is forward-confirmed; 3 a PTR is missing or does not resolve
back (or a host name does not resolve); 1 a lookup failed (timeout, SERVFAIL, error);
2 bad input.
"""

from __future__ import annotations

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_FINDING,
    EXIT_OK,
    build_settings,
    emit,
    json_option,
    run_async,
    settings_options,
    target_or_exit,
)
from tui.probes import rdns
from tui.probes.base import Status


def render(result: rdns.RdnsResult) -> str:
    lines = [f"{result.target}: {result.message}"]
    if result.host_message and result.addresses:
        lines.append(f"  {result.host_message}")
    for check in result.addresses:
        if check.names:
            lines.append(f"  {check.ip}  PTR {', '.join(check.names)}")
        else:
            lines.append(f"  {check.ip}  PTR {check.ptr_status.value} ({check.ptr_name})")
        for fwd in check.forward:
            mark = "confirmed" if fwd.confirmed else "NOT confirmed"
            addrs = ", ".join(fwd.addresses) if fwd.addresses else f"({fwd.status.value})"
            lines.append(f"    {fwd.name} → {addrs}  [{mark}]")
        if len(check.names) > len(check.forward):
            lines.append(f"    ({len(check.names) - len(check.forward)} more PTR names "
                         "not checked)")
    lines.append(f"  {result.elapsed_ms:.0f} ms")
    return "\n".join(lines)


def exit_code(result: rdns.RdnsResult) -> int:
    if result.addresses and result.fcrdns:
        return EXIT_OK
    if not result.addresses:
        # The host name gave no address: a definite "does not exist / no address" is a
        # finding; a failed lookup means the check could not run.
        definite = result.host_status in (Status.NXDOMAIN, Status.NOANSWER)
        return EXIT_FINDING if definite else EXIT_FAILED
    if any(c.outcome in ("no_ptr", "unconfirmed") for c in result.addresses):
        return EXIT_FINDING
    return EXIT_FAILED


@click.command("rdns")
@click.argument("target")
@settings_options
@json_option
def command(
    target: str,
    config_file: str | None,
    nameservers: tuple[str, ...],
    timeout: float | None,
    as_json: bool,
) -> None:
    """Reverse DNS of TARGET (IP or host name) and forward confirmation (FCrDNS)."""
    parsed = target_or_exit(target)
    settings = build_settings(config_file, nameservers, timeout)
    result = run_async(rdns.run(parsed, settings))
    emit(result, as_json, render)
    raise SystemExit(exit_code(result))
