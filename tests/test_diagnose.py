"""Diagnose: MX → addresses → every check, against the demo lab world on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tui.cli import main
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.lab.world import LabWorld
from tui.probes import diagnose
from tui.probes.base import Status
from tui.probes.target import parse_target


@pytest.fixture
async def world(tmp_path: Path):
    async with LabWorld(tmp_path) as lab:
        yield lab


def _cells(result: diagnose.DiagnoseResult) -> dict[tuple[str, str], diagnose.Cell]:
    return {(c.ip, c.check): c for c in result.cells}


async def test_domain_with_two_mx_hosts_all_checks(world: LabWorld) -> None:
    seen: list[diagnose.Cell] = []
    mx_seen: list[tuple[diagnose.MxHost, ...]] = []
    result = await diagnose.run(parse_target("lab.test"), world.settings,
                                on_mx=mx_seen.append, on_cell=seen.append)
    assert [h.name for h in result.mx] == ["mx1.lab.test", "mx2.lab.test"]
    assert [h.preference for h in result.mx] == [10, 20]
    assert mx_seen and mx_seen[0] == result.mx
    ips = ["127.0.1.25", "127.0.2.25"]
    assert len(result.cells) == len(ips) * len(diagnose.CHECKS) == len(seen)
    cells = _cells(result)
    for ip in ips:
        assert cells[(ip, "rdns")].level == "pass"
        assert cells[(ip, "relay")].level == "pass"
        assert cells[(ip, "relay")].summary.startswith("CLOSED")
        assert cells[(ip, "dnsbl")].level == "pass"
    # mx1's certificate is checked against its MX name, not the bare address.
    assert cells[("127.0.1.25", "ports")].level == "pass"
    assert "Postfix" in cells[("127.0.1.25", "smtp")].summary
    assert "Exim" in cells[("127.0.2.25", "smtp")].summary
    assert cells[("127.0.2.25", "geoip")].summary.startswith("NL")
    assert result.problems == ()
    assert result.message.endswith("all good") or "warnings" in result.message


async def test_open_relay_domain_is_flagged(world: LabWorld) -> None:
    result = await diagnose.run(parse_target("open.lab.test"), world.settings)
    cells = _cells(result)
    assert cells[("127.0.3.25", "relay")].level == "fail"
    assert cells[("127.0.3.25", "relay")].summary.startswith("OPEN RELAY")
    assert cells[("127.0.3.25", "dnsbl")].level == "fail"
    assert any(p.startswith("relay on 127.0.3.25") for p in result.problems)
    assert any(p.startswith("dnsbl on 127.0.3.25") for p in result.problems)


async def test_qmail_percent_hack_and_unconfirmed_ptr(world: LabWorld) -> None:
    result = await diagnose.run(parse_target("qmail.lab.test"), world.settings,
                                checks=("rdns", "smtp", "relay"))
    cells = _cells(result)
    assert {c.check for c in result.cells} == {"rdns", "smtp", "relay"}
    assert cells[("127.0.4.25", "rdns")].level == "fail"
    assert "[qmail]" in cells[("127.0.4.25", "smtp")].summary
    assert cells[("127.0.4.25", "relay")].level == "fail"


async def test_silent_server_and_address_target(world: LabWorld) -> None:
    result = await diagnose.run(parse_target("127.0.7.25"), world.settings,
                                checks=("smtp",))
    assert result.mx_status is None
    assert result.mx[0].addresses == ("127.0.7.25",)
    assert result.cells[0].level == "fail"


async def test_problem_on_an_ipv6_address_is_named_whole() -> None:
    # The verdict line lists "check on address"; an IPv6 address holds colons itself.
    import socket

    from tui.config import Settings

    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        closed = s.getsockname()[1]
    settings = Settings(nameservers=("127.0.0.1:9",), smtp_port=closed, connect_timeout=2.0,
                        dns_timeout=0.5)
    result = await diagnose.run(parse_target("::1"), settings, checks=("smtp",))
    assert result.cells[0].level == "fail"
    assert result.problems[0].startswith("smtp on ::1: ")
    assert result.message.endswith("1 problem(s) — smtp on ::1"), result.message


async def test_unknown_check_is_a_programming_error(world: LabWorld) -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        await diagnose.run(parse_target("lab.test"), world.settings, checks=("nope",))


async def test_mx_edge_cases() -> None:
    zone = Zone()
    zone.add("nomx.test", "A", "127.0.9.1")  # no MX: the name itself (implicit MX)
    zone.add("nullmx.test", "MX", "0 .")  # RFC 7505: accepts no mail
    zone.add("noaddr.test", "MX", "10 ghost.noaddr.test.")
    zone.behave("broken.test", "servfail")
    async with DnsServer(zone) as dns:
        from tui.config import Settings

        settings = Settings(nameservers=(dns.nameserver,), dns_timeout=1.0)
        status, hosts = await diagnose.mx_hosts(parse_target("nomx.test"), settings)
        assert hosts[0].preference is None and hosts[0].addresses == ("127.0.9.1",)
        result = await diagnose.run(parse_target("nullmx.test"), settings)
        assert result.cells == () and "null MX" in result.message
        result = await diagnose.run(parse_target("noaddr.test"), settings)
        assert result.cells == () and result.mx[0].status is Status.NXDOMAIN
        result = await diagnose.run(parse_target("broken.test"), settings)
        assert result.status is Status.SERVFAIL and "MX lookup failed" in result.message
        result = await diagnose.run(parse_target("missing.test"), settings)
        assert result.cells == () and result.mx[0].status is Status.NXDOMAIN


def _cli(world: LabWorld, *args: str) -> tuple[int, str]:
    s = world.settings
    base = ["--nameserver", s.nameservers[0]]
    result = CliRunner().invoke(main, ["diagnose", *args, *base])
    return result.exit_code, result.output


def test_cli_text_json_and_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LabThread() as lab:
        world = lab.start(LabWorld(tmp_path))
        s = world.settings
        # The CLI reads settings from the environment like a user's shell would.
        for key, value in {"MXSCOPE_RDAP_SERVER": s.rdap_server,
                           "MXSCOPE_GEOIP_CITY_DB": s.geoip_city_db,
                           "MXSCOPE_TLS_CA_FILE": s.tls_ca_file,
                           "MXSCOPE_SMTP_PORT": str(s.smtp_port),
                           "MXSCOPE_PORTS": ",".join(map(str, s.ports)),
                           "MXSCOPE_PING_INTERVAL": "0.05"}.items():
            monkeypatch.setenv(key, str(value))
        code, out = _cli(world, "open.lab.test", "--check", "relay", "--check", "smtp")
        assert code == 3, out
        assert "FAIL relay" in out and "Sendmail" in out
        code, out = _cli(world, "lab.test", "--check", "rdns", "--json")
        assert code == 0, out
        doc = json.loads(out)
        assert {c["check"] for c in doc["cells"]} == {"rdns"}
        assert [m["name"] for m in doc["mx"]] == ["mx1.lab.test", "mx2.lab.test"]
        code, out = _cli(world, "bad host name!")
        assert code == 2 and "error" in out
        code, out = _cli(world, "missing.lab.test")
        assert code == 1, out


def test_cli_render_escapes_server_text() -> None:
    from tui.commands import diagnose as diagnose_cmd

    cell = diagnose.Cell("127.0.0.1", "smtp", "info", "Postfix — 220 \x1b]0;pwned\x07", None)
    result = diagnose.DiagnoseResult("127.0.0.1", Status.OK, "1 address checked: all good",
                                     None, (), (cell,), (), 1.0)
    out = diagnose_cmd.render(result)
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out
