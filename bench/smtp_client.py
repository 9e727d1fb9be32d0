"""Benchmark: aiosmtplib.SMTP vs mxscope's SmtpClient against hostile lab SMTP servers.

Why this exists: tui/probes/smtpwire.py owns the SMTP dialogue instead of using aiosmtplib
and gives reasons (whole-reply deadline, line / line-count / byte bounds, a transcript that
keeps malformed lines). This measures them. One lab SMTP server per behaviour (tui.lab.smtp:
"postfix", and hostile "drip", "huge-greeting", "endless-continuation", "binary", "silent",
"greet-421", "reset-mid") runs in a separate process, so the client process's tracemalloc
figures and CPU hold only the client. For each server, in the same run, interleaved:

  aiosmtplib   SMTP(hostname, port, timeout=T, local_hostname=…, start_tls=False);
               connect() (TCP connect, then reads the greeting within T); then ehlo()
               when the greeting was accepted. start_tls=False and an explicit
               local_hostname because connect() otherwise sends EHLO (and STARTTLS) by
               itself and asks socket.getfqdn() in a thread for the EHLO name.
  SmtpClient   SmtpClient.connect(connect_timeout=T, timeout=T), read_reply(timeout=T),
               then command("EHLO …") when the greeting was 2xx.

Both close without QUIT. Each run sits inside an outer asyncio.wait_for(--cap) so the bench
never hangs (reported as "still running at cap"). Per run: the outcome (reply or exception
type and message), wall time until the run returned (close included), peak traced memory
above the level before the run (tracemalloc: Python allocations of this process), the most
bytes the client held unparsed in its receive buffer (aiosmtplib's SMTPProtocol._buffer,
the StreamReader buffer under SmtpClient: both are swapped for a bytearray that records its
largest size, nothing else changes), and what the caller is left with for a transcript.
Wall: median of --repeat runs; memory: the largest.

The tracemalloc peak has a floor of about 256 KiB in both clients as soon as any byte
arrives: asyncio's socket transport receives with recv(262144), which allocates that much
before shrinking to what came. The buffered column is the client's own doing.

    python3 bench/smtp_client.py [--timeout 3] [--cap 20] [--repeat 3]

Touches only 127.0.0.1. Plain asyncio event loop in the client (uvloop's buffers are not
Python allocations and would not show in tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing as mp
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.probes.smtpwire import SmtpClient, SmtpWireError  # noqa: E402

CASES = ("postfix", "drip", "huge-greeting", "endless-continuation", "binary", "silent",
         "greet-421", "reset-mid")
HELO = "client.lab.test"
HOST = "127.0.0.1"


# -- the lab, in its own process -------------------------------------------------------------


def _lab_main(conn) -> None:  # type: ignore[no-untyped-def]
    from tui.lab.smtp import SmtpProfile, SmtpServer

    # A hostile sender writing into a socket the client already closed is expected here.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    async def serve() -> None:
        servers = {}
        for case in CASES:
            profile = (SmtpProfile(preset="postfix") if case == "postfix"
                       else SmtpProfile(preset="postfix", hostile=case))
            servers[case] = await SmtpServer(profile, host=HOST, port=0).start()
        conn.send({case: s.port for case, s in servers.items()})
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)  # anything on the pipe means "stop"
        await stop.wait()
        loop.remove_reader(conn.fileno())
        for server in servers.values():
            await server.stop()

    asyncio.run(serve())


# -- watching the receive buffers ------------------------------------------------------------

_max_buffered = 0


class _WatchedBuffer(bytearray):
    """A receive buffer that records its largest size (both clients only ever extend())."""

    def extend(self, data) -> None:  # type: ignore[no-untyped-def,override]
        global _max_buffered
        super().extend(data)
        _max_buffered = max(_max_buffered, len(self))


def _watch_buffers() -> None:
    for cls in (aiosmtplib.protocol.SMTPProtocol, asyncio.StreamReader):
        original = cls.__init__

        def __init__(self, *a, _original=original, **kw) -> None:  # type: ignore[no-untyped-def]
            _original(self, *a, **kw)
            assert isinstance(self._buffer, bytearray) and not self._buffer
            self._buffer = _WatchedBuffer()

        cls.__init__ = __init__  # type: ignore[method-assign]


# -- the clients -----------------------------------------------------------------------------


@dataclass
class Run:
    steps: list[str] = field(default_factory=list)  # what each step returned, in order
    kept: str = "nothing"  # what the caller is left with for a transcript


def _short(text: str, width: int = 60) -> str:
    text = text.replace("\r", "\\r").replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(n: int) -> str:
    return f"{n} B" if n < 10_000 else f"{n / 1024:.0f} KiB"


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _lines_kept(text: str) -> str:
    # An SMTPResponse message: the reply's lines joined with "\n", codes stripped.
    return f"{text.count(chr(10)) + 1} line(s), {_size(len(text.encode('utf-8', 'replace')))}"


async def run_aiosmtplib(port: int, timeout: float, run: Run) -> None:
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=timeout, local_hostname=HELO,
                           start_tls=False)
    try:
        try:
            greeting = await smtp.connect()
        except aiosmtplib.SMTPException as exc:
            run.steps.append(f"connect: {type(exc).__name__}: {_short(str(exc))}")
            # The caller has the exception only; a reply error carries the server's text.
            run.kept = f"exception text {_size(len(str(exc)))}"
            return
        run.steps.append(f"greeting {greeting.code}")
        run.kept = "greeting " + _lines_kept(greeting.message)
        try:
            ehlo = await smtp.ehlo(hostname=HELO)
        except aiosmtplib.SMTPException as exc:
            run.steps.append(f"ehlo: {type(exc).__name__}: {_short(str(exc))}")
            return
        run.steps.append(f"EHLO {ehlo.code}")
        run.kept += "; EHLO " + _lines_kept(ehlo.message)
    finally:
        smtp.close()


async def run_smtpclient(port: int, timeout: float, run: Run) -> None:
    try:
        client = await SmtpClient.connect(HOST, port, connect_timeout=timeout, timeout=timeout)
    except (SmtpWireError, OSError) as exc:
        run.steps.append(f"connect: {type(exc).__name__}: {_short(str(exc))}")
        return
    try:
        greeting = await client.read_reply(timeout=timeout)
        run.steps.append(f"greeting {greeting.code}")
        if greeting.code // 100 == 2:
            ehlo = await client.command(f"EHLO {HELO}")
            run.steps.append(f"EHLO {ehlo.code}")
    except SmtpWireError as exc:
        run.steps.append(f"{type(exc).__name__}: {_short(str(exc))}")
    finally:
        served = [text for direction, text in client.transcript or () if direction == "S"]
        size = sum(len(t.encode("utf-8", "replace")) for t in served)
        run.kept = f"transcript {len(served)} server line(s), {_size(size)}"
        await client.close()


CLIENTS: dict[str, Callable[[int, float, Run], Awaitable[None]]] = {
    "aiosmtplib": run_aiosmtplib,
    "SmtpClient": run_smtpclient,
}


@dataclass
class Figures:
    outcomes: list[str] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    buffered: list[int] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def distinct(self, values: list[str]) -> str:
        """One value, or each distinct value with how many runs gave it."""
        counts = {v: values.count(v) for v in dict.fromkeys(values)}
        if len(counts) == 1:
            return values[0]
        return " | ".join(f"{v} ({n} of {len(values)} runs)" for v, n in counts.items())


async def measure(client: Callable[[int, float, Run], Awaitable[None]], port: int,
                  timeout: float, cap: float) -> tuple[str, float, int, int, str]:
    global _max_buffered
    run = Run()
    _max_buffered = 0
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        await asyncio.wait_for(client(port, timeout, run), cap)
        outcome = " → ".join(run.steps)
    except TimeoutError:
        outcome = f"still running at cap ({cap:g} s) after: {' → '.join(run.steps) or '-'}"
    wall = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    return outcome, wall, peak, _max_buffered, run.kept


async def bench(ports: dict[str, int], args: argparse.Namespace) -> dict[tuple[str, str], Figures]:
    results: dict[tuple[str, str], Figures] = {}
    # Warm up imports and first-use allocations outside the measurement.
    for client in CLIENTS.values():
        await measure(client, ports["postfix"], args.timeout, args.cap)
    for case in CASES:
        for rep in range(args.repeat):
            # Alternate which client goes first: the lab's state must not favour one.
            order = list(CLIENTS.items())
            if rep % 2:
                order.reverse()
            for name, client in order:
                outcome, wall, peak, buffered, kept = await measure(client, ports[case], args.timeout,
                                                          args.cap)
                fig = results.setdefault((case, name), Figures())
                fig.outcomes.append(outcome)
                fig.walls.append(wall)
                fig.peaks.append(peak)
                fig.buffered.append(buffered)
                fig.kept.append(kept)
            print(f"  {case} round {rep + 1}/{args.repeat} done", file=sys.stderr)
    return results


def print_table(results: dict[tuple[str, str], Figures], args: argparse.Namespace) -> None:
    print(f"\ntimeout {args.timeout:g} s per step, outer cap {args.cap:g} s, "
          f"{args.repeat} run(s) each (wall: median; memory: max); aiosmtplib "
          f"{aiosmtplib.__version__}, Python {sys.version.split()[0]}, asyncio loop")
    head = (f"{'server':<21} {'client':<11} {'wall s':>7} {'peak KiB':>9} {'buffered':>9}"
            f"  outcome")
    print(head)
    print("-" * len(head))
    for case in CASES:
        for name in CLIENTS:
            fig = results[(case, name)]
            outcome = fig.distinct(fig.outcomes)
            print(f"{case:<21} {name:<11} {statistics.median(fig.walls):>7.3f} "
                  f"{max(fig.peaks) / 1024:>9.1f} {_size(max(fig.buffered)):>9}  {outcome}")
            print(f"{'':<21} {'':<11} {'':>7} {'':>9} {'':>9}  kept: {fig.distinct(fig.kept)}")


def conclusion(results: dict[tuple[str, str], Figures], args: argparse.Namespace) -> str:
    """One paragraph derived from the measured figures (the verdicts follow the numbers)."""
    a, m = "aiosmtplib", "SmtpClient"

    def wall(case: str, name: str) -> float:
        return statistics.median(results[(case, name)].walls)

    def buffered(case: str, name: str) -> int:
        return max(results[(case, name)].buffered)

    def capped(case: str, name: str) -> bool:
        return any(o.startswith("still running") for o in results[(case, name)].outcomes)

    def on_time(case: str, name: str) -> bool:  # returned by the step's own deadline
        return not capped(case, name) and wall(case, name) <= args.timeout * 1.5

    parts = []
    drip = f"{wall('drip', a):.1f} s (aiosmtplib) and {wall('drip', m):.1f} s (SmtpClient)"
    if capped("drip", a):
        parts.append(f"Against the drip server (one byte a second) aiosmtplib was still "
                     f"reading at the {args.cap:g} s cap: its {args.timeout:g} s timeout is "
                     f"per read, not per reply; SmtpClient returned after "
                     f"{wall('drip', m):.1f} s.")
    elif on_time("drip", a) and on_time("drip", m):
        parts.append(f"Against the drip server (one byte a second) both gave up after {drip}: "
                     f"aiosmtplib's {args.timeout:g} s timeout covers the whole reply too "
                     f"(its read waits on one future per reply), so a drip server keeps "
                     f"neither alive.")
    else:
        parts.append(f"Against the drip server the calls returned after {drip}.")
    big = 1024 * 1024
    for case, what in (("huge-greeting", "the 10 MB greeting without a newline"),
                       ("endless-continuation", "endless continuation lines")):
        ba, bm = buffered(case, a), buffered(case, m)
        verdict = ("both stayed bounded" if ba < big and bm < big
                   else "aiosmtplib did not stay bounded" if ba >= big
                   else "SmtpClient did not stay bounded")
        parts.append(f"For {what} aiosmtplib buffered at most {_size(ba)} and returned after "
                     f"{_secs(wall(case, a))}, SmtpClient {_size(bm)} after "
                     f"{_secs(wall(case, m))}: {verdict}.")
    fast = [c for c in ("binary", "greet-421", "reset-mid")
            if on_time(c, a) and on_time(c, m) and max(wall(c, a), wall(c, m)) < 0.5]
    if fast:
        parts.append(f"{', '.join(fast)} ended within half a second in both; a silent server "
                     f"cost {wall('silent', a):.1f} s vs {wall('silent', m):.1f} s.")
    cases = ("binary", "endless-continuation", "greet-421")
    parts.append("What differs is what the caller keeps for a transcript. aiosmtplib: "
                 + "; ".join(f"{c}: {results[(c, a)].distinct(results[(c, a)].kept)}" for c in cases)
                 + " (an exception, or a reply whose lines are joined without their codes)."
                 + " SmtpClient: "
                 + "; ".join(f"{c}: {results[(c, m)].distinct(results[(c, m)].kept)}" for c in cases)
                 + " (every server line as received, undecodable bytes as \\xNN).")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--cap", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.repeat < 1 or args.timeout <= 0 or args.cap <= args.timeout:
        parser.error("need --repeat ≥ 1, --timeout > 0 and --cap > --timeout")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    lab = ctx.Process(target=_lab_main, args=(child,), daemon=True)
    lab.start()
    try:
        if not parent.poll(60):
            raise SystemExit("the lab process did not start")
        ports = parent.recv()
        _watch_buffers()
        tracemalloc.start()
        results = asyncio.run(bench(ports, args))
        tracemalloc.stop()
        print_table(results, args)
        print("\n" + conclusion(results, args))
    finally:
        parent.send("stop")
        lab.join(10)
        if lab.is_alive():
            lab.terminate()
            lab.join(5)


if __name__ == "__main__":
    main()
