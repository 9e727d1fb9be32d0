"""A live round-trip-time chart: one column per sample, lost samples shown as a red ✕.

Knows nothing about ping: it plots a sequence of ``float | None`` values (None = lost).
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

_BLOCKS = " ▁▂▃▄▅▆▇█"


class RttChart(Widget):
    DEFAULT_CSS = """
    RttChart { height: 5; border: round $primary 50%; padding: 0 1; }
    """

    samples: reactive[tuple[float | None, ...]] = reactive(tuple, layout=False)

    def __init__(self, unit: str = "ms", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.unit = unit

    def add(self, value: float | None) -> None:
        self.samples = (*self.samples, value)

    def clear(self) -> None:
        self.samples = ()

    def render(self) -> Text:
        height = max(1, self.content_size.height - 1)
        width = max(1, self.content_size.width)
        shown = self.samples[-width:]
        values = [v for v in shown if v is not None]
        if not shown:
            return Text("no samples yet", style="dim")
        top = max(values) if values else 1.0
        top = top or 1.0
        rows: list[Text] = []
        levels = height * 8
        for row in range(height, 0, -1):
            line = Text()
            for v in shown:
                if v is None:
                    line.append("✕" if row == 1 else " ", style="bold red")
                    continue
                filled = round(v / top * levels)
                cell = min(8, max(0, filled - (row - 1) * 8))
                if row == 1 and cell == 0:
                    cell = 1  # a received sample is never invisible
                line.append(_BLOCKS[cell], style="green")
            rows.append(line)
        lost = sum(1 for v in shown if v is None)
        caption = Text(
            f"max {top:.2f} {self.unit}  ·  {len(shown)} samples  ·  {lost} lost",
            style="dim",
        )
        return Text("\n").join([*rows, caption])
