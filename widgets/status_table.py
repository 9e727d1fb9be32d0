"""A DataTable with keyed rows, diffed updates and a pass/warn/fail colour per row.

``set_row(key, cells, level)`` adds the row or updates only the cells that changed, so a
table refreshed a few times a second does not flicker or lose the cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rich.text import Text
from textual.widgets import DataTable

Level = Literal["pass", "warn", "fail", "info", "running", "idle"]
_STYLES: dict[str, str] = {
    "pass": "green", "warn": "yellow", "fail": "bold red", "info": "cyan",
    "running": "italic dim", "idle": "",
}


def styled(value: object, level: Level | None) -> Text:
    text = value if isinstance(value, Text) else Text(str(value))
    if level:
        text = text.copy()
        text.stylize(_STYLES[level])
    return text


class StatusTable(DataTable):
    DEFAULT_CSS = """
    StatusTable { height: auto; max-height: 100%; }
    """

    def __init__(self, columns: Sequence[str], *, level_column: int = 0,
                 cursor_type: str = "row", **kwargs: object) -> None:
        super().__init__(zebra_stripes=True, cursor_type=cursor_type, **kwargs)  # type: ignore[arg-type]
        self._column_names = tuple(columns)
        self._level_column = level_column
        self._rows: dict[str, tuple[str, ...]] = {}
        self._levels: dict[str, Level | None] = {}

    def on_mount(self) -> None:
        for name in self._column_names:
            self.add_column(name, key=name)

    def set_row(self, key: str, cells: Sequence[object], level: Level | None = None) -> None:
        if len(cells) != len(self._column_names):
            raise ValueError(f"row {key!r} has {len(cells)} cells, table has "
                             f"{len(self._column_names)} columns")
        plain = tuple(str(c) for c in cells)
        rendered = [
            styled(c, level if i == self._level_column else None) for i, c in enumerate(cells)
        ]
        if key not in self._rows:
            self.add_row(*rendered, key=key)
        else:
            old, old_level = self._rows[key], self._levels[key]
            for i, name in enumerate(self._column_names):
                if old[i] != plain[i] or (i == self._level_column and old_level != level):
                    self.update_cell(key, name, rendered[i], update_width=True)
        self._rows[key] = plain
        self._levels[key] = level

    def set_cell(self, key: str, column: str, value: object, level: Level | None = None) -> None:
        """Update one cell of an existing row, with its own level colour."""
        index = self._column_names.index(column)
        values = list(self._rows[key])
        values[index] = str(value)
        self._rows[key] = tuple(values)
        self.update_cell(key, column, styled(value, level), update_width=True)

    def reset_columns(self, columns: Sequence[str]) -> None:
        """Drop every row and column and start again with ``columns``."""
        self.clear(columns=True)
        self._rows.clear()
        self._levels.clear()
        self._column_names = tuple(columns)
        for name in self._column_names:
            self.add_column(name, key=name)

    def row_values(self, key: str) -> tuple[str, ...]:
        return self._rows[key]

    def row_level(self, key: str) -> Level | None:
        return self._levels[key]

    @property
    def row_keys(self) -> list[str]:
        return list(self._rows)

    def clear_rows(self) -> None:
        self.clear()
        self._rows.clear()
        self._levels.clear()
