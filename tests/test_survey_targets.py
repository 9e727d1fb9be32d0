"""Survey targets: reserved ranges and exclusions never emitted, every source kind streams
in a deterministic order, names resolve through the lab DNS, a million targets stay in
bounded memory."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tui.config import Settings
from tui.lab.dns import DnsServer, Zone
from tui.survey.targets import (
    RESERVED_V4,
    RESERVED_V6,
    Blocklist,
    ExclusionError,
    Exclusions,
    SourceError,
    SourceSpec,
    TargetItem,
    _Feistel,
    count_hint,
    is_reserved,
    iter_targets,
    parse_source,
    skipped_size,
)

ZMAP_BLOCKLIST_V4 = {
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "255.255.255.255/32", "224.0.0.0/4",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2a00:1450::1"]


async def collect(spec: SourceSpec, settings: Settings | None = None, **kw) -> tuple[
        list[TargetItem], list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    items = [t async for t in iter_targets(spec, settings or Settings(),
                                           on_skip=lambda a, r: skipped.append((a, r)), **kw)]
    return items, skipped


def probe_addresses(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    first, last = int(net.network_address), int(net.broadcast_address)
    cls = type(net.network_address)
    return sorted({str(cls(v)) for v in (first, (first + last) // 2, last)})


def lines_source(*lines: str) -> tuple[SourceSpec, io.StringIO]:
    return SourceSpec("stdin"), io.StringIO("".join(f"{line}\n" for line in lines))


# -- reserved ranges and exclusions ----------------------------------------------------------


def test_reserved_v4_is_zmaps_default_blocklist() -> None:
    assert len(RESERVED_V4) == 16
    assert {str(n) for n in RESERVED_V4} == ZMAP_BLOCKLIST_V4


async def test_every_reserved_range_first_middle_last_skipped() -> None:
    probes = [a for net in (*RESERVED_V4, *RESERVED_V6) for a in probe_addresses(net)]
    spec, stream = lines_source(*PUBLIC[:2], *probes, PUBLIC[2])
    items, skipped = await collect(spec, stdin=stream)
    assert [t.address for t in items] == PUBLIC
    assert [t.seq for t in items] == [0, 1, 2]
    assert sorted(a for a, _ in skipped) == sorted(probes)
    assert all(reason.startswith("reserved: ") for _, reason in skipped)
    # The reason names the range the address fell in.
    reasons = dict(skipped)
    assert reasons["10.127.255.255"].startswith("reserved: 10.0.0.0/8 ")
    # 255.255.255.255/32 lies inside 240.0.0.0/4 (zmap lists both): either label will do.
    assert reasons["255.255.255.255"].startswith("reserved: 2")
    assert reasons["192.88.99.127"].startswith("reserved: 192.88.99.0/24 ")


async def test_allow_loopback_lets_127_8_through_and_nothing_else() -> None:
    probes = [a for net in (*RESERVED_V4, *RESERVED_V6) for a in probe_addresses(net)]
    loopback = ["127.0.0.0", "127.127.255.255", "127.255.255.255", "::1"]
    stream = io.StringIO("\n".join(probes) + "\n")
    items, skipped = await collect(SourceSpec("stdin", allow_loopback=True), stdin=stream)
    assert sorted(t.address for t in items) == sorted(loopback)
    assert len(skipped) == len(probes) - len(loopback)
    assert not any(a in loopback for a, _ in skipped)
    assert is_reserved("127.0.0.1") and not is_reserved("127.0.0.1", allow_loopback=True)
    assert is_reserved("10.0.0.1", allow_loopback=True)


async def test_cidr_over_reserved_space_reports_blocks_not_addresses() -> None:
    # 9.255.255.252/30 + 10/8 + 11.0.0.0/30: only the public ends are emitted; 10/8 is
    # one skip report, not 16 million.
    spec = parse_source("9.255.255.252/30,10.0.0.0/8,11.0.0.0/30")
    items, skipped = await collect(spec)
    assert [t.address for t in items] == [
        "9.255.255.252", "9.255.255.253", "9.255.255.254", "9.255.255.255",
        "11.0.0.0", "11.0.0.1", "11.0.0.2", "11.0.0.3"]
    assert skipped == [("10.0.0.0/8", "reserved: 10.0.0.0/8 private use (RFC 1918)")]
    assert skipped_size("10.0.0.0/8") == 1 << 24
    assert count_hint(spec) == len(items)


def test_exclusions_from_file(tmp_path: Path) -> None:
    path = tmp_path / "exclude.conf"
    path.write_text("# people who asked not to be scanned\n\n198.51.0.0/16  # AS64500\n"
                    "203.0.114.7\n2a00:1450::/32\n")
    ex = Exclusions.from_file(path)
    assert len(ex) == 3
    for ip in ("198.51.0.0", "198.51.128.1", "198.51.255.255", "203.0.114.7",
               "2a00:1450::25"):
        assert ex.contains(ip) and ip in ex
    for ip in ("198.50.255.255", "198.52.0.0", "203.0.114.6", "203.0.114.8", "2a00:1451::1"):
        assert not ex.contains(ip)
    assert ex.match("203.0.114.7") == "excluded: 203.0.114.7/32"


def test_bad_exclusion_line_is_an_error_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "exclude.conf"
    path.write_text("8.8.8.0/24\nnot-an-address\n")
    with pytest.raises(ExclusionError, match=r"exclude.conf:2: 'not-an-address'"):
        Exclusions.from_file(path)
    with pytest.raises(ExclusionError, match="exclusion file"):
        Exclusions.from_file(tmp_path / "missing.conf")


def test_overlapping_exclusions_still_match() -> None:
    ex = Exclusions(["8.0.0.0/8", "8.8.8.0/24", "9.0.0.0/30", "9.0.0.2/31"])
    assert ex.contains("8.200.0.1") and ex.contains("8.8.8.8") and ex.contains("9.0.0.3")
    assert not ex.contains("9.0.0.4") and not ex.contains("7.255.255.255")


async def test_exclusions_skipped_in_every_source_kind(tmp_path: Path) -> None:
    ex = Exclusions(["127.0.3.0/24", "127.0.0.5"])
    # CIDR: the excluded /24 is one report; nothing in it is emitted.
    spec = parse_source("127.0.2.250/31,127.0.3.0/24,127.0.4.0/24", allow_loopback=True)
    items, skipped = await collect(spec, exclusions=ex)
    emitted = {t.address for t in items}
    assert not any(ex.contains(a) for a in emitted)
    assert skipped == [("127.0.3.0/24", "excluded: 127.0.3.0/24")]
    assert len(items) == 2 + 256 == count_hint(spec, ex)
    # Lines.
    spec, stream = lines_source("127.0.0.4", "127.0.0.5", "127.0.3.9", "127.0.4.1")
    spec = SourceSpec("stdin", allow_loopback=True)
    items, skipped = await collect(spec, stdin=stream, exclusions=ex)
    assert [t.address for t in items] == ["127.0.0.4", "127.0.4.1"]
    assert skipped == [("127.0.0.5", "excluded: 127.0.0.5/32"),
                       ("127.0.3.9", "excluded: 127.0.3.0/24")]
    # Random: an excluded address is never drawn.
    spec = SourceSpec("random", count=3000, seed=1, universe="127.0.0.0/20",
                      allow_loopback=True)
    items, skipped = await collect(spec, exclusions=ex)
    assert len(items) == 3000 and skipped == []
    assert not any(ex.contains(t.address) for t in items)


async def test_settings_exclude_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "exclude.conf"
    path.write_text("8.8.4.0/24\n")
    settings = Settings(survey_exclude_file=str(path))
    items, skipped = await collect(parse_source("8.8.3.255/32,8.8.4.0/31"), settings)
    assert [t.address for t in items] == ["8.8.3.255"]
    assert skipped == [("8.8.4.0/31", "excluded: 8.8.4.0/24")]
    path.write_text("garbage\n")
    with pytest.raises(ExclusionError):
        await collect(parse_source("8.8.3.255/32"), settings)


# -- parsing sources ------------------------------------------------------------------------------


def test_parse_source_kinds(tmp_path: Path) -> None:
    assert parse_source("-") == SourceSpec("stdin")
    assert parse_source("random:500") == SourceSpec("random", count=500)
    assert parse_source("random:500:42", universe="127.0.0.0/8", allow_loopback=True) == \
        SourceSpec("random", count=500, seed=42, universe="127.0.0.0/8", allow_loopback=True)
    assert parse_source("8.8.8.0/24, 1.1.1.1") == SourceSpec("cidr", "8.8.8.0/24,1.1.1.1/32")
    path = tmp_path / "targets.txt"
    path.write_text("8.8.8.8\n")
    assert parse_source(str(path)) == SourceSpec("file", str(path))


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty source"),
    ("random:", "expected random:N"),
    ("random:ten", "expected random:N"),
    ("random:0", "at least 1"),
    ("random:5:x", "expected random:N"),
    ("10.0.0.0/33", "not an IP address or CIDR"),
    ("2a00::/64", "larger than a /112"),
    ("no/such/file.txt", "no such file"),
])
def test_parse_source_rejects(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_source(text)


def test_random_universe_must_be_ipv4() -> None:
    with pytest.raises(SourceError, match="only IPv4"):
        parse_source("random:5", universe="2a00::/120")


async def test_iter_targets_validates_a_spec_built_by_hand() -> None:
    with pytest.raises(SourceError, match="larger than a /112"):
        await collect(SourceSpec("cidr", "2a00::/64"))
    with pytest.raises(SourceError, match="no such file"):
        await collect(SourceSpec("file", "/nonexistent/targets.txt"))
    items, _ = await collect(SourceSpec("cidr", "2a00::fffe/127"))
    assert [t.address for t in items] == ["2a00::fffe", "2a00::ffff"]


def test_count_hint() -> None:
    assert count_hint(parse_source("8.8.8.0/24,8.8.8.128/25")) == 256  # overlap counted once
    assert count_hint(parse_source("127.0.0.0/24")) == 0
    assert count_hint(parse_source("127.0.0.0/24", allow_loopback=True)) == 256
    assert count_hint(parse_source("random:100")) == 100
    assert count_hint(parse_source("random:100", universe="127.0.0.0/28",
                                   allow_loopback=True)) == 16
    assert count_hint(SourceSpec("stdin")) is None
    # All of IPv4 minus the 16 reserved ranges (255.255.255.255/32 is inside 240.0.0.0/4).
    reserved = sum(n.num_addresses for n in ipaddress.collapse_addresses(RESERVED_V4))
    assert count_hint(parse_source("0.0.0.0/0")) == (1 << 32) - reserved


# -- random ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 255, 1000, 4097])
def test_feistel_is_a_permutation(size: int) -> None:
    perm = _Feistel(size, seed=size)
    assert sorted(perm(i) for i in range(size)) == list(range(size))


async def test_random_is_deterministic_without_repeats_and_never_reserved() -> None:
    spec = SourceSpec("random", count=20000, seed=7)
    a, skipped = await collect(spec)
    b, _ = await collect(spec)
    c, _ = await collect(SourceSpec("random", count=20000, seed=8))
    assert a == b and skipped == []
    assert [t.address for t in a] != [t.address for t in c]
    addresses = [t.address for t in a]
    assert len(addresses) == len(set(addresses)) == 20000
    assert [t.seq for t in a] == list(range(20000))
    assert all(t.source == "random" for t in a)
    assert not any(is_reserved(x) for x in addresses)
    # Spread: a uniform sample of IPv4 touches most /8s.
    assert len({x.split(".")[0] for x in addresses}) > 150


async def test_random_lab_universe_exhausts_without_repeats() -> None:
    spec = SourceSpec("random", count=100, seed=3, universe="127.0.9.0/28",
                      allow_loopback=True)
    items, _ = await collect(spec)
    assert sorted(ipaddress.ip_address(t.address) for t in items) == list(
        ipaddress.ip_network("127.0.9.0/28"))
    assert [t.address for t in items] != [str(a) for a in ipaddress.ip_network("127.0.9.0/28")]
    # Without allow_loopback the lab universe is entirely reserved: nothing is drawn.
    items, _ = await collect(SourceSpec("random", count=5, universe="127.0.0.0/8"))
    assert items == []


# -- lines: files and stdin -----------------------------------------------------------------------


async def test_file_lines_comments_junk_and_order(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_bytes(
        b"# zmap -p 25 output\n"
        b"8.8.8.8\n"
        b"\n"
        b"   1.1.1.1   # trailing comment\n"
        b"9.9.9.9\r\n"
        b"2A00:1450:4001::1A\n"
        b"8.8.4.0/30\n"
        b"8.8.8.8 8.8.4.4\n"
        b"300.1.1.1\n"
        b"-bad-.example\n"
        b"\xff\xfe\x00binary\n"
        b"010.1.1.1\n"
        + b"x" * 5000 + b"\n"
        b"2a00::/64\n"
        b"4.4.4.4")  # no final newline
    spec = parse_source(str(path))
    items, skipped = await collect(spec)
    assert [(t.seq, t.address, t.source) for t in items] == [
        (0, "8.8.8.8", "8.8.8.8"),
        (1, "1.1.1.1", "1.1.1.1"),
        (2, "9.9.9.9", "9.9.9.9"),
        (3, "2a00:1450:4001::1a", "2A00:1450:4001::1A"),
        (4, "8.8.4.0", "8.8.4.0/30"),
        (5, "8.8.4.1", "8.8.4.0/30"),
        (6, "8.8.4.2", "8.8.4.0/30"),
        (7, "8.8.4.3", "8.8.4.0/30"),
        (8, "4.4.4.4", "4.4.4.4"),
    ]
    assert [what.split(":")[0] for what, _ in skipped] == [
        "line 8", "line 9", "line 10", "line 11", "line 12", "line 13", "line 14"]
    reasons = [r for _, r in skipped]
    assert reasons[0] == "invalid: expected one address, CIDR or name per line"
    assert reasons[-2] == "invalid: line longer than 1024 characters"
    assert reasons[-1].startswith("too-large: ")
    assert all(r.split(":")[0] in {"invalid", "too-large"} for r in reasons)
    # Same file, same targets: resume depends on it.
    again, _ = await collect(spec)
    assert again == items


async def test_stdin_from_a_slow_pipe_does_not_block_the_loop() -> None:
    """zmap trickles addresses into the pipe; waiting for the next line must leave the
    event loop free (other tasks run meanwhile)."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r")
    go = threading.Event()
    released_by_loop: list[bool] = []

    def zmap() -> None:
        with os.fdopen(write_fd, "w") as out:
            out.write("8.8.8.8\n")
            out.flush()
            # The second line only comes once a task on the event loop has run while
            # the survey waits for it; if reading blocked the loop, this times out.
            released_by_loop.append(go.wait(timeout=10))
            out.write("1.1.1.1\n10.0.0.1\n8.8.4.4\n")

    writer = threading.Thread(target=zmap)
    writer.start()

    async def release() -> None:
        await asyncio.sleep(0.05)
        go.set()

    try:
        gen = iter_targets(SourceSpec("stdin"), Settings(), stdin=reader)
        first = await gen.__anext__()
        releaser = asyncio.create_task(release())
        rest = [t async for t in gen]
        await releaser
    finally:
        writer.join()
        reader.close()
    assert released_by_loop == [True]
    assert [first.address] + [t.address for t in rest] == ["8.8.8.8", "1.1.1.1", "8.8.4.4"]
    assert [t.seq for t in rest] == [1, 2]


async def test_stdin_defaults_to_sys_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("8.8.8.8\n192.168.1.1\n1.1.1.1\n"))
    items, skipped = await collect(parse_source("-"))
    assert [t.address for t in items] == ["8.8.8.8", "1.1.1.1"]
    assert skipped[0][0] == "192.168.1.1"


# -- names via the lab DNS ------------------------------------------------------------------------


def lab_zone() -> Zone:
    zone = Zone()
    zone.add("mx.example", "MX", "20 mx2.example.", "10 mx1.example.")
    zone.add_host("mx1.example", "127.0.1.1", "::1")
    zone.add_host("mx2.example", "127.0.1.3", "127.0.1.2")
    zone.add_host("nomx.example", "127.0.2.1")
    zone.add("nullmx.example", "MX", "0 .")
    zone.add("private.example", "MX", "10 mx.private.example.")
    zone.add_host("mx.private.example", "10.0.0.5", "127.0.5.5")
    zone.add("shared.example", "MX", "10 mx1.example.")
    zone.add("noaddr.example", "MX", "10 nowhere.example.")
    zone.add("nowhere.example", "TXT", "exists, but has no address")
    zone.add_host("broken.example", "127.0.6.1")
    zone.behave("broken.example", "servfail")
    for i in range(80):
        zone.add_host(f"h{i}.bulk.example", f"127.0.7.{i}")
    return zone


@pytest.fixture
async def lab_dns():
    async with DnsServer(lab_zone()) as server:
        yield server


async def test_names_resolve_to_mx_hosts_in_order(lab_dns: DnsServer, tmp_path: Path) -> None:
    settings = Settings(nameservers=(lab_dns.nameserver,), dns_timeout=2.0)
    path = tmp_path / "domains.txt"
    path.write_text("127.0.0.9\nmx.example\n127.0.0.10\nNoMX.Example.\nnullmx.example\n"
                    "missing.example\nbroken.example\nprivate.example\nshared.example\n"
                    "noaddr.example\n127.0.0.11\n")
    items, skipped = await collect(parse_source(str(path), allow_loopback=True), settings)
    assert [(t.seq, t.address, t.source) for t in items] == [
        (0, "127.0.0.9", "127.0.0.9"),
        # MX by preference; per host A (sorted) before AAAA.
        (1, "127.0.1.1", "mx.example"),
        (2, "::1", "mx.example"),
        (3, "127.0.1.2", "mx.example"),
        (4, "127.0.1.3", "mx.example"),
        (5, "127.0.0.10", "127.0.0.10"),
        (6, "127.0.2.1", "nomx.example"),  # no MX: the name's own address
        (7, "127.0.5.5", "private.example"),  # its 10.0.0.5 is reserved
        # shared.example's only MX host was already emitted for mx.example
        (8, "127.0.0.11", "127.0.0.11"),
    ]
    assert skipped == [
        ("nullmx.example", "unresolved: null MX, the domain accepts no mail (RFC 7505)"),
        ("missing.example", "unresolved: no such domain (NXDOMAIN)"),
        ("broken.example", "unresolved: MX lookup failed (servfail)"),
        ("10.0.0.5 (from private.example)", "reserved: 10.0.0.0/8 private use (RFC 1918)"),
        ("noaddr.example", "unresolved: its MX hosts have no A/AAAA address"),
    ]
    again, _ = await collect(parse_source(str(path), allow_loopback=True), settings)
    assert again == items


async def test_many_names_keep_file_order_with_lookups_in_parallel(lab_dns: DnsServer) -> None:
    settings = Settings(nameservers=(lab_dns.nameserver,), dns_timeout=2.0)
    names = [f"h{i}.bulk.example" for i in range(80)]
    stream = io.StringIO("".join(f"{n}\n127.0.8.{i}\n" for i, n in enumerate(names)))
    items, skipped = await collect(SourceSpec("stdin", allow_loopback=True), settings,
                                   stdin=stream)
    expected = []
    for i, name in enumerate(names):
        expected += [(f"127.0.7.{i}", name), (f"127.0.8.{i}", f"127.0.8.{i}")]
    assert [(t.address, t.source) for t in items] == expected
    assert [t.seq for t in items] == list(range(160))
    assert skipped == []
    # Lookups ran ahead of the emitted target: more than one question was asked before
    # the first name's answer was used (the window), and each name was asked once.
    assert sum(1 for q in lab_dns.log if q[1] == "MX") == 80


async def test_stopping_early_cancels_pending_lookups(lab_dns: DnsServer) -> None:
    settings = Settings(nameservers=(lab_dns.nameserver,), dns_timeout=2.0)
    stream = io.StringIO("".join(f"h{i}.bulk.example\n" for i in range(80)))
    gen = iter_targets(SourceSpec("stdin", allow_loopback=True), settings, stdin=stream)
    first = await gen.__anext__()
    lookups = [t for t in asyncio.all_tasks() if "resolve_name" in repr(t.get_coro())]
    assert lookups and not all(t.done() for t in lookups)  # the window ran ahead
    await gen.aclose()
    assert first.address == "127.0.7.0"
    assert all(t.done() for t in lookups)


# -- streaming in bounded memory ---------------------------------------------------------------------

_MEASURE = textwrap.dedent("""
    import asyncio, sys
    from tui.config import Settings
    from tui.survey.targets import SourceSpec, iter_targets

    def rss_kb(field):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    async def main(spec):
        n = last = 0
        async for item in iter_targets(spec, Settings()):
            assert item.seq == n
            n += 1
            last = item.address
        return n, last

    spec = SourceSpec(sys.argv[1], sys.argv[2])
    before = rss_kb("VmRSS")
    n, last = asyncio.run(main(spec))
    print(n, last, rss_kb("VmHWM") - before)
""")


def _measure(kind: str, value: str) -> tuple[int, str, int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, kind, value], capture_output=True,
                         text=True, timeout=60, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    return int(out[0]), out[1], int(out[2])


def test_million_line_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """1,000,000 lines (written lazily, ~14 MB) pass through with the peak resident size
    growing by far less than the file would take as Python objects (~100 MB)."""
    path = tmp_path / "million.txt"
    with path.open("w") as fh:
        for i in range(1_000_000):
            v = 0x08000000 + i  # 8.0.0.0 upwards: public space, none of it reserved
            fh.write(f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}\n")
    n, last, growth_kb = _measure("file", str(path))
    assert (n, last) == (1_000_000, "8.15.66.63")
    assert growth_kb < 50 * 1024, f"peak RSS grew by {growth_kb} kB"


def test_cidr_slash_12_streams_in_bounded_memory() -> None:
    n, last, growth_kb = _measure("cidr", "8.0.0.0/12")
    assert (n, last) == (1 << 20, "8.15.255.255")
    assert growth_kb < 50 * 1024, f"peak RSS grew by {growth_kb} kB"


async def test_tracemalloc_peak_flat_for_a_streamed_file(tmp_path: Path) -> None:
    """tracemalloc (slow: it hooks every allocation) over 100k lines: the peak is that of a
    block of lines, not of the source."""
    import tracemalloc

    path = tmp_path / "lines.txt"
    with path.open("w") as fh:
        for i in range(100_000):
            fh.write(f"9.{i >> 16}.{(i >> 8) & 255}.{i & 255}\n")
    tracemalloc.start()
    try:
        n = 0
        async for _ in iter_targets(parse_source(str(path)), Settings()):
            n += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 100_000
    assert peak < 5 * 1024 * 1024, f"tracemalloc peak {peak} bytes"


def test_blocklist_reasons_name_the_range() -> None:
    blocked = Blocklist(exclusions=Exclusions(["8.8.8.8"]))
    assert blocked.reason(ipaddress.ip_address("8.8.8.8")) == "excluded: 8.8.8.8/32"
    assert blocked.reason(ipaddress.ip_address("fe80::1")).startswith("reserved: fe80::/10")
    assert blocked.reason(ipaddress.ip_address("8.8.4.4")) is None
