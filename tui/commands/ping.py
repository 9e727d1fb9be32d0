"""`mxscope ping TARGET`: RTT by ICMP echo, or TCP connect where ICMP is not allowed.

Text output prints each reply as it arrives (like ping(8)) and then the summary; --json
prints one document at the end. Exit 0 when at least one reply came back, 1 when all were
lost or nothing could be sent, 2 for bad input.
"""

from __future__ import annotations

import click

from tui.cli import (
    EXIT_FAILED,
    EXIT_OK,
    build_settings,
    emit,
    fail_usage,
    json_option,
    run_async,
    settings_options,
    target_or_exit,
)
from tui.probes import ping as probe
from tui.probes.base import Status


def render_plan(plan: probe.PingPlan) -> str:
    shown = plan.target if plan.target == plan.address else f"{plan.target} ({plan.address})"
    line = (
        f"PING {shown} by {plan.method}: {plan.count} probe{'s' if plan.count != 1 else ''} "
        f"every {plan.interval_s:g} s, timeout {plan.timeout_s:g} s"
    )
    if plan.method_note:
        line += f"\n  ({plan.method_note})"
    return line


def render_reply(reply: probe.PingReply, address: str) -> str:
    if reply.rtt_ms is not None:
        ttl = f" ttl={reply.ttl}" if reply.ttl is not None else ""
        extra = f" ({reply.message})" if reply.message else ""
        return f"reply from {address}: seq={reply.seq}{ttl} time={reply.rtt_ms:.3f} ms{extra}"
    what = "no reply" if reply.status is Status.TIMEOUT else reply.status.value
    return f"{what}: seq={reply.seq} ({reply.message})" if reply.message else \
        f"{what}: seq={reply.seq}"


def render_summary(result: probe.PingResult) -> str:
    if not result.sent:
        how = f" by {result.method}" if result.method else ""
        return f"ping {result.target}{how}: {result.status.value}: {result.message}"
    return (
        f"--- {result.target} ping statistics ({result.method} to {result.address}) ---\n"
        f"{result.message}"
    )


@click.command(name="ping")
@click.argument("target_text", metavar="TARGET")
@click.option("--count", "-c", type=click.IntRange(1, probe.MAX_COUNT), default=None,
              help="Probes to send (default: settings ping_count, 5).")
@click.option("--interval", "-i", type=click.FloatRange(probe.MIN_INTERVAL, probe.MAX_INTERVAL),
              default=None, help="Seconds between probes (default: settings ping_interval, 1).")
@click.option("--tcp", is_flag=True, help="Measure TCP connect time instead of ICMP echo.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port for --tcp and for the automatic fallback (default 25).")
@click.option("--mode", type=click.Choice(probe.MODES), default=None,
              help="Force a method; default auto: raw ICMP, else ICMP datagram socket, else TCP.")
@settings_options
@json_option
def command(
    target_text: str, count: int | None, interval: float | None, tcp: bool, port: int | None,
    mode: str | None, config_file: str | None, nameservers: tuple[str, ...],
    timeout: float | None, as_json: bool,
) -> None:
    """Round-trip times to TARGET (IP address or host name): sent/received/loss,
    min/avg/max/stddev (population) and jitter (mean difference of consecutive RTTs).

    Without ICMP permission it falls back to TCP connect time to port 25; a refused
    connection still measures the round trip and counts as a reply.
    """
    if tcp and mode not in (None, "tcp"):
        fail_usage(f"--tcp conflicts with --mode {mode}")
    chosen = "tcp" if tcp else (mode or "auto")
    target = target_or_exit(target_text)
    settings = build_settings(
        config_file, nameservers, timeout, ping_count=count, ping_interval=interval,
        ping_tcp_port=port,
    )
    # Values from a config file or the environment are checked here, before anything is sent.
    if not probe.MIN_INTERVAL <= settings.ping_interval <= probe.MAX_INTERVAL:
        fail_usage(f"ping_interval {settings.ping_interval:g} s is outside "
                   f"{probe.MIN_INTERVAL:g}…{probe.MAX_INTERVAL:g} s")
    if not 1 <= settings.ping_count <= probe.MAX_COUNT:
        fail_usage(f"ping_count {settings.ping_count} is outside 1…{probe.MAX_COUNT}")

    address = [""]

    def on_start(plan: probe.PingPlan) -> None:
        address[0] = plan.address
        click.echo(render_plan(plan))

    def on_reply(reply: probe.PingReply) -> None:
        click.echo(render_reply(reply, address[0]))

    result = run_async(
        probe.run(
            target, settings, mode=chosen,
            on_start=None if as_json else on_start,
            on_reply=None if as_json else on_reply,
        )
    )
    emit(result, as_json, render_summary)
    raise SystemExit(EXIT_OK if result.received else EXIT_FAILED)
