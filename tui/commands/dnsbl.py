"""`mxscope dnsbl TARGET`: is an IP address or domain on public block lists?

    mxscope dnsbl 192.0.2.10                 # the catalogue's default lists
    mxscope dnsbl example.com --zone dbl.spamhaus.org --zone zen.spamhaus.org
    mxscope dnsbl --self-check               # do the lists answer their RFC 5782 test entries?
    mxscope dnsbl --list                     # the catalogue

Exit status: 0 not listed anywhere; 3 listed on at least one list (self-check: a list failed);
1 no list gave an answer (all errors/timeouts, or a host name did not resolve); 2 bad input.
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
from tui.probes import dnsbl
from tui.probes.base import Status
from tui.probes.target import TargetError

_ORDER = {
    dnsbl.ListStatus.LISTED: 0,
    dnsbl.ListStatus.ERROR: 1,
    dnsbl.ListStatus.TIMEOUT: 2,
    dnsbl.ListStatus.CLEAN: 3,
    dnsbl.ListStatus.SKIPPED: 4,
}


def _line(r: dnsbl.ListResult, show_subject: bool) -> list[str]:
    label = r.status.value.upper() if r.status is dnsbl.ListStatus.LISTED else r.status.value
    subject = f"{r.subject:<16} " if show_subject else ""
    lines = [f"  {label:<8} {subject}{r.zone:<34} {r.message}"]
    if r.status is dnsbl.ListStatus.LISTED:
        lines.extend(f"           TXT {printable(t)}" for t in r.txt)
        if r.delist:
            lines.append(f"           delist: {r.delist}")
    return lines


def render(result: dnsbl.DnsblResult) -> str:
    lines = [f"{result.target}: {result.message}"]
    if result.resolve_message:
        lines.append(f"  {result.resolve_message}")
    show_subject = len(result.subjects) > 1
    for r in sorted(result.results, key=lambda r: _ORDER[r.status]):
        lines.extend(_line(r, show_subject))
    lines.append(f"  {result.elapsed_ms:.0f} ms")
    return "\n".join(lines)


def render_self_check(result: dnsbl.SelfCheckResult) -> str:
    lines = [result.message]
    for e in sorted(result.entries, key=lambda e: e.ok):
        mark = "ok    " if e.ok else "BROKEN"
        detail = "" if e.ok else f"  {e.problem}"
        lines.append(f"  {mark} {e.zone:<34}{detail}".rstrip())
    lines.append(f"  {result.elapsed_ms:.0f} ms")
    return "\n".join(lines)


def render_catalogue(entries: tuple[dnsbl.DnsblList, ...]) -> str:
    lines = [f"{'id':<16} {'zone':<34} {'kind':<6} {'IPv6':<5} {'default':<7} name"]
    for e in entries:
        v6 = "-" if e.kind == "domain" else ("yes" if e.ipv6 else "no")
        on = "on" if e.enabled else "off"
        lines.append(f"{e.id:<16} {e.zone:<34} {e.kind:<6} {v6:<5} {on:<7} {e.name}")
    lines.append(f"{len(entries)} lists, {sum(e.enabled for e in entries)} on by default")
    return "\n".join(lines)


def exit_code(result: dnsbl.DnsblResult) -> int:
    if result.listed:
        return EXIT_FINDING
    if result.counts.listed + result.counts.clean == 0:
        return EXIT_FAILED
    return EXIT_OK


def self_check_exit_code(result: dnsbl.SelfCheckResult) -> int:
    if result.ok:
        return EXIT_OK
    if result.status is not Status.OK:
        return EXIT_FAILED
    return EXIT_FINDING


@click.command("dnsbl")
@click.argument("target", required=False)
@click.option("--zone", "zones", multiple=True, metavar="ZONE",
              help="List to ask: a zone or catalogue id (repeatable; default: the catalogue's "
                   "default set or the dnsbl_zones setting).")
@click.option("--self-check", is_flag=True,
              help="Ask each list for its RFC 5782 test entries instead of a target.")
@click.option("--list", "list_catalogue", is_flag=True, help="Print the list catalogue.")
@settings_options
@json_option
def command(
    target: str | None,
    zones: tuple[str, ...],
    self_check: bool,
    list_catalogue: bool,
    config_file: str | None,
    nameservers: tuple[str, ...],
    timeout: float | None,
    as_json: bool,
) -> None:
    """DNSBL check of TARGET (IP address or domain) on many block lists at once."""
    if list_catalogue:
        emit(dnsbl.catalogue(), as_json, render_catalogue)
        raise SystemExit(EXIT_OK)
    if self_check and target:
        fail_usage("--self-check takes no TARGET")
    if not self_check and not target:
        fail_usage("missing TARGET (an IP address or domain), or use --self-check / --list")
    parsed = None if self_check else target_or_exit(target or "")
    settings = build_settings(config_file, nameservers, timeout)
    try:
        dnsbl.select_lists(settings, zones)  # validates every zone before anything is sent
    except TargetError as exc:
        fail_usage(str(exc))
    if parsed is None:
        checked = run_async(dnsbl.self_check(settings, zones))
        emit(checked, as_json, render_self_check)
        raise SystemExit(self_check_exit_code(checked))
    result = run_async(dnsbl.run(parsed, settings, zones))
    emit(result, as_json, render)
    raise SystemExit(exit_code(result))
