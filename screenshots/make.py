"""Regenerate screenshots/*.svg (and *.png) from the real app against the loopback lab.

    python3 screenshots/make.py            # every tab
    python3 screenshots/make.py relay ping # some tabs

Each tab gets a real check typed into it and Enter pressed, exactly as a user would; the
screenshot is taken when the check has finished. PNGs are rendered from the SVGs with
rsvg-convert when it is installed (Debian: librsvg2-bin) using a monospace font (Debian:
fonts-firacode); without it only the SVGs are written.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tui.app import MxScopeApp  # noqa: E402
from tui.commands.demo import DEMO_INTERNET  # noqa: E402
from tui.lab.runner import LabThread  # noqa: E402
from tui.lab.world import DEMO_EXAMPLES, LabWorld  # noqa: E402
from tui.tabs import TAB_CLASSES  # noqa: E402

SIZE = (132, 40)
TARGETS = {
    "diagnose": "open.lab.test",
    "ping": "mx1.lab.test",
    "rdns": "127.0.4.25",
    "whois": "81.2.69.160",
    "geoip": "mx2.lab.test",
    "ports": "mx1.lab.test",
    "relay": "relay.open.lab.test",
    "dnsbl": "127.0.3.25",
}
SURVEY_SECONDS = 3.0


async def shoot(tool: str, world: LabWorld, work: Path) -> str:
    assert world.internet is not None
    # As `mxscope demo` opens it; the survey checks one DNSBL zone to keep the lab quick.
    settings = world.settings
    if tool == "survey":
        settings = settings.replace(dnsbl_zones=("zen.spamhaus.org",))
    app = MxScopeApp(settings, examples=DEMO_EXAMPLES, export_dir=work,
                     survey_db=work / f"{tool}.sqlite", survey_source=DEMO_INTERNET.network,
                     survey_port=world.internet.port, survey_lab=True,
                     banner="demo: loopback lab")
    async with app.run_test(size=SIZE) as pilot:
        index = [cls.tool for cls in TAB_CLASSES].index(tool) + 1
        await pilot.pause(0.2)  # start-up settles before the first key
        await pilot.press(f"f{index}")
        tab = app.tab(tool)
        if tool == "survey":
            for box in ("#survey-relay", "#survey-dnsbl"):
                app.query_one(box).value = True  # type: ignore[attr-defined]
            for field in ("#survey-relay-rate", "#survey-dnsbl-rate"):
                app.query_one(field).value = "50"  # type: ignore[attr-defined]
            app.query_one("#survey-rate").value = "400"  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            await pilot.pause(SURVEY_SECONDS)  # mid-scan: the panels are moving
        else:
            tab.field.value = TARGETS[tool]
            tab.field.input.focus()
            await pilot.press("enter")
            for _ in range(600):
                await pilot.pause(0.05)
                if not tab.running:
                    break
        await pilot.pause(0.3)
        return app.export_screenshot(title=f"mxscope — {tab.title}")


def to_png(svg: Path) -> Path | None:
    converter = shutil.which("rsvg-convert")
    if converter is None:
        return None
    png = svg.with_suffix(".png")
    subprocess.run([converter, "--zoom", "1", str(svg), "-o", str(png)], check=True)
    return png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tabs", nargs="*", help="tab ids (default: all)")
    args = parser.parse_args()
    tools = args.tabs or [cls.tool for cls in TAB_CLASSES]
    with tempfile.TemporaryDirectory(prefix="mxscope-shots-") as tmp, LabThread() as lab:
        work = Path(tmp)
        world = lab.start(LabWorld(work / "world", internet=DEMO_INTERNET))
        for tool in tools:
            svg_text = asyncio.run(shoot(tool, world, work))
            # A font the PNG renderer has; the SVG names Fira Code first anyway.
            svg = HERE / f"{tool}.svg"
            svg.write_text(svg_text, encoding="utf-8")
            png = to_png(svg)
            print(f"wrote {svg.relative_to(HERE.parent)}"
                  + (f" and {png.relative_to(HERE.parent)}" if png else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
