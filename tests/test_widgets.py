"""The mail-agnostic widgets, each in a tiny app driven by Pilot."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from widgets.bar_chart import BarChart, bar
from widgets.kv_panel import KeyValuePanel
from widgets.rtt_chart import RttChart
from widgets.status_table import StatusTable
from widgets.target_field import TargetField
from widgets.verdict import VerdictBanner


class Harness(App[None]):
    def __init__(self, *widgets: object) -> None:
        super().__init__()
        self._widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self._widgets  # type: ignore[misc]


def _needs_even(text: str) -> str | None:
    return None if text and len(text) % 2 == 0 else "length must be even"


async def test_target_field_validates_and_keeps_history() -> None:
    field = TargetField(_needs_even)
    submitted: list[str] = []

    class App_(Harness):
        def on_target_field_submitted(self, event: TargetField.Submitted) -> None:
            submitted.append(event.value)

    app = App_(field)
    async with app.run_test() as pilot:
        field.input.focus()
        await pilot.press("a", "b", "c", "enter")
        assert field.error == "length must be even" and submitted == []
        assert field.has_class("-invalid")
        await pilot.press("backspace")  # typing clears the error
        assert field.error is None
        await pilot.press("enter")
        await pilot.pause()
        assert submitted == ["ab"]
        field.value = ""
        await pilot.press("c", "d", "enter")
        await pilot.pause()
        assert submitted == ["ab", "cd"]
        await pilot.press("up")
        assert field.value == "cd"
        await pilot.press("up")
        assert field.value == "ab"
        await pilot.press("down", "down")
        assert field.value == ""


async def test_status_table_diffs_rows() -> None:
    table = StatusTable(["check", "result"])
    async with Harness(table).run_test() as pilot:
        table.set_row("a", ["ping", "ok"], "pass")
        table.set_row("b", ["dnsbl", "…"], "running")
        table.set_row("b", ["dnsbl", "listed"], "fail")
        await pilot.pause()
        assert table.row_count == 2
        assert table.row_values("b") == ("dnsbl", "listed")
        assert table.row_level("b") == "fail"
        assert str(table.get_cell("b", "result")) == "listed"
        with pytest.raises(ValueError):
            table.set_row("c", ["only one cell"])
        table.clear_rows()
        assert table.row_count == 0 and table.row_keys == []


async def test_verdict_banner_levels() -> None:
    banner = VerdictBanner()
    async with Harness(banner).run_test():
        banner.show("fail", "Listed on 2 of 38 lists")
        assert banner.has_class("-fail") and not banner.has_class("-pass")
        assert "Listed on 2 of 38 lists" in str(banner.render())
        banner.show("pass", "clean")
        assert banner.has_class("-pass") and not banner.has_class("-fail")
        with pytest.raises(ValueError):
            banner.show("purple", "x")  # type: ignore[arg-type]


async def test_bracketed_text_is_shown_as_typed() -> None:
    # Server replies and typed targets are not markup: "[/x]" must neither raise nor vanish.
    banner = VerdictBanner()
    field = TargetField(lambda text: f"{text!r} is no host")
    async with Harness(banner, field).run_test() as pilot:
        banner.show("fail", "550 [/bold] [b]no[/b]")
        assert "550 [/bold] [b]no[/b]" in str(banner.render())
        field.value = "[/x]"
        await pilot.pause()  # the Changed message clears an error; let it pass first
        assert not field.check()
        await pilot.pause()
        assert "'[/x]' is no host" in str(field.query_one(".target-error").render())


async def test_kv_panel() -> None:
    panel = KeyValuePanel()
    async with Harness(panel).run_test():
        panel.set_pairs([("ASN", 64500), ("Org", None), ("Abuse", "abuse@example.net", "warn")])
        assert panel.pairs == [("ASN", "64500"), ("Org", "—"), ("Abuse", "abuse@example.net")]


async def test_rtt_chart_shows_losses() -> None:
    chart = RttChart()
    async with Harness(chart).run_test() as pilot:
        assert "no samples" in str(chart.render())
        for v in (1.0, 2.0, None, 4.0):
            chart.add(v)
        await pilot.pause()
        rendered = chart.render().plain
        assert "✕" in rendered and "1 lost" in rendered and "4 samples" in rendered


async def test_bar_chart_percentages_and_folding() -> None:
    chart = BarChart(max_rows=3)
    async with Harness(chart).run_test():
        chart.set_data([("Postfix", 20), ("Sendmail", 24), ("qmail", 17), ("Exim", 13)], total=100)
        labels = [r[0] for r in chart.rows]
        assert labels == ["Sendmail", "Postfix", "others"]
        assert chart.rows[0][2] == pytest.approx(24.0)
        assert chart.rows[2][1] == 30
        chart.set_data([])
        assert chart.rows == []


def test_bar_rendering_is_proportional() -> None:
    assert bar(1.0, 10) == "█" * 10
    assert bar(0.0, 10) == ""
    assert len(bar(0.5, 10)) == 5
    assert bar(2.0, 4) == "████"


async def test_distribution_panel_updates_in_place() -> None:
    from widgets.distribution import DistributionPanel

    panel = DistributionPanel("By MTA", max_rows=4)
    async with Harness(panel).run_test() as pilot:
        panel.set_data([("Sendmail", 24), ("Postfix", 20), ("qmail", 17)], total=100)
        await pilot.pause()
        assert [r[0] for r in panel.rows] == ["Sendmail", "Postfix", "qmail"]
        assert panel.rows[0][2] == pytest.approx(24.0)
        panel.set_data([("Sendmail", 25), ("Postfix", 20), ("qmail", 17), ("Exim", 13),
                        ("IMail", 2)], total=100)
        await pilot.pause()
        assert [r[0] for r in panel.rows] == ["Sendmail", "Postfix", "qmail", "others"]
        assert panel.rows[-1][1] == 15
        from textual.widgets import DataTable

        table = panel.query_one(DataTable)
        assert table.row_count == 4
        assert str(table.get_cell("Sendmail", "count")) == "25"
        panel.set_data([("Exim", 1)])
        await pilot.pause()
        assert table.row_count == 1 and panel.rows[0][2] == pytest.approx(100.0)
