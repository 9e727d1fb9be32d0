"""A horizontal bar chart with labels, counts and percentages of the total.

``set_data([(label, count), …], total=None)``: bars scale to the largest count; the
percentage is of ``total`` (default: the sum of counts). Rows beyond ``max_rows`` are
folded into one "others" row so the chart keeps its height while data grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


class BarChart(Static):
    DEFAULT_CSS = """
    BarChart { height: auto; padding: 0 1; }
    """

    def __init__(self, *, max_rows: int = 10, bar_width: int = 24, others_label: str = "others",
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.max_rows = max_rows
        self.bar_width = bar_width
        self.others_label = others_label
        self.rows: list[tuple[str, int, float]] = []

    def set_data(self, data: Sequence[tuple[str, int]], total: int | None = None) -> None:
        items = sorted(data, key=lambda kv: (-kv[1], kv[0]))
        if len(items) > self.max_rows:
            head, tail = items[: self.max_rows - 1], items[self.max_rows - 1 :]
            items = [*head, (self.others_label, sum(c for _, c in tail))]
        denominator = total if total is not None else sum(c for _, c in items)
        peak = max((c for _, c in items), default=0)
        self.rows = [
            (label, count, (100.0 * count / denominator) if denominator else 0.0)
            for label, count in items
        ]
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(justify="right", no_wrap=True, style="dim")
        if not self.rows:
            self.update(Text("no data yet", style="dim"))
            return
        for label, count, pct in self.rows:
            table.add_row(
                Text(label),
                Text(bar(count / peak if peak else 0.0, self.bar_width), style="cyan"),
                Text(f"{pct:5.1f} %"),
                Text(f"{count:,}"),
            )
        self.update(table)
