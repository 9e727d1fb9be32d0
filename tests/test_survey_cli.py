"""`mxscope survey` headless: scan with progress on stderr and statistics on stdout (text and
--json), stdin and random sources, usage errors that send nothing, Ctrl-C then --resume,
and the list / report / export subcommands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tui.cli import main
from tui.lab.geoipdb import build_lab_dbs
from tui.lab.internet import Internet, InternetSpec
from tui.lab.runner import LabThread
from tui.survey.store import SurveyStore

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "127.0.6.0/24"


@pytest.fixture(scope="module")
def internet() -> Iterator[Internet]:
    spec = InternetSpec(network=NETWORK, listeners=150, silent=0, rejecting=0.04,
                        resetting=0.02, seed=31)
    with LabThread() as lab:
        yield lab.start(Internet(spec))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A settings file pointing at the lab GeoIP DB (the country panel) and a loopback
    nameserver that is never asked (CIDR sources need no DNS)."""
    base = tmp_path_factory.mktemp("cfg")
    dbs = build_lab_dbs(base)
    path = base / "config.toml"
    path.write_text(f'geoip_city_db = "{dbs.city}"\nnameservers = ["127.0.0.1:9"]\n')
    return path


def survey(*args: str, input: str | None = None) -> Result:  # noqa: A002
    return CliRunner().invoke(main, ["survey", *args], input=input)


def scan_args(internet: Internet, config: Path, db: Path, *extra: str) -> list[str]:
    return ["--allow-loopback", "--port", str(internet.port), "--timeout", "2",
            "--config", str(config), "--db", str(db), *extra]


def total_connections(internet: Internet) -> int:
    return sum(internet.connection_counts().values())


def test_scan_json_equals_the_composition(internet: Internet, config: Path,
                                          tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    result = survey(NETWORK, *scan_args(internet, config, db, "--help-command", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"survey_id", "state", "resume", "errors", "failure", "stats"}
    assert doc["survey_id"] == 1 and doc["state"] == "finished" and doc["resume"] is None
    stats = doc["stats"]
    expected = internet.composition.expected(help=True)
    assert stats["by_outcome"] == expected["by_outcome"]
    assert dict(map(tuple, stats["by_mta"])) == expected["by_mta"]
    assert dict(map(tuple, stats["by_country"])) == expected["by_country"]
    assert set(expected["by_country"]) == {"GB"}  # 127.0.6.0/24 in the lab GeoIP DB
    assert stats["scanned"] == stats["total"] == 256
    assert stats["no_answer"] == 256 - stats["available"]
    # The progress line went to stderr, never to stdout.
    assert "survey 1" in result.stderr and "256/256 scanned (100.0%)" in result.stderr
    assert "scanned" not in result.stdout.split('"stats"')[0]


def test_text_output_then_list_report_export(internet: Internet, config: Path,
                                             tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    result = survey(NETWORK, *scan_args(internet, config, db, "--help-command"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("survey 1: finished")
    assert "total scanned" in out and "did not respond" in out and "available" in out
    assert "mail servers by country:" in out and "GB" in out
    assert "mail servers by MTA:" in out and "Sendmail" in out and "qmail" in out

    listed = survey("list", "--db", str(db))
    assert listed.exit_code == 0
    assert "finished" in listed.stdout and NETWORK in listed.stdout and "256/256" in listed.stdout
    listed = survey("list", "--db", str(db), "--json")
    (info,) = json.loads(listed.stdout)
    assert info["id"] == 1 and info["state"] == "finished" and info["stored"] == 256
    assert info["params"]["source"]["value"] == NETWORK

    report = survey("report", "1", "--format", "json", "--db", str(db))
    assert report.exit_code == 0, report.output
    assert json.dumps(json.loads(report.stdout))  # one JSON document
    for fmt in ("md", "html", "csv"):
        report = survey("report", "1", "--format", fmt, "--db", str(db))
        assert report.exit_code == 0, report.output
        assert "Sendmail" in report.stdout
    out_file = tmp_path / "report.md"
    report = survey("report", "1", "--db", str(db), "-o", str(out_file))
    assert report.exit_code == 0 and "Sendmail" in out_file.read_text()

    export = survey("export", "1", "--format", "json", "--db", str(db))
    assert export.exit_code == 0, export.output
    records = json.loads(export.stdout)
    assert len(records) == 256 and {r["seq"] for r in records} == set(range(256))
    export = survey("export", "1", "--format", "csv", "--db", str(db))
    assert export.exit_code == 0
    assert len(export.stdout.strip().splitlines()) == 257  # header + one line per target

    missing = survey("report", "7", "--db", str(db))
    assert missing.exit_code == 2 and "no survey with id 7" in missing.stderr


def test_stdin_and_random_sources(internet: Internet, config: Path, tmp_path: Path) -> None:
    hosts = list(internet.composition.hosts)[:5]
    lines = "\n".join([*hosts, "10.0.0.1", "not a target!", "# a comment", ""]) + "\n"
    result = survey("-", *scan_args(internet, config, tmp_path / "a.sqlite", "--json"),
                    input=lines)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert stats["scanned"] == 5 and stats["total"] is None
    assert stats["skipped_by_reason"] == {"reserved": 1, "invalid": 1}
    assert stats["by_outcome"] == internet.composition.expected(hosts)["by_outcome"]

    result = survey("random:40:7", "--universe", NETWORK,
                    *scan_args(internet, config, tmp_path / "b.sqlite", "--json"))
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert stats["scanned"] == stats["total"] == 40


@pytest.mark.parametrize("args, message", [
    (["300.1.2.3/8"], "not an IP address or CIDR"),
    (["/no/such/file.txt"], "no such file"),
    (["random:0"], "at least 1"),
    ([NETWORK, "--resume", "1"], "not both"),
    ([], "give a SOURCE"),
    (["--resume", "9"], "no survey with id 9"),
    ([NETWORK, "--exclude", "BADFILE"], "not an IP address or CIDR"),
    ([NETWORK, "--ehlo", "--config", "BADHELO"], "HELO"),
])
def test_usage_errors_exit_2_and_send_nothing(internet: Internet, config: Path, tmp_path: Path,
                                              args: list[str], message: str) -> None:
    bad_exclusions = tmp_path / "exclude.txt"
    bad_exclusions.write_text("127.0.6.0/28\nnonsense here\n")
    bad_helo = tmp_path / "helo.toml"
    bad_helo.write_text('helo_name = "bad name!"\n')
    args = [{"BADFILE": str(bad_exclusions), "BADHELO": str(bad_helo)}.get(a, a) for a in args]
    before = total_connections(internet)
    base = ["--allow-loopback", "--port", str(internet.port), "--db", str(tmp_path / "s.db")]
    if "--config" not in args:
        base += ["--config", str(config)]
    result = survey(*args, *base)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("mxscope: error:") and message in result.stderr
    assert result.stdout == ""
    assert total_connections(internet) == before


def test_concurrency_beyond_the_open_files_limit_is_refused(
        internet: Internet, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 1024))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, limits: calls.append(limits))
    before = total_connections(internet)
    result = survey(NETWORK, *scan_args(internet, config, tmp_path / "s.db",
                                        "--concurrency", "2000"))
    assert result.exit_code == 2 and "ulimit -n" in result.stderr
    assert calls == [(1024, 1024)]  # tried the hard limit, which is not enough
    assert total_connections(internet) == before
    # Within the hard limit the soft limit is raised and the scan runs.
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (256, 100_000))
    calls.clear()
    result = survey(NETWORK, *scan_args(internet, config, tmp_path / "t.db",
                                        "--concurrency", "300", "--json"))
    assert result.exit_code == 0, result.output
    assert calls == [(300 + 128, 100_000)]


def test_ctrl_c_stops_then_resume_finishes(internet: Internet, config: Path,
                                           tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "survey", NETWORK,
         *scan_args(internet, config, db, "--rate", "60", "--concurrency", "10", "--json")],
        cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                with SurveyStore(db) as reader:
                    infos = reader.list()
                if infos and infos[0].stored >= 20:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    doc = json.loads(out)
    assert doc["state"] == "stopped"
    assert doc["resume"] == f"mxscope survey --resume 1 --db {db}"
    assert "stopping: finishing the targets in flight" in err
    assert f"resume with: mxscope survey --resume 1 --db {db}" in err
    stopped_at = doc["stats"]["scanned"]
    assert 20 <= stopped_at < 256
    with SurveyStore(db) as store:
        info = store.get(1)
        assert info.state == "stopped" and info.stored == stopped_at  # nothing lost

    result = survey("--resume", "1", "--db", str(db), "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["state"] == "finished" and doc["stats"]["scanned"] == 256
    assert doc["stats"]["by_outcome"] == internet.composition.expected()["by_outcome"]
    with SurveyStore(db) as store:
        assert [r.seq for r in store.records(1)] == list(range(256))

    again = survey("--resume", "1", "--db", str(db), "--json")
    assert again.exit_code == 0 and "already finished" in again.stderr
    assert json.loads(again.stdout)["stats"]["scanned"] == 256
