"""Ping tab: a live RTT chart, per-packet rows and running statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.app import ComposeResult

from tui.config import Settings
from tui.probes import ping
from tui.probes.base import Status
from tui.probes.target import Target
from tui.tabs.base import ToolTab
from widgets.kv_panel import KeyValuePanel
from widgets.rtt_chart import RttChart
from widgets.status_table import StatusTable


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class PingTab(ToolTab):
    tool = "ping"
    title = "Ping"
    palette_verb = "Ping"

    def compose_body(self) -> ComposeResult:
        yield RttChart(id="ping-chart")
        yield KeyValuePanel(id="ping-stats")
        yield StatusTable(["seq", "status", "rtt ms", "ttl", "note"], level_column=1,
                          id="ping-replies")

    def reset(self) -> None:
        self.query_one(RttChart).clear()
        self.query_one(StatusTable).clear_rows()
        self.query_one(KeyValuePanel).set_pairs([])
        self._replies: list[ping.PingReply] = []
        self._plan: ping.PingPlan | None = None

    def _on_start(self, plan: ping.PingPlan) -> None:
        self._plan = plan
        self.verdict("running", f"Pinging {plan.address} by {plan.method} "
                                f"({plan.count} probes) …")
        self._stats()

    def _on_reply(self, reply: ping.PingReply) -> None:
        self._replies.append(reply)
        self.query_one(RttChart).add(reply.rtt_ms)
        self._row(reply)
        self._stats()

    def _row(self, reply: ping.PingReply) -> None:
        level = "pass" if reply.received else "fail"
        self.query_one(StatusTable).set_row(
            str(reply.seq),
            [reply.seq, reply.status.value, _ms(reply.rtt_ms), reply.ttl or "—", reply.message],
            level,
        )

    def _stats(self) -> None:
        stats = ping.summarise(r.rtt_ms for r in self._replies)
        plan = self._plan
        self.query_one(KeyValuePanel).set_pairs([
            ("address", plan.address if plan else "—"),
            ("method", plan.method if plan else "—"),
            ("note", plan.method_note if plan else ""),
            ("sent / received", f"{stats.sent} / {stats.received}"),
            ("loss", f"{stats.loss_pct:.1f} %", "pass" if stats.loss_pct == 0 else "warn"),
            ("min / avg / max", f"{_ms(stats.min_ms)} / {_ms(stats.avg_ms)} / "
                                f"{_ms(stats.max_ms)} ms"),
            ("stddev (population)", f"{_ms(stats.stddev_ms)} ms"),
            ("jitter (mean |Δrtt|)", f"{_ms(stats.jitter_ms)} ms"),
        ])

    async def check(self, target: Target, settings: Settings) -> ping.PingResult:
        return await ping.run(target, settings, on_reply=self._on_reply, on_start=self._on_start)

    def show(self, result: ping.PingResult) -> None:
        # The finished result is the truth: redraw from it (also when no reply streamed in).
        self._replies = list(result.replies)
        self.query_one(RttChart).samples = tuple(r.rtt_ms for r in result.replies)
        for reply in result.replies:
            self._row(reply)
        if self._plan is None:
            self._plan = ping.PingPlan(result.target, result.address, result.family,
                                       result.method, result.method_note, result.count,
                                       result.interval_s, result.timeout_s)
        self._stats()
        if result.status is Status.OK:
            level = "pass" if result.loss_pct == 0 else "warn"
        else:
            level = "fail"
        self.verdict(level, f"{result.address or result.target} ({result.method or 'no method'}):"
                            f" {result.message}")

    def csv_rows(self, result: Any) -> tuple[Sequence[str], Iterable[Sequence[object]]]:
        return ("seq", "status", "rtt_ms", "ttl", "at_ms", "message"), [
            (r.seq, r.status.value, r.rtt_ms, r.ttl, r.at_ms, r.message) for r in result.replies
        ]
