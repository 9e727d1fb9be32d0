"""A distribution panel: a title, then a table of label / count / percent with an inline
horizontal bar, updated in place (diffed rows) so it can move several times a second."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from widgets.bar_chart import bar


class DistributionPanel(Vertical):
    DEFAULT_CSS = """
    /* Fixed height: rows coming and going must not reflow the rest of the screen several
       times a second. */
    DistributionPanel { height: 17; border: round $primary 40%; padding: 0 1; }
    DistributionPanel > .distribution-title { text-style: bold; color: $text-accent; height: 1; }
    DistributionPanel > .distribution-note { color: $text-muted; height: 1; }
    DistributionPanel > DataTable { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, title: str, *, max_rows: int = 10, bar_width: int = 14,
                 others_label: str = "others", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.title = title
        self.max_rows = max_rows
        self.bar_width = bar_width
        self.others_label = others_label
        self.rows: list[tuple[str, int, float]] = []
        self._shown: dict[str, tuple[str, str, str]] = {}

    def compose(self) -> ComposeResult:
        yield Label(self.title, classes="distribution-title")
        yield Label("", classes="distribution-note")
        table: DataTable[Text] = DataTable(show_cursor=False, zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Fixed widths: the table must not jitter as counts grow several times a second.
        table.add_column("", key="label", width=18)
        table.add_column("count", key="count", width=10)
        table.add_column("%", key="pct", width=6)
        table.add_column("", key="bar", width=self.bar_width + 1)

    def set_note(self, text: str) -> None:
        # One fixed-height line: no layout pass needed for a new text.
        self.query_one(".distribution-note", Label).update(text, layout=False)

    def set_data(self, data: Sequence[tuple[str, int]], total: int | None = None) -> None:
        """Rows sorted by count; percentages of ``total`` (default the sum of counts)."""
        items = sorted(((k, v) for k, v in data if v > 0), key=lambda kv: (-kv[1], kv[0]))
        if len(items) > self.max_rows:
            head, tail = items[: self.max_rows - 1], items[self.max_rows - 1 :]
            items = [*head, (self.others_label, sum(c for _, c in tail))]
        denominator = total if total else sum(c for _, c in items)
        peak = max((c for _, c in items), default=0)
        self.rows = [(k, v, 100.0 * v / denominator if denominator else 0.0) for k, v in items]
        table = self.query_one(DataTable)
        wanted = {label for label, _, _ in self.rows}
        for label in list(self._shown):
            if label not in wanted:
                table.remove_row(label)
                del self._shown[label]
        order_changed = [label for label, _, _ in self.rows] != list(self._shown)
        if order_changed:
            table.clear()
            self._shown.clear()
        for label, count, pct in self.rows:
            cells = (f"{count:,}", f"{pct:.1f}", bar(count / peak if peak else 0.0,
                                                     self.bar_width))
            if label not in self._shown:
                table.add_row(Text(label), Text(cells[0], justify="right"),
                              Text(cells[1], justify="right"), Text(cells[2], style="cyan"),
                              key=label)
            elif self._shown[label] != cells:
                old = self._shown[label]
                if old[0] != cells[0]:
                    table.update_cell(label, "count", Text(cells[0], justify="right"))
                if old[1] != cells[1]:
                    table.update_cell(label, "pct", Text(cells[1], justify="right"))
                if old[2] != cells[2]:
                    table.update_cell(label, "bar", Text(cells[2], style="cyan"))
            self._shown[label] = cells
