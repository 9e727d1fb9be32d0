"""An input with history (up/down) and a validation message shown under the field.

The validation function is injected (``validate(text) -> str | None``: None when fine,
else the reason), so the widget knows nothing about what a valid target is.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label


class HistoryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Previous", show=False, id="history.previous"),
        Binding("down", "history(1)", "Next", show=False, id="history.next"),
    ]

    def __init__(self, *args: object, history_size: int = 100, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self.history_size = history_size
        self._cursor: int | None = None

    def remember(self, value: str) -> None:
        value = value.strip()
        if not value:
            return
        if value in self.history:
            self.history.remove(value)
        self.history.append(value)
        del self.history[: -self.history_size]
        self._cursor = None

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._cursor is None:
            self._cursor = len(self.history)
        self._cursor = max(0, min(len(self.history), self._cursor + step))
        self.value = self.history[self._cursor] if self._cursor < len(self.history) else ""
        self.cursor_position = len(self.value)


class TargetField(Vertical):
    """Input + reason line. Posts TargetField.Submitted only for valid text."""

    DEFAULT_CSS = """
    TargetField { height: auto; }
    TargetField > .target-error { color: $text-error; height: auto; padding: 0 1; display: none; }
    TargetField.-invalid > .target-error { display: block; }
    TargetField.-invalid > HistoryInput { border: tall $error; }
    """

    class Submitted(Message):
        def __init__(self, field: TargetField, value: str) -> None:
            super().__init__()
            self.field = field
            self.value = value

        @property
        def control(self) -> TargetField:
            return self.field

    def __init__(self, validate: Callable[[str], str | None], placeholder: str = "",
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._validate = validate
        self._placeholder = placeholder
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield HistoryInput(placeholder=self._placeholder, id="target-input")
        # Plain text: the reason quotes what was typed, which is no markup.
        yield Label("", classes="target-error", markup=False)

    @property
    def input(self) -> HistoryInput:
        return self.query_one(HistoryInput)

    @property
    def value(self) -> str:
        return self.input.value

    @value.setter
    def value(self, text: str) -> None:
        self.input.value = text

    def show_error(self, reason: str | None) -> None:
        self.error = reason
        self.set_class(reason is not None, "-invalid")
        self.query_one(".target-error", Label).update(reason or "")

    def check(self) -> bool:
        """Validate the current text, show the reason, return whether it is usable."""
        reason = self._validate(self.value)
        self.show_error(reason)
        return reason is None

    @on(Input.Changed)
    def _clear_error(self, event: Input.Changed) -> None:
        if self.error is not None:
            self.show_error(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.check():
            self.input.remember(self.value)
            self.post_message(self.Submitted(self, self.value.strip()))
