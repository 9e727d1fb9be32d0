"""The ping probe and `mxscope ping`: ICMP (raw v4/v6, datagram when allowed), the fallback
chain to TCP, TCP open/refused/lost, streaming order, host names via the lab DNS, and the
pure statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import SocketPermissionError

from tui.cli import main
from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.lab.runner import LabThread
from tui.probes import ping
from tui.probes.base import Status

FAST = {"count": 3, "interval": 0.05}


def raw_icmp_allowed() -> bool:
    try:
        ICMPv4Socket(privileged=True).close()
    except SocketPermissionError:
        return False
    return True


needs_raw = pytest.mark.skipif(
    not raw_icmp_allowed(), reason="raw ICMP sockets need root or CAP_NET_RAW"
)


def no_raw_icmp(family: int, privileged: bool) -> ICMPv4Socket | ICMPv6Socket:
    """A socket factory for a host where no ICMP socket of any kind is permitted."""
    raise SocketPermissionError(privileged)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


# -- loopback TCP fixtures (kernel-only: no event loop needed, so they also serve the CLI) --


@pytest.fixture
def open_port() -> Iterator[int]:
    """A listening socket: the kernel completes handshakes without accept()."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        yield srv.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """Bound but not listening: connects get an RST, and nobody else can take the port."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        yield srv.getsockname()[1]


@pytest.fixture
def black_hole_port() -> Iterator[int]:
    """A listener with backlog 0 whose accept queue is already full: Linux drops further SYNs,
    so a connect gets no answer at all — a loss, on loopback."""
    fillers: list[socket.socket] = []
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        addr = srv.getsockname()
        for _ in range(8):
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect(addr)
            except OSError:
                filler.close()
                break
            fillers.append(filler)
        else:
            pytest.fail("could not fill the accept queue of a backlog-0 listener")
        try:
            yield addr[1]
        finally:
            for filler in fillers:
                filler.close()


# -- statistics -------------------------------------------------------------------------


def test_summarise_known_values() -> None:
    stats = ping.summarise([10.0, 20.0, None, 30.0])
    assert (stats.sent, stats.received, stats.loss_pct) == (4, 3, 25.0)
    assert (stats.min_ms, stats.avg_ms, stats.max_ms) == (10.0, 20.0, 30.0)
    assert stats.stddev_ms == pytest.approx(math.sqrt(200 / 3))  # population
    assert stats.jitter_ms == pytest.approx(10.0)  # |20-10|, |30-20|: the loss is skipped


def test_summarise_edges() -> None:
    assert ping.summarise([]) == ping.RttStats(0, 0, 100.0, None, None, None, None, None)
    lost = ping.summarise([None, None])
    assert (lost.sent, lost.received, lost.loss_pct, lost.avg_ms) == (2, 0, 100.0, None)
    one = ping.summarise([None, 5.0])
    assert (one.loss_pct, one.stddev_ms, one.jitter_ms) == (50.0, 0.0, None)
    junk = ping.summarise([float("nan"), float("inf"), -1.0, 2.0])
    assert (junk.sent, junk.received, junk.min_ms) == (4, 1, 2.0)


def test_verdict_line() -> None:
    line = ping.verdict(ping.summarise([1.0, 2.0, 3.0, None, 4.0]), 1.0)
    assert line.startswith("5 sent, 4 received, 20 % loss, rtt min/avg/max/stddev = 1.000/")
    assert "jitter 1.000 ms" in line
    assert ping.verdict(ping.summarise([None] * 3), 0.5) == (
        "3 sent, 0 received, 100 % loss (no reply within 0.5 s)"
    )


@given(st.lists(st.one_of(st.none(), st.floats()), max_size=60))
def test_summarise_never_raises_and_counts_agree(values: list[float | None]) -> None:
    stats = ping.summarise(values)
    assert stats.sent == len(values)
    valid = [v for v in values if v is not None and math.isfinite(v) and v >= 0]
    assert stats.received == len(valid)
    if stats.sent:
        assert stats.loss_pct == pytest.approx(100.0 * (stats.sent - stats.received) / stats.sent)
    assert 0.0 <= stats.loss_pct <= 100.0
    assert (stats.min_ms is None) == (stats.received == 0)
    assert (stats.jitter_ms is None) == (stats.received < 2)


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e5)), min_size=1, max_size=60))
def test_summarise_bounds_on_realistic_rtts(values: list[float | None]) -> None:
    stats = ping.summarise(values)
    if not stats.received:
        return
    assert stats.min_ms is not None and stats.max_ms is not None
    assert stats.avg_ms is not None and stats.stddev_ms is not None
    assert stats.min_ms <= stats.avg_ms <= stats.max_ms
    spread = stats.max_ms - stats.min_ms
    assert 0.0 <= stats.stddev_ms <= spread / 2 + 1e-6 * max(1.0, stats.max_ms)
    if stats.jitter_ms is not None:
        assert 0.0 <= stats.jitter_ms <= spread + 1e-6 * max(1.0, stats.max_ms)


# -- ICMP -------------------------------------------------------------------------------


@needs_raw
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_icmp_echo(address: str) -> None:
    result = await ping.run(address, Settings(timeout=2), mode="icmp", **FAST)
    assert result.status is Status.OK, result.message
    assert (result.method, result.address, result.method_note) == ("icmp", address, "")
    assert result.family == (4 if "." in address else 6)
    assert (result.sent, result.received, result.loss_pct) == (3, 3, 0.0)
    assert [r.seq for r in result.replies] == [1, 2, 3]
    for reply in result.replies:
        assert reply.status is Status.OK and reply.rtt_ms is not None and reply.rtt_ms >= 0
        assert reply.ttl is not None and 0 < reply.ttl <= 255
    assert result.min_ms is not None and result.min_ms <= result.avg_ms <= result.max_ms
    assert result.jitter_ms is not None and result.stddev_ms is not None
    assert result.message.startswith("3 sent, 3 received, 0 % loss, rtt min/avg/max/stddev = ")


@needs_raw
async def test_auto_prefers_raw_icmp_when_permitted() -> None:
    result = await ping.run("127.0.0.1", Settings(timeout=2), **FAST)
    assert (result.method, result.status, result.received) == ("icmp", Status.OK, 3)


@needs_raw
async def test_ipv4_mapped_target_pings_ipv4() -> None:
    result = await ping.run("::ffff:127.0.0.1", Settings(timeout=2), count=1, interval=0.05)
    assert (result.address, result.family, result.status) == ("127.0.0.1", 4, Status.OK)
    assert "IPv4-mapped" in result.method_note


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_icmp_unprivileged_when_allowed(address: str) -> None:
    allowed, why = ping.ping_group_allows()
    if not allowed:
        pytest.skip(f"ICMP datagram sockets are not allowed here: {why}")
    result = await ping.run(address, Settings(timeout=2), mode="icmp-unprivileged", **FAST)
    assert (result.method, result.status, result.received) == (
        "icmp-unprivileged", Status.OK, 3)


async def test_forced_unprivileged_reports_the_group_range_when_excluded() -> None:
    allowed, why = ping.ping_group_allows()
    if allowed is not False:
        pytest.skip(f"ping_group_range includes this group here ({why})")
    result = await ping.run("127.0.0.1", Settings(timeout=1), mode="icmp-unprivileged", **FAST)
    assert (result.status, result.method, result.sent, result.replies) == (
        Status.UNAVAILABLE, "icmp-unprivileged", 0, ())
    assert "ping_group_range" in result.message


async def test_forced_icmp_without_permission_is_a_result_not_a_traceback() -> None:
    result = await ping.run("127.0.0.1", Settings(timeout=1), mode="icmp",
                            icmp_socket_factory=no_raw_icmp, **FAST)
    assert (result.status, result.method, result.sent, result.received) == (
        Status.UNAVAILABLE, "icmp", 0, 0)
    assert "CAP_NET_RAW" in result.message


async def test_auto_falls_back_to_tcp_without_icmp_permission(open_port: int) -> None:
    settings = Settings(timeout=1, ping_tcp_port=open_port)
    result = await ping.run("127.0.0.1", settings, icmp_socket_factory=no_raw_icmp, **FAST)
    assert result.method == f"tcp:{open_port}"
    assert result.status is Status.OK and result.received == 3
    assert "raw ICMP socket not permitted" in result.method_note
    assert "fell back to TCP" in result.method_note
    assert all(r.status is Status.OK and r.ttl is None for r in result.replies)


@needs_raw
async def test_auto_tries_datagram_socket_when_group_range_allows(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middle step of the chain: raw refused, ping_group_range allows → datagram socket.
    The factory hands out a raw socket for the 'unprivileged' request so the test does not
    depend on this host's sysctl; what is checked is the choice and its label."""
    rng = tmp_path / "range"
    rng.write_text("0 2147483647\n")
    monkeypatch.setattr(ping, "PING_GROUP_RANGE", str(rng))
    asked: list[bool] = []

    def only_datagram(family: int, privileged: bool) -> ICMPv4Socket | ICMPv6Socket:
        asked.append(privileged)
        if privileged:
            raise SocketPermissionError(privileged)
        return ping.default_icmp_socket(family, True)

    result = await ping.run("127.0.0.1", Settings(timeout=2), icmp_socket_factory=only_datagram,
                            **FAST)
    assert asked == [True, False]
    assert (result.method, result.status, result.received) == ("icmp-unprivileged", Status.OK, 3)
    assert "raw ICMP socket not permitted" in result.method_note


async def test_auto_skips_datagram_socket_when_group_range_excludes(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    rng = tmp_path / "range"
    rng.write_text("1 0\n")
    monkeypatch.setattr(ping, "PING_GROUP_RANGE", str(rng))
    asked: list[bool] = []

    def nothing(family: int, privileged: bool) -> ICMPv4Socket | ICMPv6Socket:
        asked.append(privileged)
        raise SocketPermissionError(privileged)

    settings = Settings(timeout=1, ping_tcp_port=closed_port)
    result = await ping.run("127.0.0.1", settings, icmp_socket_factory=nothing, **FAST)
    assert asked == [True]  # the kernel would refuse; it is not even asked
    assert result.method == f"tcp:{closed_port}"
    assert "ping_group_range is '1 0'" in result.method_note


# -- TCP --------------------------------------------------------------------------------


async def test_tcp_to_an_asyncio_listener() -> None:
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await ping.run("127.0.0.1", Settings(timeout=1, ping_tcp_port=port),
                                mode="tcp", **FAST)
        for _ in range(50):  # let the server loop see the connections
            if len(accepted) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        server.close()
        await server.wait_closed()
    assert (result.method, result.status, result.received) == (f"tcp:{port}", Status.OK, 3)
    assert all(r.status is Status.OK and r.rtt_ms is not None for r in result.replies)
    assert "refused connection (RST) still measures" in result.method_note
    assert len(accepted) == 3


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_tcp_refused_is_a_reply_with_rtt(address: str) -> None:
    family = socket.AF_INET if "." in address else socket.AF_INET6
    with socket.socket(family) as holder:
        holder.bind((address, 0))
        port = holder.getsockname()[1]
        result = await ping.run(address, Settings(timeout=1, ping_tcp_port=port), mode="tcp",
                                **FAST)
    assert (result.status, result.sent, result.received, result.loss_pct) == (
        Status.OK, 3, 3, 0.0)
    for reply in result.replies:
        assert reply.status is Status.REFUSED and reply.rtt_ms is not None
        assert "RST counts as a reply" in reply.message


async def test_tcp_connect_that_never_completes_is_a_loss(black_hole_port: int) -> None:
    settings = Settings(timeout=0.3, ping_tcp_port=black_hole_port)
    result = await ping.run("127.0.0.1", settings, mode="tcp", **FAST)
    assert (result.status, result.sent, result.received, result.loss_pct) == (
        Status.TIMEOUT, 3, 0, 100.0)
    assert all(r.status is Status.TIMEOUT and r.rtt_ms is None for r in result.replies)
    assert result.min_ms is None and result.jitter_ms is None
    assert result.message == "3 sent, 0 received, 100 % loss (no reply within 0.3 s)"


# -- streaming --------------------------------------------------------------------------


@needs_raw
async def test_on_reply_streams_each_probe_before_run_returns() -> None:
    seen: list[tuple[int, bool]] = []
    plans: list[ping.PingPlan] = []
    task: asyncio.Task[ping.PingResult] | None = None

    def on_reply(reply: ping.PingReply) -> None:
        assert task is not None
        seen.append((reply.seq, task.done()))

    task = asyncio.create_task(ping.run("127.0.0.1", Settings(timeout=2), count=4,
                                        interval=0.05, on_reply=on_reply,
                                        on_start=plans.append))
    result = await task
    assert seen == [(1, False), (2, False), (3, False), (4, False)]
    assert [p.method for p in plans] == ["icmp"] and plans[0].address == "127.0.0.1"
    assert tuple(r.seq for r in result.replies) == (1, 2, 3, 4)
    stamps = [r.at_ms for r in result.replies]
    assert stamps == sorted(stamps) and stamps[0] >= 0


async def test_stream_yields_in_order_and_closes_on_early_exit(closed_port: int) -> None:
    settings = Settings(timeout=1, ping_tcp_port=closed_port)
    before = open_fds()
    got: list[int] = []
    async with contextlib.aclosing(ping.stream("127.0.0.1", settings, count=50, interval=0.02,
                                               mode="tcp")) as replies:
        async for reply in replies:
            got.append(reply.seq)
            if reply.seq == 3:
                break
    assert got == [1, 2, 3]
    assert open_fds() <= before


@needs_raw
async def test_cancelled_run_closes_its_socket() -> None:
    before = open_fds()
    started = asyncio.Event()
    task = asyncio.create_task(ping.run("127.0.0.1", Settings(timeout=1), mode="icmp",
                                        count=1000, interval=0.05,
                                        on_reply=lambda _r: started.set()))
    await asyncio.wait_for(started.wait(), 5)
    assert len(open_fds() - before) == 1  # the raw socket, while it runs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert open_fds() <= before


@needs_raw
async def test_icmp_socket_is_closed_after_run() -> None:
    before = open_fds()
    result = await ping.run("::1", Settings(timeout=1), mode="icmp", count=2, interval=0.02)
    assert result.received == 2
    assert open_fds() <= before


async def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        await ping.run("127.0.0.1", Settings(), count=0)
    with pytest.raises(ValueError):
        await ping.run("127.0.0.1", Settings(), count=1, interval=0.001)
    with pytest.raises(ValueError):
        await ping.run("127.0.0.1", Settings(), count=1, mode="udp")


def test_packet_timeout_is_capped() -> None:
    assert ping.packet_timeout(Settings(timeout=600)) == ping.MAX_PACKET_TIMEOUT
    assert ping.packet_timeout(Settings(timeout=0)) == ping.MIN_PACKET_TIMEOUT
    assert ping.packet_timeout(Settings(timeout=2.5)) == 2.5


# -- host names -------------------------------------------------------------------------


def lab_zone() -> Zone:
    zone = Zone()
    zone.add_host("mx1.lab.test", "127.0.0.1")
    zone.add("v6only.lab.test", "AAAA", "::1")
    zone.add("noaddr.lab.test", "MX", "10 mx1.lab.test.")
    zone.behave("slow.lab.test", "timeout")
    return zone


async def test_hostname_resolves_a_then_aaaa(closed_port: int) -> None:
    async with DnsServer(lab_zone()) as dns:
        settings = Settings(nameservers=(dns.nameserver,), timeout=1, dns_timeout=1,
                            ping_tcp_port=closed_port)
        v4 = await ping.run("MX1.lab.test.", settings, mode="tcp", **FAST)
        assert (v4.target, v4.address, v4.family, v4.received) == ("mx1.lab.test", "127.0.0.1",
                                                                   4, 3)
        assert "mx1.lab.test A 127.0.0.1" in v4.method_note
        dns.log.clear()
        v6 = await ping.run("v6only.lab.test", settings, mode="tcp", count=1, interval=0.05)
        assert (v6.address, v6.family) == ("::1", 6)
        assert [(n, t) for n, t, _tr in dns.log] == [("v6only.lab.test", "A"),
                                                      ("v6only.lab.test", "AAAA")]
        # ::1 has no listener on the held IPv4 port: refused or open, it is a reply.
        assert v6.status is Status.OK


@needs_raw
async def test_hostname_icmp_via_lab_dns() -> None:
    async with DnsServer(lab_zone()) as dns:
        settings = Settings(nameservers=(dns.nameserver,), timeout=2, dns_timeout=1)
        result = await ping.run("mx1.lab.test", settings, mode="icmp", **FAST)
    assert (result.address, result.method, result.received) == ("127.0.0.1", "icmp", 3)
    assert result.resolve_ms > 0


async def test_unresolvable_names_are_results() -> None:
    async with DnsServer(lab_zone()) as dns:
        settings = Settings(nameservers=(dns.nameserver,), timeout=1, dns_timeout=0.3)
        assert [r async for r in ping.stream("nope.lab.test", settings, **FAST)] == []
        nx = await ping.run("nope.lab.test", settings, **FAST)
        assert (nx.status, nx.sent, nx.address, nx.method) == (Status.NXDOMAIN, 0, "", "")
        assert "nope.lab.test" in nx.message
        none = await ping.run("noaddr.lab.test", settings, **FAST)
        assert none.status is Status.NOANSWER and "no A or AAAA record" in none.message
        dns.log.clear()
        slow = await ping.run("slow.lab.test", settings, **FAST)
        assert (slow.status, slow.sent) == (Status.TIMEOUT, 0)
        # After a DNS timeout the AAAA question is not asked: it would only double the wait.
        assert [t for _n, t, tr in dns.log if tr == "udp"] and all(
            t == "A" for _n, t, _tr in dns.log)


# -- CLI --------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ping", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@needs_raw
def test_cli_text_streams_replies_then_summary() -> None:
    code, out, _err = invoke("127.0.0.1", "--count", "3", "--interval", "0.05", "--timeout", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("PING 127.0.0.1 by icmp: 3 probes every 0.05 s")
    assert [ln.split()[3] for ln in lines[1:4]] == ["seq=1", "seq=2", "seq=3"]
    assert all(ln.startswith("reply from 127.0.0.1: ") and "ttl=" in ln for ln in lines[1:4])
    assert lines[4] == "--- 127.0.0.1 ping statistics (icmp to 127.0.0.1) ---"
    assert lines[5].startswith("3 sent, 3 received, 0 % loss, rtt min/avg/max/stddev = ")


JSON_KEYS = {
    "target", "address", "family", "method", "method_note", "status", "message", "count",
    "interval_s", "timeout_s", "sent", "received", "loss_pct", "min_ms", "avg_ms", "max_ms",
    "stddev_ms", "jitter_ms", "replies", "resolve_ms", "elapsed_ms",
}


def test_cli_json_over_tcp_refused(closed_port: int) -> None:
    code, out, _err = invoke("127.0.0.1", "--tcp", "--port", str(closed_port), "--count", "3",
                             "--interval", "0.05", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == JSON_KEYS
    assert (doc["method"], doc["status"], doc["sent"], doc["received"]) == (
        f"tcp:{closed_port}", "ok", 3, 3)
    assert [r["status"] for r in doc["replies"]] == ["refused"] * 3
    assert set(doc["replies"][0]) == {"seq", "status", "rtt_ms", "ttl", "at_ms", "message"}


def test_cli_all_lost_exits_1(black_hole_port: int) -> None:
    code, out, _err = invoke("127.0.0.1", "--tcp", "--port", str(black_hole_port), "--count",
                             "2", "--interval", "0.05", "--timeout", "0.3")
    assert code == 1
    assert "no reply: seq=1" in out and "no reply: seq=2" in out
    assert "2 sent, 0 received, 100 % loss" in out


def test_cli_hostname_via_lab_dns(open_port: int) -> None:
    with LabThread() as lab:
        dns = lab.start(DnsServer(lab_zone()))
        code, out, _err = invoke("mx1.lab.test", "--nameserver", dns.nameserver, "--tcp",
                                 "--port", str(open_port), "--count", "2", "--interval", "0.05",
                                 "--json")
        nx_code, nx_out, _ = invoke("nope.lab.test", "--nameserver", dns.nameserver, "--count",
                                    "1")
    assert code == 0
    doc = json.loads(out)
    assert (doc["target"], doc["address"], doc["received"]) == ("mx1.lab.test", "127.0.0.1", 2)
    assert nx_code == 1 and "nxdomain" in nx_out


@pytest.mark.parametrize("args", [
    ["bad host!"],
    ["mx1.lab.test", "--count", "0"],
    ["mx1.lab.test", "--interval", "0.001"],
    ["mx1.lab.test", "--interval", "nan"],
    ["mx1.lab.test", "--tcp", "--port", "0"],
    ["mx1.lab.test", "--tcp", "--mode", "icmp"],
    ["mx1.lab.test", "--mode", "udp"],
])
def test_cli_bad_input_exits_2_and_sends_nothing(args: list[str]) -> None:
    with LabThread() as lab:
        dns = lab.start(DnsServer(lab_zone()))
        code, _out, _err = invoke(*args, "--nameserver", dns.nameserver)
        assert code == 2
        assert dns.log == []


def test_cli_rejects_a_bad_interval_from_the_config_file(tmp_path: os.PathLike[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("ping_interval = 0.001\n")
    code, _out, err = invoke("127.0.0.1", "--config", str(config))
    assert code == 2 and "ping_interval" in err
