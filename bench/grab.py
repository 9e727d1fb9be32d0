"""Benchmark: SMTP greeting grabs per second, grab_banner vs a bare-Protocol ceiling.

A lab of N SMTP servers (tui.lab.smtp, preset "postfix", N distinct 127.0.1.x addresses)
runs in a separate process, on uvloop when installed, so its CPU is not the client's. In
the benchmark process, for each event loop (asyncio, and uvloop when installed) and in the
same run, interleaved over several rounds:

  ceiling        the least a client can do: create_connection, read until the first
                 newline, close (no timeouts, no parsing, no QUIT)
  grab           tui.probes.smtp.grab_banner as the survey calls it: timeouts, whole
                 greeting parsed and bounded, QUIT, close
  grab-noquit    the same without QUIT
  aiosmtplib     the library's way: SMTP(hostname, port, timeout=5, local_hostname=…,
                 start_tls=False).connect() (TCP connect, then the greeting read within
                 the timeout), then close() without QUIT — so compare it with grab-noquit.
                 start_tls=False and local_hostname because connect() otherwise also sends
                 EHLO (and STARTTLS) and asks socket.getfqdn() in a thread for the EHLO name

Each run makes --grabs grabs at --concurrency, round-robin over the servers. Reported per
client: grabs/s (best round: other processes share this machine), client CPU µs per grab
(process time of the benchmark process, which holds only the client), and the ratio
grab / ceiling for both (goal for grabs/s: ≥ 0.8). When the lab process is the bottleneck
every client is capped at its rate and the wall ratio approaches 1; the CPU ratio then
still shows what the client costs. Also prints fingerprint identify() calls per second.

    python3 bench/grab.py [--servers 200] [--grabs 3000] [--concurrency 100] [--rounds 3]

Touches only 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firstline import FirstLine  # noqa: E402  (bench/ is the script's own dir)

from tui.probes.fingerprint import default_rules, identify  # noqa: E402
from tui.probes.smtp import grab_banner  # noqa: E402

GOAL = 0.8
LAB_NET = "127.0.1."

try:
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None


# -- the lab, in its own process -------------------------------------------------------------


def _lab_main(count: int, conn) -> None:  # type: ignore[no-untyped-def]
    from tui.lab.smtp import SmtpProfile, SmtpServer

    async def serve() -> None:
        profile = SmtpProfile(preset="postfix")
        servers = [SmtpServer(profile, host=f"{LAB_NET}{i + 1}", port=0) for i in range(count)]
        for server in servers:
            await server.start()
        conn.send([(s.host, s.port) for s in servers])
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)  # anything on the pipe means "stop"
        while True:
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
                break
            except TimeoutError:
                for server in servers:  # the lab records sessions: keep memory flat
                    server.sessions.clear()
        loop.remove_reader(conn.fileno())
        for server in servers:
            await server.stop()

    if uvloop is not None:
        uvloop.run(serve())
    else:
        asyncio.run(serve())


# -- the clients -----------------------------------------------------------------------------


async def ceiling(host: str, port: int) -> str:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    await loop.create_connection(lambda: FirstLine(done), host, port)
    return "answered" if await done else "closed"


async def grab(host: str, port: int) -> str:
    result = await grab_banner(host, port, connect_timeout=5, greeting_timeout=5)
    return result.outcome


async def grab_noquit(host: str, port: int) -> str:
    result = await grab_banner(host, port, connect_timeout=5, greeting_timeout=5, quit=False)
    return result.outcome


async def aiosmtp(host: str, port: int) -> str:
    smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=5, local_hostname="bench.lab.test",
                           start_tls=False)
    try:
        await smtp.connect()
    except aiosmtplib.SMTPConnectResponseError:
        return "rejected"
    except aiosmtplib.SMTPException as exc:
        return type(exc).__name__
    finally:
        smtp.close()
    return "answered"


CLIENTS: dict[str, Callable[[str, int], Awaitable[str]]] = {
    "ceiling": ceiling,
    "grab": grab,
    "grab-noquit": grab_noquit,
    "aiosmtplib": aiosmtp,
}


async def _run(client: Callable[[str, int], Awaitable[str]], servers: list[tuple[str, int]],
               grabs: int, concurrency: int) -> tuple[float, float, Counter[str]]:
    outcomes: Counter[str] = Counter()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < grabs:
            i = next_index
            next_index += 1
            host, port = servers[i % len(servers)]
            try:
                outcomes[await client(host, port)] += 1
            except OSError as exc:  # the ceiling has no error handling of its own
                outcomes[type(exc).__name__] += 1

    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall0, time.process_time() - cpu0, outcomes


def bench_loop(loop_name: str, servers: list[tuple[str, int]], args: argparse.Namespace
               ) -> dict[str, list[tuple[float, float]]]:
    factory = uvloop.new_event_loop if loop_name == "uvloop" else asyncio.new_event_loop
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
    with asyncio.Runner(loop_factory=factory) as runner:
        # Warm up (imports, first connections) outside the measurement.
        runner.run(_run(grab, servers, min(200, args.grabs), args.concurrency))
        runner.run(_run(ceiling, servers, min(200, args.grabs), args.concurrency))
        for _round in range(args.rounds):
            for name, client in CLIENTS.items():
                wall, cpu, outcomes = runner.run(
                    _run(client, servers, args.grabs, args.concurrency))
                bad = {k: v for k, v in outcomes.items() if k != "answered"}
                if bad:
                    print(f"  {loop_name}/{name}: not answered: {bad}", file=sys.stderr)
                figures[name].append((args.grabs / wall, cpu / args.grabs * 1e6))
    return figures


def bench_identify(seconds: float = 1.0) -> tuple[float, float]:
    """identify() calls per second over a realistic mix: every rule example and
    every 'unidentified' example (the worst case: all rules tried)."""
    rules = default_rules()
    samples = [(e.get("banner"), e.get("ehlo"), e.get("help"))
               for r in rules.rules for e in r.examples]
    unknown = [(e.get("banner"), e.get("ehlo"), e.get("help"))
               for e in rules.unidentified_examples]
    rates = []
    for mix in (samples, unknown):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for banner, ehlo, help_ in mix:
                identify(banner, ehlo, help_)
            n += len(mix)
        rates.append(n / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--grabs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.servers <= 254:
        parser.error("--servers must be 1..254 (one 127.0.1.x address each)")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    lab = ctx.Process(target=_lab_main, args=(args.servers, child), daemon=True)
    lab.start()
    try:
        if not parent.poll(60):
            raise SystemExit("the lab process did not start")
        servers = parent.recv()
        loops = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
        print(f"{args.servers} lab SMTP servers (postfix preset) in a separate process "
              f"({'uvloop' if uvloop else 'asyncio'}); {args.grabs} grabs per run at "
              f"concurrency {args.concurrency}, best of {args.rounds} rounds")
        if uvloop is None:
            print("uvloop not installed: asyncio only")
        for loop_name in loops:
            figures = bench_loop(loop_name, servers, args)
            best = {name: max(f[0] for f in runs) for name, runs in figures.items()}
            cpu = {name: statistics.median(f[1] for f in runs) for name, runs in figures.items()}
            print(f"\n[{loop_name} event loop in the client]")
            print(f"  {'client':<12} {'grabs/s':>9} {'CPU µs/grab':>12} {'ratio/s':>8} "
                  f"{'ratio CPU':>10}")
            for name in CLIENTS:
                ratio = best[name] / best["ceiling"]
                cpu_ratio = cpu["ceiling"] / cpu[name]
                print(f"  {name:<12} {best[name]:>9.0f} {cpu[name]:>12.1f} {ratio:>8.2f} "
                      f"{cpu_ratio:>10.2f}")
            verdict = "meets" if best["grab"] / best["ceiling"] >= GOAL else "misses"
            print(f"  grab_banner / ceiling = {best['grab'] / best['ceiling']:.2f} grabs/s "
                  f"({verdict} the goal ≥ {GOAL}); CPU per grab ceiling/grab = "
                  f"{cpu['ceiling'] / cpu['grab']:.2f}")
            print(f"  aiosmtplib / grab-noquit (neither sends QUIT) = "
                  f"{best['aiosmtplib'] / best['grab-noquit']:.2f} grabs/s, "
                  f"{cpu['aiosmtplib'] / cpu['grab-noquit']:.2f}× the CPU per grab")
        known, unknown = bench_identify()
        print(f"\nfingerprint.identify: {known:,.0f}/s on the rule examples, "
              f"{unknown:,.0f}/s on greetings that match no rule")
    finally:
        parent.send("stop")
        lab.join(10)
        if lab.is_alive():
            lab.terminate()
            lab.join(5)


if __name__ == "__main__":
    main()
