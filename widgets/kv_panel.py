"""Key/value pairs laid out as two aligned columns; values may carry a level colour."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.status_table import Level, styled


class KeyValuePanel(Static):
    DEFAULT_CSS = """
    KeyValuePanel { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.pairs: list[tuple[str, str]] = []

    def set_pairs(self, pairs: Iterable[tuple[str, object] | tuple[str, object, Level | None]]) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        self.pairs = []
        for pair in pairs:
            key, value = pair[0], pair[1]
            level = pair[2] if len(pair) > 2 else None  # type: ignore[misc]
            text = "—" if value is None or value == "" else str(value)
            self.pairs.append((key, text))
            table.add_row(Text(key), styled(text, level))
        self.update(table)
