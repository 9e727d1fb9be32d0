"""DNSBL probe, catalogue and CLI against lab DNS servers (real UDP on loopback).

The lab serves zones under the catalogue's real names (zen.spamhaus.org …): the resolver is
pointed at the lab, so nothing leaves the machine, and the catalogue's code meanings are
exercised exactly as they would be in production.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.probes import dnsbl
from tui.probes.base import Status
from tui.probes.dnsbl import ListStatus
from tui.probes.target import TargetError, parse_target

# Short enough that the silent zones keep the tests quick, long enough that a loaded
# machine still answers every other question in time.
SHORT = 0.5
LISTED_IP = "127.0.0.10"
CLEAN_IP = "127.0.0.20"
V6_IP = "2001:db8::25"  # only ever part of a query name; nothing is sent to it

ZEN = "zen.spamhaus.org"
SPAMCOP = "bl.spamcop.net"
S5H = "all.s5h.net"
DBL = "dbl.spamhaus.org"
URIBL = "multi.uribl.com"
NORDSPAM_DBL = "dbl.nordspam.com"
GENERIC = "rbl.lab.test"  # not in the catalogue
WEIRD = "weird.lab.test"  # answers outside 127.0.0.0/8
BROKEN = "broken.lab.test"  # SERVFAIL
SILENT = "silent.lab.test"  # never answers
CLOSED = "closed.lab.test"  # REFUSED
NOTEST = "notest.lab.test"  # lacks the RFC 5782 test entries
WORLD = "world.lab.test"  # lists 127.0.0.1 too


def _zone() -> Zone:
    zone = Zone()
    zone.add_dnsbl(ZEN, {
        LISTED_IP: ("127.0.0.4", "https://check.spamhaus.org/query/ip/127.0.0.10"),
        "127.0.0.30": ("127.255.255.252", None),
        "127.0.0.31": ("127.255.255.254", None),
        "127.0.0.32": ("127.255.255.255", None),
        "127.0.0.33": ("127.0.0.200", None),  # undocumented code inside 127.0.0.0/24
        V6_IP: ("127.0.0.3", "CSS listing"),
    })
    # Two codes for one address: SBL and PBL.
    zone.add(f"11.0.0.127.{ZEN}", "A", "127.0.0.2", "127.0.0.10")
    zone.add_dnsbl(SPAMCOP, {LISTED_IP: ("127.0.0.2", "Blocked - see spamcop.net")})
    zone.add_dnsbl(S5H)
    zone.add_dnsbl(DBL, domains={"spam.lab.test": ("127.0.1.2", "DBL spam domain"),
                                 "dbltest.com": ("127.0.1.2", None)})
    zone.add_dnsbl(URIBL, domains={"spam.lab.test": ("127.0.0.6", None),
                                   "test.uribl.com": ("127.0.0.14", None)})
    zone.add_dnsbl(NORDSPAM_DBL, domains={})
    zone.add_dnsbl(GENERIC, {LISTED_IP: ("127.0.0.5", "generic reason")})
    zone.add_dnsbl(WEIRD, {LISTED_IP: ("198.51.100.7", None)})
    zone.add_dnsbl(NOTEST, test_entries=False)
    zone.add_dnsbl(WORLD, {"127.0.0.1": ("127.0.0.2", None)})
    zone.behave(BROKEN, "servfail")
    zone.behave(SILENT, "timeout")
    zone.behave(CLOSED, "refused")
    zone.add_host("spam.lab.test", LISTED_IP, ptr=False)
    zone.add_host("clean.lab.test", CLEAN_IP, ptr=False)
    return zone


def _settings(server: DnsServer, timeout: float = 2.0, **extra: object) -> Settings:
    return Settings(nameservers=(server.nameserver,), dns_timeout=timeout, **extra)


def _by_zone(result: dnsbl.DnsblResult) -> dict[str, dnsbl.ListResult]:
    return {r.zone: r for r in result.results}


# -- catalogue --------------------------------------------------------------------------------

DEAD = ("sorbs.net", "manitu.net", "ahbl.org", "njabl.org", "sbl-xbl.spamhaus.org",
        "abuseat.org", "dsbl.org", "unsubscore.com", "ordb.org")


def test_catalogue_is_sound() -> None:
    lists = dnsbl.catalogue()
    assert 25 <= len(lists) <= 40
    assert len({e.id for e in lists}) == len(lists)
    assert len({e.zone for e in lists}) == len(lists)
    assert 15 <= sum(e.enabled for e in lists) <= len(lists)
    assert {e.kind for e in lists} == {"ip", "domain"}
    for entry in lists:
        assert not any(entry.zone.endswith(dead) for dead in DEAD), entry.zone
        assert entry.zone == entry.zone.lower() and "." in entry.zone
        assert entry.delist.startswith("http"), entry.id
        assert not set(entry.codes) & set(entry.errors), entry.id
        for code in (*entry.codes, *entry.errors):
            assert ipaddress.ip_address(code) in ipaddress.ip_network("127.0.0.0/8")
        if entry.kind == "ip":
            assert entry.ipv4 or entry.ipv6


def test_catalogue_facts() -> None:
    by_zone = {e.zone: e for e in dnsbl.catalogue()}
    zen = by_zone[ZEN]
    assert zen.enabled and zen.ipv6
    assert zen.codes["127.0.0.2"].startswith("SBL")
    assert zen.codes["127.0.0.3"].startswith("SBL CSS")
    assert all(zen.codes[f"127.0.0.{i}"].startswith("XBL") for i in (4, 5, 6, 7))
    assert "DROP" in zen.codes["127.0.0.9"]
    assert zen.codes["127.0.0.10"].startswith("PBL") and zen.codes["127.0.0.11"].startswith("PBL")
    assert "typing error" in zen.errors["127.255.255.252"]
    assert "public/open resolver" in zen.errors["127.255.255.254"]
    assert "excessive number of queries" in zen.errors["127.255.255.255"]
    assert set(by_zone["b.barracudacentral.org"].codes) == {"127.0.0.2"}
    assert {"dnsbl-1.uceprotect.net", "dnsbl-2.uceprotect.net",
            "dnsbl-3.uceprotect.net", "psbl.surriel.com", "all.s5h.net",
            "bl.mailspike.net", SPAMCOP, DBL, "multi.surbl.org", URIBL} <= set(by_zone)
    assert by_zone[DBL].kind == "domain" and by_zone[DBL].test_entries()[0] == "dbltest.com"
    assert by_zone["multi.surbl.org"].bitmask and by_zone[URIBL].bitmask
    assert "127.0.0.1" in by_zone[URIBL].errors
    assert by_zone["bl.ipv6.spameatingmonkey.net"].test_entries() == (
        "::ffff:7f00:2", "::ffff:7f00:1")


def test_select_lists() -> None:
    default = dnsbl.select_lists(Settings())
    assert default == tuple(e for e in dnsbl.catalogue() if e.enabled)
    chosen = dnsbl.select_lists(Settings(), ["ZEN.spamhaus.org.", "spamcop", "rbl.example.net",
                                             ZEN])
    assert [e.zone for e in chosen] == [ZEN, SPAMCOP, "rbl.example.net"]
    assert chosen[2].known is False and chosen[2].kind == "ip" and chosen[2].ipv6
    from_settings = dnsbl.select_lists(Settings(dnsbl_zones=(S5H,)))
    assert [e.zone for e in from_settings] == [S5H]
    for bad in ("bad zone", "a..b", "nodots", "-x.example"):
        with pytest.raises(TargetError):
            dnsbl.select_lists(Settings(), [bad])


def test_classify() -> None:
    by_zone = {e.zone: e for e in dnsbl.catalogue()}
    zen, uribl, surbl = by_zone[ZEN], by_zone[URIBL], by_zone["multi.surbl.org"]
    generic = dnsbl.generic_list("rbl.example.net")
    assert dnsbl.classify(zen, "127.0.0.2") == (True, zen.codes["127.0.0.2"])
    assert dnsbl.classify(zen, "127.255.255.254")[0] is False
    assert dnsbl.classify(zen, "127.0.0.99") == (True, "undocumented return code")
    assert dnsbl.classify(zen, "127.1.2.3")[0] is False
    assert dnsbl.classify(zen, "10.0.0.1")[0] is False
    assert dnsbl.classify(zen, "127.0.0.1")[0] is False
    assert dnsbl.classify(generic, "127.0.0.7") == (True, "listed")
    assert dnsbl.classify(generic, "127.0.0.1")[0] is False
    assert dnsbl.classify(generic, "192.0.2.1")[0] is False
    ok, meaning = dnsbl.classify(uribl, "127.0.0.14")
    assert ok and "black" in meaning and "grey" in meaning and "red" in meaning
    assert dnsbl.classify(uribl, "127.0.0.1")[0] is False
    ok, meaning = dnsbl.classify(surbl, "127.0.0.80")  # MW + ABUSE
    assert ok and "MW" in meaning and "ABUSE" in meaning and "PH" not in meaning


# -- run() against the lab --------------------------------------------------------------------


async def test_listed_clean_and_txt() -> None:
    async with DnsServer(_zone()) as server:
        seen: list[dnsbl.ListResult] = []
        result = await dnsbl.run(parse_target(LISTED_IP), _settings(server),
                                 zones=[ZEN, SPAMCOP, S5H], on_result=seen.append)
    assert result.status is Status.OK
    assert result.listed is True
    assert result.message == "Listed on 2 of 3 lists"
    rows = _by_zone(result)
    assert rows[ZEN].status is ListStatus.LISTED
    assert rows[ZEN].codes == ("127.0.0.4",)
    assert rows[ZEN].meanings[0].startswith("XBL")
    assert rows[ZEN].txt == ("https://check.spamhaus.org/query/ip/127.0.0.10",)
    assert rows[ZEN].delist == "https://check.spamhaus.org/"
    assert rows[ZEN].query == f"10.0.0.127.{ZEN}"
    assert rows[SPAMCOP].txt == ("Blocked - see spamcop.net",)
    assert rows[S5H].status is ListStatus.CLEAN
    assert rows[S5H].message == "not listed (NXDOMAIN)"
    assert sorted(r.zone for r in seen) == sorted([ZEN, SPAMCOP, S5H])
    # TXT is asked only where the A query found a listing.
    txt_asked = {name for name, rdtype, _t in server.log if rdtype == "TXT"}
    assert txt_asked == {f"10.0.0.127.{ZEN}", f"10.0.0.127.{SPAMCOP}"}


async def test_several_codes_in_one_answer() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target("127.0.0.11"), _settings(server), zones=[ZEN])
    row = result.results[0]
    assert row.status is ListStatus.LISTED
    assert row.codes == ("127.0.0.2", "127.0.0.10")
    assert row.meanings[0].startswith("SBL") and row.meanings[1].startswith("PBL")


@pytest.mark.parametrize(
    ("ip", "words"),
    [
        ("127.0.0.30", "typing error"),
        ("127.0.0.31", "public/open resolver blocked"),
        ("127.0.0.32", "excessive number of queries"),
    ],
)
async def test_spamhaus_error_codes_are_errors_not_listings(ip: str, words: str) -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(ip), _settings(server), zones=[ZEN, S5H])
    rows = _by_zone(result)
    assert rows[ZEN].status is ListStatus.ERROR
    assert words in rows[ZEN].message
    assert result.listed is False
    assert result.counts.error == 1 and result.counts.clean == 1
    assert result.message == "Not listed on any of 2 lists (1 error)"
    assert not any(rdtype == "TXT" for _n, rdtype, _t in server.log)


async def test_undocumented_code_is_a_listing() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target("127.0.0.33"), _settings(server), zones=[ZEN])
    assert result.results[0].status is ListStatus.LISTED
    assert result.results[0].meanings == ("undocumented return code",)


async def test_failures_are_errors_and_timeouts() -> None:
    zones = [WEIRD, BROKEN, CLOSED, SILENT, SPAMCOP]
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(LISTED_IP), _settings(server, timeout=SHORT),
                                 zones=zones)
    rows = _by_zone(result)
    assert rows[WEIRD].status is ListStatus.ERROR
    assert "outside 127.0.0.0/8" in rows[WEIRD].message
    assert rows[WEIRD].codes == ("198.51.100.7",)
    assert rows[BROKEN].status is ListStatus.ERROR and "SERVFAIL" in rows[BROKEN].message
    assert rows[CLOSED].status is ListStatus.ERROR and "REFUSED" in rows[CLOSED].message
    assert rows[SILENT].status is ListStatus.TIMEOUT
    assert rows[SPAMCOP].status is ListStatus.LISTED
    assert result.counts == dnsbl.Counts(listed=1, clean=0, error=3, timeout=1, skipped=0,
                                         checked=5)
    assert result.message == "Listed on 1 of 5 lists (3 errors, 1 timeout)"


async def test_every_list_failing() -> None:
    async with DnsServer(_zone()) as server:
        errors = await dnsbl.run(parse_target(CLEAN_IP), _settings(server, timeout=SHORT),
                                 zones=[BROKEN, CLOSED])
        silent = await dnsbl.run(parse_target(CLEAN_IP), _settings(server, timeout=SHORT),
                                 zones=[SILENT])
    assert errors.status is Status.ERROR and not errors.listed
    assert errors.message == "No list gave an answer (2 errors)"
    assert silent.status is Status.TIMEOUT


async def test_ipv6_target_uses_nibbles_and_skips_ipv4_only_lists() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(V6_IP), _settings(server),
                                 zones=[ZEN, SPAMCOP, S5H])
    nibbles = "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
    asked = [name for name, rdtype, _t in server.log if rdtype == "A"]
    assert sorted(asked) == sorted([f"{nibbles}.{ZEN}", f"{nibbles}.{S5H}"])
    rows = _by_zone(result)
    assert rows[ZEN].status is ListStatus.LISTED
    assert rows[ZEN].meanings[0].startswith("SBL CSS")
    assert rows[SPAMCOP].status is ListStatus.SKIPPED
    assert rows[SPAMCOP].message == "list has no IPv6 support"
    assert rows[SPAMCOP].query == ""
    assert result.message == "Listed on 1 of 2 lists (1 skipped)"


async def test_ipv6_only_list_is_skipped_for_ipv4() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(CLEAN_IP), _settings(server),
                                 zones=["bl.ipv6.spameatingmonkey.net"])
    assert result.results[0].status is ListStatus.SKIPPED
    assert server.log == []


async def test_domain_target_on_domain_and_ip_lists() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target("spam.lab.test"), _settings(server),
                                 zones=[DBL, URIBL, NORDSPAM_DBL, SPAMCOP])
    by_key = {(r.zone, r.subject): r for r in result.results}
    dbl_row = by_key[(DBL, "spam.lab.test")]
    assert dbl_row.status is ListStatus.LISTED
    assert dbl_row.query == f"spam.lab.test.{DBL}"
    assert dbl_row.meanings == ("low-reputation (spam) domain",)
    assert dbl_row.txt == ("DBL spam domain",)
    uribl_row = by_key[(URIBL, "spam.lab.test")]
    assert uribl_row.status is ListStatus.LISTED
    assert "black" in uribl_row.meanings[0] and "grey" in uribl_row.meanings[0]
    assert by_key[(NORDSPAM_DBL, "spam.lab.test")].status is ListStatus.CLEAN
    # The IP list was asked about the host's address, found through its A record.
    assert by_key[(SPAMCOP, LISTED_IP)].status is ListStatus.LISTED
    assert ("spam.lab.test", "A", "udp") in server.log
    assert result.subjects == ("spam.lab.test", LISTED_IP)
    assert result.message == "Listed on 3 of 4 lists"


async def test_ip_target_ignores_domain_lists() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(LISTED_IP), _settings(server), zones=[DBL, S5H])
    assert [r.zone for r in result.results] == [S5H]
    assert not any(name.endswith(DBL) for name, _r, _t in server.log)


async def test_hostname_that_does_not_resolve_on_ip_lists() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target("nothing.lab.test"), _settings(server),
                                 zones=[SPAMCOP])
    assert result.status is Status.NXDOMAIN
    assert result.results == ()
    assert result.message == "IP lists not checked: nothing.lab.test does not exist (NXDOMAIN)"


async def test_unknown_zone_is_a_generic_ip_list() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(LISTED_IP), _settings(server), zones=[GENERIC])
    row = result.results[0]
    assert row.status is ListStatus.LISTED
    assert row.codes == ("127.0.0.5",) and row.meanings == ("listed",)
    assert row.txt == ("generic reason",)
    assert row.list_id == GENERIC and row.delist == ""


async def test_default_zones_come_from_settings() -> None:
    async with DnsServer(_zone()) as server:
        result = await dnsbl.run(parse_target(LISTED_IP),
                                 _settings(server, dnsbl_zones=(SPAMCOP, S5H)))
    assert [r.zone for r in result.results] == [SPAMCOP, S5H]


# -- self-check -------------------------------------------------------------------------------


async def test_self_check_flags_broken_lists() -> None:
    zones = [ZEN, DBL, NOTEST, WORLD, BROKEN, URIBL]
    async with DnsServer(_zone()) as server:
        result = await dnsbl.self_check(_settings(server, timeout=SHORT), zones)
    by = {e.zone: e for e in result.entries}
    assert by[ZEN].ok and by[DBL].ok and by[URIBL].ok
    assert by[ZEN].positive.subject == "127.0.0.2" and by[ZEN].negative.subject == "127.0.0.1"
    assert by[DBL].positive.subject == "dbltest.com" and by[DBL].negative.subject == "invalid"
    assert not by[NOTEST].ok and "test entry 127.0.0.2 is not listed" in by[NOTEST].problem
    assert not by[WORLD].ok and "127.0.0.1 is listed" in by[WORLD].problem
    assert not by[BROKEN].ok and "SERVFAIL" in by[BROKEN].problem
    assert result.status is Status.OK
    assert result.ok is False
    assert (result.passed, result.failed) == (3, 3)
    assert result.message.startswith("Self-check: 3 of 6 lists answer correctly")


async def test_self_check_detects_a_blocked_resolver() -> None:
    zone = Zone()
    # What Spamhaus answers to a public resolver: an error code for every question.
    zone.add(f"2.0.0.127.{ZEN}", "A", "127.255.255.254")
    zone.add(ZEN, "TXT", "apex")
    async with DnsServer(zone) as server:
        result = await dnsbl.self_check(_settings(server), [ZEN])
    (entry,) = result.entries
    assert entry.positive.status is ListStatus.ERROR
    assert "public/open resolver blocked" in entry.problem
    assert "resolver blocked" in entry.problem


# -- CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_server():
    with LabThread() as lab:
        yield lab.start(DnsServer(_zone()))


def _cli(server: DnsServer, *args: str):
    return CliRunner().invoke(main, ["dnsbl", *args, "--nameserver", server.nameserver,
                                     "--timeout", str(SHORT)])


def _zones(*zones: str) -> list[str]:
    return [arg for z in zones for arg in ("--zone", z)]


def test_cli_text_listed(lab_server: DnsServer) -> None:
    result = _cli(lab_server, LISTED_IP, *_zones(ZEN, SPAMCOP, S5H, BROKEN))
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{LISTED_IP}: Listed on 2 of 4 lists (1 error)"
    assert lines[1].split()[:2] == ["LISTED", ZEN]
    assert "TXT https://check.spamhaus.org/query/ip/127.0.0.10" in result.output
    assert "delist: https://www.spamcop.net/bl.shtml" in result.output
    assert any(line.split()[:2] == ["error", BROKEN] for line in lines)
    assert any(line.split()[:2] == ["clean", S5H] for line in lines)


def test_cli_json(lab_server: DnsServer) -> None:
    result = _cli(lab_server, LISTED_IP, *_zones(ZEN, S5H), "--json")
    assert result.exit_code == 3
    data = json.loads(result.output)
    assert set(data) == {"target", "kind", "status", "message", "listed", "counts",
                         "subjects", "results", "resolve_message", "elapsed_ms"}
    assert data["counts"] == {"listed": 1, "clean": 1, "error": 0, "timeout": 0,
                              "skipped": 0, "checked": 2}
    row = data["results"][0]
    assert set(row) == {"list_id", "name", "zone", "kind", "subject", "query", "status",
                        "codes", "meanings", "txt", "message", "delist", "elapsed_ms"}
    assert row["status"] == "listed" and row["list_id"] == "spamhaus-zen"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([CLEAN_IP, *_zones(ZEN, SPAMCOP, S5H)], 0),  # clean everywhere
        ([CLEAN_IP, *_zones(ZEN, BROKEN)], 0),  # clean where answered, one error
        ([LISTED_IP, *_zones(S5H, SPAMCOP)], 3),
        ([CLEAN_IP, *_zones(BROKEN, CLOSED, SILENT)], 1),  # every list failed
        (["nothing.lab.test", *_zones(SPAMCOP)], 1),
        (["--self-check", *_zones(ZEN, DBL)], 0),
        (["--self-check", *_zones(ZEN, NOTEST)], 3),
        (["--self-check", *_zones(BROKEN, SILENT)], 1),
    ],
)
def test_cli_exit_codes(lab_server: DnsServer, args: list[str], code: int) -> None:
    result = _cli(lab_server, *args)
    assert result.exit_code == code, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["bad_host!"],
        ["1.2.3.4.5"],
        [LISTED_IP, "--zone", "bad zone"],
        [LISTED_IP, "--zone", "nodots"],
        [],  # no target
        ["--self-check", LISTED_IP],
        [LISTED_IP, "--nameserver", "not-an-ip"],
    ],
)
def test_cli_bad_input_sends_nothing(lab_server: DnsServer, args: list[str]) -> None:
    before = len(lab_server.log)
    result = _cli(lab_server, *args)
    assert result.exit_code == 2, result.output
    assert "mxscope: error:" in result.output
    assert len(lab_server.log) == before


def test_cli_list(lab_server: DnsServer) -> None:
    before = len(lab_server.log)
    text = _cli(lab_server, "--list")
    assert text.exit_code == 0
    assert any(line.split()[:2] == ["spamhaus-zen", ZEN] for line in text.output.splitlines())
    as_json = _cli(lab_server, "--list", "--json")
    entries = json.loads(as_json.output)
    assert len(entries) == len(dnsbl.catalogue())
    zen = next(e for e in entries if e["zone"] == ZEN)
    assert zen["errors"]["127.255.255.254"].startswith("query via public/open resolver")
    assert len(lab_server.log) == before


def test_cli_text_escapes_control_characters_in_txt_reasons() -> None:
    """A list's TXT reason is server text: terminal escapes are shown, not executed."""
    zone = Zone()
    zone.add_dnsbl("hostile.lab.test", {"127.0.0.10": ("127.0.0.2", "\x1b[2J\x1b[31mgotcha")})
    with LabThread() as lab:
        server = lab.start(DnsServer(zone))
        result = _cli(server, "127.0.0.10", "--zone", "hostile.lab.test")
        as_json = _cli(server, "127.0.0.10", "--zone", "hostile.lab.test", "--json")
    assert result.exit_code == 3, result.output
    assert "\x1b" not in result.output
    assert "TXT \\x1b[2J\\x1b[31mgotcha" in result.output
    assert "\x1b[2J" in as_json.output or "\\u001b[2J" in as_json.output  # JSON keeps it
