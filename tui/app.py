"""MxScopeApp: one tab per tool, a shared target, keyboard first.

Keys: 1–9 switch tabs (F1–F9 too, also while typing), / focuses the target, Enter runs,
r re-runs, Escape cancels, e exports (JSON + CSV), ? shows the keys, Ctrl+P opens the
command palette (every tool on the current target, export).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane

from tui.config import Settings
from tui.tabs import TAB_CLASSES
from tui.tabs.base import ToolTab


class ToolCommands(Provider):
    """Palette entries: "<Tool> on <target>" for every tab, and export."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app: MxScopeApp = self.app  # type: ignore[assignment]
        target = app.shared_target or "the target"
        entries: list[tuple[str, str, object]] = []
        for cls in TAB_CLASSES:
            entries.append((
                f"{cls.palette_verb} on {target}",
                f"Switch to {cls.title} and run it on the shared target",
                partial(app.run_tool, cls.tool),
            ))
        entries.append(("Export result (JSON + CSV)", "Write the current tab's result",
                        app.action_export))
        return entries

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield Hit(1.0, title, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)  # type: ignore[arg-type]


class MxScopeApp(App[None]):
    TITLE = "mxscope"
    SUB_TITLE = "mail server diagnostics"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ToolCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        *[
            Binding(str(i + 1), f"switch_tab('{cls.tool}')", cls.title, show=False,
                    id=f"tab.{cls.tool}")
            for i, cls in enumerate(TAB_CLASSES)
        ],
        *[
            Binding(f"f{i + 1}", f"switch_tab('{cls.tool}')", cls.title, show=False,
                    priority=True, id=f"tab.{cls.tool}.fkey")
            for i, cls in enumerate(TAB_CLASSES)
        ],
        Binding("slash", "focus_target", "Target", id="target.focus"),
        Binding("r", "rerun", "Re-run", id="check.rerun"),
        Binding("escape", "cancel", "Cancel", id="check.cancel"),
        Binding("e", "export", "Export", id="result.export"),
        Binding("question_mark", "show_keys", "Keys", id="app.keys"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
    ]

    shared_target: reactive[str] = reactive("")

    def __init__(self, settings: Settings, *, examples: Sequence[str] = (),
                 export_dir: Path | None = None, banner: str | None = None,
                 survey_source: str = "", survey_port: int | None = None,
                 survey_lab: bool = False, survey_db: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.examples = tuple(examples)
        self.survey_default_source = survey_source
        self.survey_default_port = survey_port
        self.survey_lab = survey_lab
        self.survey_db = survey_db
        self.export_dir = export_dir or Path.cwd() / "mxscope-exports"
        self.banner_text = banner
        self._active_pane: str | None = None
        if self.examples:
            self.shared_target = self.examples[0]

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            for i, cls in enumerate(TAB_CLASSES):
                with TabPane(f"{i + 1} {cls.title}", id=f"pane-{cls.tool}"):
                    yield cls()
        yield Footer()

    def on_mount(self) -> None:
        if self.banner_text:
            self.sub_title = self.banner_text
        self._active_pane = self.query_one(TabbedContent).active
        self._offer_target(self.current_tab)
        self.call_after_refresh(self.freeze_heap)

    def freeze_heap(self) -> None:
        """Move everything alive now (the widget tree, styles, databases) out of the
        collector's sight: full collections over a Textual app's many long-lived objects
        stalled the event loop for up to ~60 ms during a survey. Garbage made later is still
        collected as usual."""
        gc.collect()
        gc.freeze()

    # -- tabs -----------------------------------------------------------------------------

    @property
    def current_tab(self) -> ToolTab:
        pane = self.query_one(TabbedContent).active_pane
        assert pane is not None
        return pane.query_one(ToolTab)

    def tab(self, tool: str) -> ToolTab:
        return self.query_one(f"#tab-{tool}", ToolTab)

    def _offer_target(self, tab: ToolTab) -> None:
        """Put the shared target in the tab's field and focus it, so Enter runs."""
        tab.offer(self.shared_target)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # TabActivated also arrives when focus moves around inside the active pane; only a
        # real change of tab may pull the focus back to the target field.
        pane = event.pane.id
        if pane == self._active_pane or pane != self.query_one(TabbedContent).active:
            return  # no change, or a stale event (e.g. start-up's, after a quick switch)
        self._active_pane = pane
        self._offer_target(self.current_tab)

    def action_switch_tab(self, tool: str) -> None:
        """Show a tool's tab and put the cursor in its target field (also when already
        there: the tab's key is the quickest way back to typing a target)."""
        pane = f"pane-{tool}"
        self.query_one(TabbedContent).active = pane
        self._active_pane = pane
        self._offer_target(self.tab(tool))

    def run_tool(self, tool: str, target: str | None = None) -> None:
        """Switch to a tool's tab and run it on ``target`` (default: the shared target)."""
        self.action_switch_tab(tool)
        text = target if target is not None else self.shared_target
        self.tab(tool).start(text)

    # -- actions --------------------------------------------------------------------------

    def action_focus_target(self) -> None:
        self.current_tab.focus_input()

    def action_rerun(self) -> None:
        tab = self.current_tab
        if tab.last_target is not None:
            tab.start(str(tab.last_target))
        else:
            tab.start()

    def action_cancel(self) -> None:
        tab = self.current_tab
        if tab.cancel():
            return
        if isinstance(self.focused, Input):
            tab.focus_body()  # Escape leaves the input, so single keys work again
        else:
            self.notify("Nothing is running in this tab.", timeout=2)

    def action_export(self) -> None:
        tab = self.current_tab
        try:
            paths = tab.export(self.export_dir)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error", markup=False)
            return
        if not paths:
            self.notify("No result to export yet.", severity="warning", timeout=3)
            return
        self.notify("Exported " + " and ".join(str(p) for p in paths), title="Export",
                    timeout=6, markup=False)

    def action_show_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Export result", "Write the current result as JSON and CSV",
                            self.action_export)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (`pip install mxscope[fast]`): bench/survey.py measured a
    survey shown in the app at about twice the targets/s of the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_app(settings: Settings, **kwargs: object) -> None:
    app = MxScopeApp(settings, **kwargs)  # type: ignore[arg-type]
    loop = new_event_loop()
    try:
        app.run(loop=loop)
    finally:
        loop.close()
