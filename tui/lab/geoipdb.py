"""Small GeoIP2-format databases built at run time, for tests, `mxscope demo` and screenshots.

    dbs = build_lab_dbs(tmp_path)               # City, Country and ASN DBs in one go
    settings = dbs.apply(Settings(...))         # geoip_city_db / geoip_asn_db set

    build_city_db(path, {"127.0.0.0/24": Place("DE", city="Berlin", ...)})
    build_asn_db(path, {"127.0.0.0/24": (64496, "Lab Mail Networks")})

Records are declared per CIDR (IPv4 or IPv6) and written in the layout MaxMind's
GeoIP2/GeoLite2 databases use, so geoip2's Reader.city() / .country() / .asn() read
them. The default data covers the lab's loopback servers (127.0.0.0/8, ::1) with several
countries, so a survey of the lab shows a real distribution, plus documentation ranges
(RFC 5737 / RFC 3849) and a few public-looking keys. Nothing here is real geolocation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter, TreeWriter
from netaddr import IPSet

from tui.config import Settings
from tui.probes.countries import CONTINENTS, COUNTRIES

# 2026-01-01T00:00:00Z: a fixed build date so demo output and screenshots do not drift.
LAB_BUILD_EPOCH = 1767225600


@dataclass(frozen=True, slots=True)
class Place:
    """Where a lab network "is". Country codes are ISO alpha-2 and must be in countries.py."""

    country: str
    city: str | None = None
    subdivision: tuple[str, str] | None = None  # (ISO 3166-2 code part, name)
    postal: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius: int | None = None  # km
    time_zone: str | None = None
    registered_country: str | None = None  # defaults to country


# ASN data: (number, organisation). 64496-64511 are the documentation ASNs (RFC 5398).
Asn = tuple[int, str]

LAB_PLACES: dict[str, Place] = {
    # The lab's own servers: 127.0.0.x, split so a lab survey sees several countries.
    "127.0.0.0/24": Place("DE", "Berlin", ("BE", "Land Berlin"), "10115", 52.5244, 13.4105,
                          20, "Europe/Berlin"),
    "127.0.1.0/24": Place("US", "Ashburn", ("VA", "Virginia"), "20147", 39.0437, -77.4875,
                          50, "America/New_York"),
    "127.0.2.0/24": Place("NL", "Amsterdam", ("NH", "North Holland"), "1012", 52.3740,
                          4.8897, 10, "Europe/Amsterdam"),
    "127.0.3.0/24": Place("FR", "Paris", ("IDF", "Île-de-France"), "75001", 48.8534,
                          2.3488, 20, "Europe/Paris"),
    "127.0.4.0/24": Place("JP", "Tokyo", ("13", "Tokyo"), "100-0001", 35.6895, 139.6917,
                          100, "Asia/Tokyo"),
    "127.0.5.0/24": Place("BR", "São Paulo", ("SP", "São Paulo"), "01000-000", -23.5475,
                          -46.6361, 100, "America/Sao_Paulo"),
    # Located in the UK, registered to a US organisation: registered != physical country.
    "127.0.6.0/24": Place("GB", "London", ("ENG", "England"), "EC1A", 51.5085, -0.1257, 5,
                          "Europe/London", registered_country="US"),
    # Country only, as a network with no finer location would be.
    "127.0.7.0/24": Place("ZA"),
    "::1/128": Place("DE", "Berlin", ("BE", "Land Berlin"), "10115", 52.5244, 13.4105, 20,
                     "Europe/Berlin"),
    # Documentation ranges and public-looking keys.
    "192.0.2.0/24": Place("SE", "Linköping", ("E", "Östergötland County"), "582 22",
                          58.4167, 15.6167, 76, "Europe/Stockholm"),
    "198.51.100.0/24": Place("AU", "Sydney", ("NSW", "New South Wales"), "2000",
                             -33.8678, 151.2073, 50, "Australia/Sydney"),
    "203.0.113.0/24": Place("CA", "Toronto", ("ON", "Ontario"), "M5H", 43.7001, -79.4163,
                            20, "America/Toronto"),
    "81.2.69.0/24": Place("GB", "London", ("ENG", "England"), "SW1A", 51.5142, -0.0931, 10,
                          "Europe/London"),
    "2001:db8::/32": Place("CH", "Zurich", ("ZH", "Zurich"), "8001", 47.3667, 8.55, 100,
                           "Europe/Zurich"),
    "2a02:db8:1::/48": Place("FR", "Lyon", ("ARA", "Auvergne-Rhône-Alpes"), "69001",
                             45.7485, 4.8467, 50, "Europe/Paris"),
}

LAB_ASNS: dict[str, Asn] = {
    "127.0.0.0/24": (64496, "Lab Mail Networks"),
    "127.0.1.0/24": (64497, "Example Cloud Inc."),
    "127.0.2.0/24": (64498, "Loopback Hosting B.V."),
    "127.0.3.0/24": (64499, "Exemple Télécom SA"),
    "127.0.4.0/24": (64500, "Test Net KK"),
    "127.0.5.0/24": (64501, "Rede de Teste Ltda"),
    "127.0.6.0/24": (64502, "Example Transit LLC"),
    "127.0.7.0/24": (64503, "Lab Backbone (Pty) Ltd"),
    "::1/128": (64496, "Lab Mail Networks"),
    "192.0.2.0/24": (64504, "Documentation Net AB"),
    "198.51.100.0/24": (64505, "Documentation Net Pty"),
    "203.0.113.0/24": (64506, "Documentation Net Ltd"),
    "81.2.69.0/24": (64507, "Public Looking Ltd"),
    "2001:db8::/32": (64508, "IPv6 Documentation AG"),
    "2a02:db8:1::/48": (64509, "IPv6 Exemple SAS"),
}


def _names(text: str) -> dict[str, str]:
    return {"en": text}


def _country(code: str) -> dict[str, Any]:
    if code not in COUNTRIES:
        raise ValueError(f"unknown country code {code!r}")
    return {"iso_code": code, "names": _names(COUNTRIES[code][0])}


def country_record(place: Place) -> dict[str, Any]:
    """The GeoIP2-Country record for a place."""
    continent = COUNTRIES[place.country][1] if place.country in COUNTRIES else None
    record: dict[str, Any] = {}
    if continent:
        record["continent"] = {"code": continent, "names": _names(CONTINENTS[continent])}
    record["country"] = _country(place.country)
    record["registered_country"] = _country(place.registered_country or place.country)
    return record


def city_record(place: Place) -> dict[str, Any]:
    """The GeoIP2-City record for a place: the country record plus the finer fields."""
    record = country_record(place)
    if place.city:
        record["city"] = {"names": _names(place.city)}
    if place.subdivision:
        code, name = place.subdivision
        record["subdivisions"] = [{"iso_code": code, "names": _names(name)}]
    if place.postal:
        record["postal"] = {"code": place.postal}
    location: dict[str, Any] = {}
    if place.latitude is not None and place.longitude is not None:
        # Floats, so mmdb-writer stores doubles as MaxMind does.
        location["latitude"] = float(place.latitude)
        location["longitude"] = float(place.longitude)
    if place.accuracy_radius is not None:
        location["accuracy_radius"] = int(place.accuracy_radius)
    if place.time_zone:
        location["time_zone"] = place.time_zone
    if location:
        record["location"] = location
    return record


def asn_record(asn: Asn) -> dict[str, Any]:
    number, org = asn
    return {"autonomous_system_number": int(number), "autonomous_system_organization": org}


def write_mmdb(
    path: str | Path,
    records: Mapping[str, Mapping[str, Any]],
    *,
    database_type: str,
    description: str = "mxscope lab database (not real geolocation data)",
    build_epoch: int = LAB_BUILD_EPOCH,
) -> Path:
    """Write ``{cidr: record}`` as an IPv6-rooted MMDB (IPv4 at ::/96, like MaxMind's)."""
    writer = MMDBWriter(
        ip_version=6,
        database_type=database_type,
        languages=["en"],
        description=description,
        ipv4_compatible=True,
    )
    for cidr, record in records.items():
        network = ipaddress.ip_network(cidr)  # raises ValueError for a bad key
        writer.insert_network(IPSet([str(network)]), dict(record))
    meta = {
        "ip_version": 6,
        "database_type": database_type,
        "languages": ["en"],
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "description": {"en": description},
        # Fixed, not time.time() as MMDBWriter.to_db_file would stamp.
        "build_epoch": int(build_epoch),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    TreeWriter(writer.tree, meta).write(str(out))
    return out


def build_city_db(
    path: str | Path,
    places: Mapping[str, Place] | None = None,
    *,
    database_type: str = "GeoLite2-City",
    build_epoch: int = LAB_BUILD_EPOCH,
) -> Path:
    places = LAB_PLACES if places is None else places
    return write_mmdb(path, {c: city_record(p) for c, p in places.items()},
                      database_type=database_type, build_epoch=build_epoch)


def build_country_db(
    path: str | Path,
    places: Mapping[str, Place] | None = None,
    *,
    database_type: str = "GeoLite2-Country",
    build_epoch: int = LAB_BUILD_EPOCH,
) -> Path:
    places = LAB_PLACES if places is None else places
    return write_mmdb(path, {c: country_record(p) for c, p in places.items()},
                      database_type=database_type, build_epoch=build_epoch)


def build_asn_db(
    path: str | Path,
    asns: Mapping[str, Asn] | None = None,
    *,
    database_type: str = "GeoLite2-ASN",
    build_epoch: int = LAB_BUILD_EPOCH,
) -> Path:
    asns = LAB_ASNS if asns is None else asns
    return write_mmdb(path, {c: asn_record(a) for c, a in asns.items()},
                      database_type=database_type, build_epoch=build_epoch)


@dataclass(frozen=True, slots=True)
class LabGeoDbs:
    city: Path
    country: Path
    asn: Path

    def apply(self, settings: Settings, *, country_only: bool = False) -> Settings:
        """Settings that use these databases (the City DB unless ``country_only``)."""
        if country_only:
            return settings.replace(geoip_city_db=None, geoip_country_db=str(self.country),
                                    geoip_asn_db=str(self.asn))
        return settings.replace(geoip_city_db=str(self.city), geoip_asn_db=str(self.asn))


def build_lab_dbs(directory: str | Path) -> LabGeoDbs:
    """The default lab City, Country and ASN databases in ``directory``."""
    base = Path(directory)
    return LabGeoDbs(
        city=build_city_db(base / "lab-city.mmdb"),
        country=build_country_db(base / "lab-country.mmdb"),
        asn=build_asn_db(base / "lab-asn.mmdb"),
    )
