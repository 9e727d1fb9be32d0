"""`mxscope whois TARGET`: RDAP registration data for an address or a host's first address."""

from __future__ import annotations

import sys

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_OK,
    build_settings,
    emit,
    fail_usage,
    json_option,
    run_async,
    settings_options,
    target_or_exit,
)
from tui.probes import whois
from tui.probes.base import Status


def render(result: whois.WhoisResult) -> str:
    """Human text: one labelled line per fact, then the contacts by role."""
    title = result.ip or result.target
    if result.hostname and result.ip:
        title = f"{result.hostname} ({result.ip})"
    lines = [f"{title}  whois (RDAP)"]

    def row(label: str, value: str | None) -> None:
        if value:
            lines.append(f"  {label:<14} {value}")

    row("status", result.status.value + (" (cached)" if result.cached else ""))
    row("result", result.message)
    if result.asn:
        asn = f"AS{result.asn}"
        if result.asn_description:
            asn += f"  {result.asn_description}"
        extra = ", ".join(x for x in (result.asn_country, result.asn_registry) if x)
        if result.asn_prefix:
            asn += f"  prefix {result.asn_prefix}"
        if extra:
            asn += f"  ({extra})"
        row("ASN", asn)
    network = " ".join(
        x for x in (result.network_name, result.network_handle and f"[{result.network_handle}]")
        if x
    )
    span = result.network_range
    if span and result.network_cidrs:
        span += f" ({', '.join(result.network_cidrs)})"
    row("network", " ".join(x for x in (network, span) if x))
    if result.org_name:
        row("org", result.org_name + (f" [{result.org_handle}]" if result.org_handle else ""))
    row("country", result.country)
    if result.rir:
        row("registry", whois.RIR_NAMES.get(result.rir, result.rir))
    row("rdap", result.rdap_url)
    row("range", result.special_range)
    if result.status is Status.OK and not result.special_range and not result.abuse_emails:
        row("abuse", "(no abuse contact published)")
    for entry in result.role_emails:
        row(entry.role, ", ".join(entry.emails))
    lines.append(f"  {'took':<14} {result.elapsed_ms:.0f} ms")
    return "\n".join(lines)


@click.command("whois")
@click.argument("target")
@settings_options
@click.option(
    "--rdap-server", default=None, metavar="URL",
    help="Send every RDAP request to this base URL (http://host:port), keeping the RIR's "
    "Host header; for the lab and mirrors.",
)
@json_option
def command(
    target: str, config_file: str | None, nameservers: tuple[str, ...], timeout: float | None,
    rdap_server: str | None, as_json: bool,
) -> None:
    """Who holds TARGET (IP or host name): ASN, prefix, network, org, country, abuse contact.

    Private, reserved and documentation addresses are answered without a lookup.
    """
    settings = build_settings(config_file, nameservers, timeout, rdap_server=rdap_server)
    if settings.rdap_server:
        try:
            whois.parse_rdap_server(settings.rdap_server)
        except ValueError as exc:
            fail_usage(str(exc))
    parsed = target_or_exit(target)
    result = run_async(whois.run(parsed, settings))
    emit(result, as_json, render)
    sys.exit(EXIT_OK if result.status is Status.OK else EXIT_FAILED)
