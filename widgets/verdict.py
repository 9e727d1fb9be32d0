"""A one-line verdict banner coloured by level: pass / warn / fail / info / running."""

from __future__ import annotations

from typing import Literal

from textual.widgets import Static

Level = Literal["pass", "warn", "fail", "info", "running", "idle"]
LEVELS: tuple[Level, ...] = ("pass", "warn", "fail", "info", "running", "idle")
_ICONS: dict[Level, str] = {
    "pass": "✔", "warn": "▲", "fail": "✘", "info": "•", "running": "…", "idle": " ",
}


class VerdictBanner(Static):
    """Shows the verdict of the last check; ``show(level, text)`` replaces it."""

    DEFAULT_CSS = """
    VerdictBanner {
        height: auto;
        min-height: 1;
        padding: 0 1;
        text-style: bold;
        background: $boost;
        color: $text-muted;
    }
    VerdictBanner.-pass { background: $success 25%; color: $text-success; }
    VerdictBanner.-warn { background: $warning 25%; color: $text-warning; }
    VerdictBanner.-fail { background: $error 25%; color: $text-error; }
    VerdictBanner.-info { background: $primary 20%; color: $text-primary; }
    VerdictBanner.-running { background: $boost; color: $text-accent; text-style: italic; }
    """

    def __init__(self, text: str = "", level: Level = "idle", **kwargs: object) -> None:
        # Plain text: verdicts quote servers and user input, where "[/x]" is no markup (and
        # a markup error would end the app).
        kwargs.setdefault("markup", False)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.level: Level = level
        self.text = text
        self.show(level, text)

    def show(self, level: Level, text: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown verdict level {level!r}")
        for name in LEVELS:
            self.set_class(name == level, f"-{name}")
        self.level = level
        self.text = text
        self.update(f"{_ICONS[level]} {text}" if text else "")
