"""`mxscope geoip TARGET`: country, city, coordinates and ASN from local GeoIP databases.

Without --db the configured City/Country database answers, else the embedded DB-IP
IP-to-Country Lite database (whose answers carry the line "IP Geolocation by DB-IP").

Exit status: 0 the address was found; 1 not found (private address, not in the database)
or a lookup failed (host name did not resolve, configured database unusable); 2 bad
input, including a --db / --asn-db that cannot be used (nothing is looked up).
"""

from __future__ import annotations

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
from tui.probes import geoip
from tui.probes.base import Status


def _row(label: str, value: str) -> str:
    return f"  {label:<13}{value}"


def render(result: geoip.GeoipResult) -> str:
    lines = [f"{result.target}: {result.message}"]
    if result.resolved:
        lines.append(_row("resolved", ", ".join(result.resolved)))
    if result.address and result.address != result.target:
        lines.append(_row("looked up", result.address))
    if result.country_code or result.country_name:
        text = f"{result.country_code or '--'}  {result.country_name or ''}".rstrip()
        if result.continent_name:
            text += f"  ({result.continent_name})"
        lines.append(_row("country", text))
    if result.registered_country_code and (
        result.registered_country_code != result.country_code
    ):
        lines.append(_row("registered", f"{result.registered_country_code}  "
                                        f"{result.registered_country_name or ''}".rstrip()))
    if result.city:
        lines.append(_row("city", result.city))
    if result.subdivision_name or result.subdivision_code:
        code = f" ({result.subdivision_code})" if result.subdivision_code else ""
        lines.append(_row("subdivision", f"{result.subdivision_name or ''}{code}".strip()))
    if result.postal_code:
        lines.append(_row("postal code", result.postal_code))
    if result.latitude is not None and result.longitude is not None:
        text = f"{result.latitude:.4f}, {result.longitude:.4f}"
        if result.accuracy_radius_km is not None:
            text += f"  (within {result.accuracy_radius_km} km)"
        lines.append(_row("coordinates", text))
    if result.time_zone:
        lines.append(_row("time zone", result.time_zone))
    if result.network:
        lines.append(_row("network", result.network))
    if result.asn is not None:
        text = f"AS{result.asn}" + (f"  {result.asn_org}" if result.asn_org else "")
        if result.asn_network:
            text += f"  ({result.asn_network})"
        lines.append(_row("ASN", text))
    elif result.asn_message:
        lines.append(_row("ASN", result.asn_message))
    if result.db_type:
        where = "embedded" if result.db_embedded else result.db_path
        built = f", built {result.db_built[:10]}" if result.db_built else ""
        lines.append(_row("database", f"{result.db_type}{built} ({where})"))
    if result.asn_db_type:
        built = f", built {result.asn_db_built[:10]}" if result.asn_db_built else ""
        lines.append(_row("ASN database", f"{result.asn_db_type}{built} ({result.asn_db_path})"))
    if result.attribution:
        lines.append(result.attribution)
    return "\n".join(lines)


def exit_code(result: geoip.GeoipResult) -> int:
    return EXIT_OK if result.status is Status.OK else EXIT_FAILED


@click.command("geoip")
@click.argument("target")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="A City or Country MMDB (GeoIP2, GeoLite2, DB-IP); its type is detected.")
@click.option("--asn-db", "asn_db_path", type=click.Path(dir_okay=False), default=None,
              help="A GeoLite2-ASN (or GeoIP2-ISP) MMDB for the AS number and organisation.")
@settings_options
@json_option
def command(
    target: str,
    db_path: str | None,
    asn_db_path: str | None,
    config_file: str | None,
    nameservers: tuple[str, ...],
    timeout: float | None,
    as_json: bool,
) -> None:
    """Where TARGET (IP or host name) is: country, city, coordinates, ASN; no traffic
    except the DNS lookup of a host name."""
    parsed = target_or_exit(target)
    settings = build_settings(config_file, nameservers, timeout)
    if db_path is not None:
        try:
            _reader, info = geoip.open_database(db_path, geoip.LOCATION_KINDS)
        except geoip.GeoipDbError as exc:
            fail_usage(str(exc))
        if info.kind == "country":
            settings = settings.replace(geoip_city_db=None, geoip_country_db=db_path)
        else:
            settings = settings.replace(geoip_city_db=db_path, geoip_country_db=None)
    if asn_db_path is not None:
        try:
            geoip.open_database(asn_db_path, geoip.ASN_KINDS)
        except geoip.GeoipDbError as exc:
            fail_usage(str(exc))
        settings = settings.replace(geoip_asn_db=asn_db_path)
    result = run_async(geoip.run(parsed, settings))
    emit(result, as_json, render)
    raise SystemExit(exit_code(result))
