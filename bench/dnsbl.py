"""Benchmark: one IP address against the whole DNSBL catalogue, concurrently vs one by one.

The lab DNS server (on its own thread and loop) serves every catalogue zone and holds each
answer back by a random 20–80 ms, like real list servers a few hops away, so the number only
comes out well if the lists are really asked at the same time. The address is listed on a
few lists, so those also cost the follow-up TXT query.

Each round measures, in the same run:
  wall     the full concurrent check (dnsbl.run with every catalogue zone)
  singles  each list that was queried, asked alone, one after the other (the peer)
and prints wall / slowest single (goal ≤ 1.3: checking 27 lists should cost about as much
as checking the slowest one). Median figures over the rounds at the end.

    python3 bench/dnsbl.py [--rounds 5] [--delay-min 0.02] [--delay-max 0.08] [--seed 1]

Touches only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.config import Settings  # noqa: E402
from tui.lab.dns import DnsServer, Zone  # noqa: E402
from tui.lab.runner import LabThread  # noqa: E402
from tui.probes import dnsbl  # noqa: E402
from tui.probes.dnsbl import ListStatus  # noqa: E402
from tui.probes.target import parse_target  # noqa: E402

TARGET = "127.0.0.77"
GOAL = 1.3
# Lists the benchmark address is on (code, TXT): realistic, and it adds the TXT round trip.
LISTINGS = {
    "zen.spamhaus.org": ("127.0.0.4", "https://check.spamhaus.org/query/ip/127.0.0.77"),
    "bl.spamcop.net": ("127.0.0.2", "Blocked - see https://www.spamcop.net/bl.shtml?127.0.0.77"),
    "dnsbl-1.uceprotect.net": ("127.0.0.2", "Net 127.0.0.77 is UCEPROTECT-Level1 listed"),
}


def build_zone() -> Zone:
    zone = Zone()
    for entry in dnsbl.catalogue():
        if entry.kind == "domain":
            zone.add_dnsbl(entry.zone, domains={})
        else:
            listing = LISTINGS.get(entry.zone)
            zone.add_dnsbl(entry.zone, {TARGET: listing} if listing else None)
    return zone


async def timed(settings: Settings, zones: list[str]) -> tuple[float, dnsbl.DnsblResult]:
    start = time.perf_counter()
    result = await dnsbl.run(parse_target(TARGET), settings, zones=zones)
    return (time.perf_counter() - start) * 1000.0, result


async def one_round(settings: Settings, zones: list[str]) -> dict[str, float | int]:
    wall_ms, full = await timed(settings, zones)
    bad = [r for r in full.results if r.status in (ListStatus.ERROR, ListStatus.TIMEOUT)]
    if bad:
        raise SystemExit(f"benchmark lab misbehaved: {bad[0].zone}: {bad[0].message}")
    queried = [r.zone for r in full.results if r.status is not ListStatus.SKIPPED]
    singles: list[float] = []
    for zone in queried:
        ms, _ = await timed(settings, [zone])
        singles.append(ms)
    return {
        "wall": wall_ms,
        "slowest": max(singles),
        "median_single": statistics.median(singles),
        "sum": sum(singles),
        "queried": len(queried),
        "listed": full.counts.listed,
        "skipped": full.counts.skipped,
        "results": len(full.results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay-min", type=float, default=0.020)
    parser.add_argument("--delay-max", type=float, default=0.080)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    catalogue = dnsbl.catalogue()
    zones = [e.zone for e in catalogue]
    with LabThread() as lab:
        server = lab.start(DnsServer(build_zone(), delay=(args.delay_min, args.delay_max),
                                     seed=args.seed))
        settings = Settings(nameservers=(server.nameserver,), dns_timeout=5.0)
        rounds = []
        print(f"DNSBL benchmark: {TARGET} against the {len(catalogue)}-list catalogue; lab "
              f"answers delayed {args.delay_min * 1000:.0f}-{args.delay_max * 1000:.0f} ms")
        print(f"{'round':>5} {'wall ms':>9} {'slowest single ms':>18} {'sum of singles ms':>18}"
              f" {'ratio':>7}")
        for i in range(1, args.rounds + 1):
            r = asyncio.run(one_round(settings, zones))
            rounds.append(r)
            print(f"{i:>5} {r['wall']:>9.1f} {r['slowest']:>18.1f} {r['sum']:>18.1f}"
                  f" {r['wall'] / r['slowest']:>7.2f}")
    first = rounds[0]
    wall = statistics.median(r["wall"] for r in rounds)
    slowest = statistics.median(r["slowest"] for r in rounds)
    total = statistics.median(r["sum"] for r in rounds)
    ratio = statistics.median(r["wall"] / r["slowest"] for r in rounds)
    print(f"lists queried: {first['queried']} (listed on {first['listed']}, "
          f"{first['skipped']} skipped, {len(catalogue) - first['results']} domain lists "
          "not applicable to an IP)")
    print(f"median wall {wall:.1f} ms; slowest single list {slowest:.1f} ms; "
          f"sequential sum {total:.1f} ms ({total / wall:.1f}x slower)")
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"median ratio wall / slowest single: {ratio:.2f} (goal <= {GOAL}: {verdict})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
