"""GeoIP: where an address is, from local MaxMind-format (MMDB) databases; no traffic.

Which database answers, first configured wins:
  1. Settings.geoip_city_db      (a GeoIP2/GeoLite2/DB-IP City or Enterprise MMDB)
  2. Settings.geoip_country_db   (a Country MMDB)
  3. the embedded DB-IP IP-to-Country Lite database (tui/data/dbip-country.mmdb, CC BY 4.0)
The ASN comes from Settings.geoip_asn_db (GeoLite2-ASN or GeoIP2-ISP) when configured.

A configured database that cannot be used is an error, never a silent fall-back: the user
asked for that database. Readers are opened once per (path, mtime, size) and shared.
Host names are resolved (A, then AAAA) through Settings.nameservers; the first address
is looked up and the result says which one.

``GeoLookup`` is the survey's hot path: one open reader, a country code per call.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

from tui.config import Settings
from tui.probes.base import Status, Stopwatch
from tui.probes.dnsutil import host_addresses, make_resolver
from tui.probes.target import Target

EMBEDDED_DB = Path(__file__).resolve().parent.parent / "data" / "dbip-country.mmdb"
ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com)"

LOCATION_KINDS = frozenset({"city", "enterprise", "country"})
ASN_KINDS = frozenset({"asn", "isp"})
_KIND_LABEL = {"city": "City", "enterprise": "Enterprise", "country": "Country",
               "asn": "ASN", "isp": "ISP"}


class GeoipDbError(Exception):
    """A database cannot be used; str(exc) is one line naming the file and the reason."""


@dataclass(frozen=True, slots=True)
class DbInfo:
    path: str
    database_type: str
    kind: str  # city / enterprise / country / asn / isp
    build_epoch: int
    built: str  # build time, ISO 8601 UTC
    embedded: bool
    description: str
    ip_version: int = 6

    @property
    def is_dbip(self) -> bool:
        return self.embedded or self.database_type.upper().startswith("DBIP")

    @property
    def built_date(self) -> str:
        return self.built[:10]


@dataclass(frozen=True, slots=True)
class GeoipResult:
    target: str
    status: Status
    message: str
    address: str | None = None  # the address looked up
    resolved: tuple[str, ...] = ()  # every address a host name resolved to (A, then AAAA)
    network: str | None = None  # the database prefix that matched
    country_code: str | None = None
    country_name: str | None = None
    registered_country_code: str | None = None
    registered_country_name: str | None = None
    continent_code: str | None = None
    continent_name: str | None = None
    city: str | None = None
    subdivision_code: str | None = None
    subdivision_name: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: int | None = None
    time_zone: str | None = None
    asn: int | None = None
    asn_org: str | None = None
    asn_network: str | None = None
    asn_message: str = ""  # why there is no ASN when an ASN DB is configured
    db_path: str | None = None
    db_type: str | None = None
    db_built: str | None = None
    db_embedded: bool = False
    asn_db_path: str | None = None
    asn_db_type: str | None = None
    asn_db_built: str | None = None
    attribution: str | None = None
    resolve_ms: float = 0.0
    lookup_ms: float = 0.0
    elapsed_ms: float = 0.0


# -- databases ------------------------------------------------------------------------------

def db_kind(database_type: str) -> str | None:
    """What a database holds, from its metadata type, as geoip2's Reader methods expect."""
    if "Enterprise" in database_type:
        return "enterprise"
    if "City" in database_type:
        return "city"
    if "Country" in database_type:
        return "country"
    if "GeoLite2-ASN" in database_type:
        return "asn"
    if "GeoIP2-ISP" in database_type:
        return "isp"
    return None


_cache: dict[str, tuple[tuple[int, int], geoip2.database.Reader, DbInfo]] = {}
_cache_lock = threading.Lock()


def _stat_key(path: str) -> tuple[str, tuple[int, int]]:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except FileNotFoundError:
        raise GeoipDbError(f"GeoIP database {path}: no such file") from None
    except OSError as exc:
        raise GeoipDbError(f"GeoIP database {path}: {exc.strerror or exc}") from None
    if not os.path.isfile(real):
        raise GeoipDbError(f"GeoIP database {path}: not a regular file")
    return real, (st.st_mtime_ns, st.st_size)


def open_database(
    path: str | os.PathLike[str], kinds: frozenset[str] = LOCATION_KINDS
) -> tuple[geoip2.database.Reader, DbInfo]:
    """A shared Reader and its metadata; raises GeoipDbError (missing, not MMDB, wrong kind)."""
    path = os.fspath(path)
    real, key = _stat_key(path)
    with _cache_lock:
        hit = _cache.get(real)
    if hit is not None and hit[0] == key:
        reader, info = hit[1], hit[2]
    else:
        try:
            reader = geoip2.database.Reader(real)
        except (maxminddb.InvalidDatabaseError, ValueError):
            raise GeoipDbError(
                f"GeoIP database {path}: not a MaxMind DB (MMDB) file"
            ) from None
        except OSError as exc:
            raise GeoipDbError(f"GeoIP database {path}: {exc.strerror or exc}") from None
        meta = reader.metadata()
        epoch = int(meta.build_epoch)
        info = DbInfo(
            path=path,
            database_type=str(meta.database_type),
            kind=db_kind(str(meta.database_type)) or "",
            build_epoch=epoch,
            built=datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            embedded=real == os.path.realpath(EMBEDDED_DB),
            description=str((meta.description or {}).get("en", "")),
            ip_version=int(meta.ip_version),
        )
        # A replaced file gets a new reader; the old one is left to the garbage collector
        # because another task may still be reading from it.
        with _cache_lock:
            _cache[real] = (key, reader, info)
    if info.kind not in kinds:
        labels = sorted({_KIND_LABEL[k] for k in kinds})
        wanted = " or ".join(labels) if len(labels) < 3 else (
            ", ".join(labels[:-1]) + " or " + labels[-1])
        raise GeoipDbError(
            f"GeoIP database {path}: its type {info.database_type!r} is not "
            f"{'an' if wanted[0] in 'AEIOU' else 'a'} {wanted} database"
        )
    return reader, info


def location_db_path(settings: Settings) -> tuple[str, bool]:
    """(path, is the embedded DB) of the database that answers location lookups."""
    if settings.geoip_city_db:
        return settings.geoip_city_db, False
    if settings.geoip_country_db:
        return settings.geoip_country_db, False
    return str(EMBEDDED_DB), True


def _lookup_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    # IPv4-mapped IPv6 is the IPv4 address; not every database aliases ::ffff:0:0/96.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


# -- the probe ------------------------------------------------------------------------------

async def _resolve(
    host: str, settings: Settings
) -> tuple[tuple[str, ...], Status, str]:
    addresses, status, message = await host_addresses(make_resolver(settings), host)
    return tuple(a.compressed for a in addresses), status, message


def _location_fields(model: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "country_code": model.country.iso_code,
        "country_name": model.country.name,
        "registered_country_code": model.registered_country.iso_code,
        "registered_country_name": model.registered_country.name,
        "continent_code": model.continent.code,
        "continent_name": model.continent.name,
        "network": str(model.traits.network) if model.traits.network else None,
    }
    if hasattr(model, "city"):  # City and Enterprise models
        sub = model.subdivisions.most_specific
        loc = model.location
        fields.update(
            city=model.city.name,
            subdivision_code=sub.iso_code,
            subdivision_name=sub.name,
            postal_code=model.postal.code,
            latitude=loc.latitude,
            longitude=loc.longitude,
            accuracy_radius_km=loc.accuracy_radius,
            time_zone=loc.time_zone,
        )
    return fields


def _place_text(fields: dict[str, Any]) -> str:
    country = fields.get("country_name") or fields.get("registered_country_name")
    code = fields.get("country_code") or fields.get("registered_country_code")
    city, region = fields.get("city"), fields.get("subdivision_name")
    parts = [p for p in (city, region if region != city else None) if p]
    if country:
        parts.append(f"{country} ({code})" if code else country)
    elif fields.get("continent_name"):
        parts.append(fields["continent_name"])
    return ", ".join(parts) or "no location fields in the record"


def _asn_lookup(address: str, settings: Settings) -> dict[str, Any]:
    if not settings.geoip_asn_db:
        return {}
    try:
        reader, info = open_database(settings.geoip_asn_db, ASN_KINDS)
    except GeoipDbError as exc:
        return {"asn_message": str(exc), "asn_db_path": settings.geoip_asn_db}
    out: dict[str, Any] = {"asn_db_path": info.path, "asn_db_type": info.database_type,
                           "asn_db_built": info.built}
    if info.ip_version == 4 and ":" in address:
        out["asn_message"] = f"{address} is not in {info.database_type} (IPv4 only)"
        return out
    try:
        model = reader.asn(address) if info.kind == "asn" else reader.isp(address)
    except geoip2.errors.AddressNotFoundError:
        out["asn_message"] = f"{address} is not in {info.database_type}"
        return out
    except (maxminddb.InvalidDatabaseError, ValueError, TypeError) as exc:
        out["asn_message"] = f"GeoIP database {info.path}: unreadable record ({exc})"
        return out
    out.update(asn=model.autonomous_system_number, asn_org=model.autonomous_system_organization,
               asn_network=str(model.network) if model.network else None)
    if out["asn"] is None:
        out["asn_message"] = f"{address}: no ASN in the {info.database_type} record"
    return out


async def run(target: Target, settings: Settings) -> GeoipResult:
    sw = Stopwatch()
    path, embedded = location_db_path(settings)
    if embedded and not EMBEDDED_DB.is_file():
        return GeoipResult(
            target.text, Status.UNAVAILABLE,
            "no GeoIP database: the embedded DB-IP database is missing from this "
            "installation and none is configured (geoip_city_db / geoip_country_db)",
            elapsed_ms=sw.ms(),
        )
    # Open the database before any DNS traffic: a broken configuration needs no lookup.
    try:
        reader, info = open_database(path, LOCATION_KINDS)
    except GeoipDbError as exc:
        return GeoipResult(target.text, Status.ERROR, str(exc), db_path=path,
                           db_embedded=embedded, elapsed_ms=sw.ms())
    db = {"db_path": info.path, "db_type": info.database_type, "db_built": info.built,
          "db_embedded": info.embedded}

    resolved: tuple[str, ...] = ()
    resolve_ms = 0.0
    prefix = ""
    if target.is_ip:
        ip = target.ip
    else:
        rsw = Stopwatch()
        resolved, rstatus, rmessage = await _resolve(target.text, settings)
        resolve_ms = rsw.ms()
        if not resolved:
            return GeoipResult(target.text, rstatus, rmessage, resolve_ms=resolve_ms,
                               elapsed_ms=sw.ms(), **db)
        ip = ipaddress.ip_address(resolved[0])
        more = f", first of {len(resolved)}" if len(resolved) > 1 else ""
        prefix = f"{target.text} → {resolved[0]}{more}: "
    address = _lookup_address(ip)
    if address != ip.compressed:
        prefix += f"{ip.compressed} is IPv4-mapped, looked up as {address}: "

    lsw = Stopwatch()
    try:
        if info.ip_version == 4 and ":" in address:
            # An IPv4-only database cannot hold it; maxminddb would raise ValueError.
            raise geoip2.errors.AddressNotFoundError(f"{address}: IPv4-only database")
        if info.kind == "city":
            model: Any = reader.city(address)
        elif info.kind == "enterprise":
            model = reader.enterprise(address)
        else:
            model = reader.country(address)
    except geoip2.errors.AddressNotFoundError:
        lookup_ms = lsw.ms()
        asn = _asn_lookup(address, settings)
        why = "" if ipaddress.ip_address(address).is_global else " (a private or reserved address)"
        return GeoipResult(
            target.text, Status.NOANSWER,
            f"{prefix}{address} is not in {info.database_type}{why}",
            address=address, resolved=resolved, resolve_ms=resolve_ms, lookup_ms=lookup_ms,
            elapsed_ms=sw.ms(), **db, **asn,
        )
    except (maxminddb.InvalidDatabaseError, ValueError, TypeError) as exc:
        return GeoipResult(
            target.text, Status.ERROR,
            f"GeoIP database {info.path}: cannot read the record for {address} ({exc})",
            address=address, resolved=resolved, resolve_ms=resolve_ms, lookup_ms=lsw.ms(),
            elapsed_ms=sw.ms(), **db,
        )
    fields = _location_fields(model)
    lookup_ms = lsw.ms()
    asn = _asn_lookup(address, settings)
    message = f"{prefix}{_place_text(fields)}"
    if asn.get("asn") is not None:
        message += f"; AS{asn['asn']}" + (f" {asn['asn_org']}" if asn.get("asn_org") else "")
    return GeoipResult(
        target.text, Status.OK, message, address=address, resolved=resolved,
        attribution=ATTRIBUTION if info.is_dbip else None,
        resolve_ms=resolve_ms, lookup_ms=lookup_ms, elapsed_ms=sw.ms(),
        **fields, **db, **asn,
    )


# -- the survey's hot path ------------------------------------------------------------------

class GeoLookup:
    """Country code per address with one reader opened up front (no stat, no model objects).

    Raises GeoipDbError at construction when the database cannot be used; afterwards
    ``country()`` never raises: an unknown or malformed address gives None.
    """

    def __init__(self, settings: Settings | None = None, path: str | None = None) -> None:
        if path is None:
            path, _embedded = location_db_path(settings or Settings())
        # Validates the file and its type, and gives the metadata.
        _reader, self.info = open_database(path, LOCATION_KINDS)
        try:
            self._reader = maxminddb.open_database(os.path.realpath(path))
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise GeoipDbError(f"GeoIP database {path}: {exc}") from None

    @property
    def attribution(self) -> str | None:
        return ATTRIBUTION if self.info.is_dbip else None

    def country(self, ip: str) -> str | None:
        try:
            record = self._reader.get(ip)
            if record is None and ip[:7].lower() == "::ffff:":
                mapped = ipaddress.IPv6Address(ip).ipv4_mapped
                record = self._reader.get(str(mapped)) if mapped else None
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        country = record.get("country") or record.get("registered_country")
        return country.get("iso_code") if isinstance(country, dict) else None

    def close(self) -> None:
        self._reader.close()
