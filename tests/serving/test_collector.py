"""The exposition: a golden file, promtool's linter, an empty store, the quota HELP texts and
the build info; the process section (process_*, python_info) and the revision on their own."""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter import __version__
from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.own import PROCESS_METRICS, PYTHON_INFO, QUOTA_LIMIT, QUOTA_USED
from exporter.catalog.realtime import Scope
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.realtime.view import Mode, SeriesTiming
from exporter.serving.collector import AgoraCollector, BudgetState, CollectorInput
from exporter.serving.runtime import (
    NO_PROCESS,
    REVISION,
    SOURCE_ROOT,
    UNKNOWN_REVISION,
    ProcessReader,
    ProcessSource,
    read_revision,
)
from tests.windowdata import FakeSeriesWindows, FakeWindowSource

GOLDEN = Path(__file__).parent / "golden" / "exposition.prom"
APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000
SERIES = [
    Series(APPID, "Native", "userCount", Scope.PROJECT),
    Series(APPID, "Native", "channelCount", Scope.PROJECT),
    Series(APPID, "Native", "audioFreezeRate", Scope.PROJECT),
    Series(APPID, "Native", "userCount", Scope.CHANNEL, "lobby"),
    Series(APPID, "Native", "audioFreezeRate", Scope.CHANNEL, "lobby"),
    Series(APPID, "Native", "audioFreezeRate", Scope.USER, "lobby", (1001, 4294967296)),
]
PROCESS_NAMES = {metric.name for metric in PROCESS_METRICS}

# What the fake /proc says of the process (the golden file shows these values).
BOOT_TIME = 1_699_990_000
STARTED_AFTER_BOOT_S = 250
RSS_BYTES = 48 * 1024 * 1024  # a whole number of pages of 4, 16 or 64 KiB
VSIZE_BYTES = 123_456_512
MAX_FDS = 1024


def write_fake_proc(
    root: Path, *, open_fds: int = 3, cpu_s: int = 3, rss_bytes: int = RSS_BYTES
) -> Path:
    """A /proc with what prometheus_client's ProcessCollector reads of ``self``."""
    ticks = os.sysconf("SC_CLK_TCK")
    (root / "self" / "fd").mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(f"cpu  1 2 3 4\nbtime {BOOT_TIME}\nprocesses 9\n")
    fields = ["0"] * 44  # after "pid (comm)": state is fields[0], as in proc(5) minus 3
    fields[0] = "S"
    fields[11], fields[12] = str(cpu_s * ticks - ticks), str(ticks)  # utime, stime
    fields[19] = str(STARTED_AFTER_BOOT_S * ticks)
    fields[20] = str(VSIZE_BYTES)
    fields[21] = str(rss_bytes // resource.getpagesize())
    (root / "self" / "stat").write_text("4242 (agora (exp) orter) " + " ".join(fields) + "\n")
    (root / "self" / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max processes             63704                63704                processes \n"
        f"Max open files            {MAX_FDS}                 4096                 files     \n"
    )
    fds = root / "self" / "fd"
    for entry in fds.iterdir():
        entry.unlink()
    for fd in range(open_fds):
        (fds / str(fd)).write_text("")
    return root


def _input(
    *, windows: FakeWindowSource, timestamps: bool = False, process: ProcessSource = NO_PROCESS
) -> CollectorInput:
    stats = RuntimeStats()
    stats.record_request(endpoint="realtime_usage", outcome="success", duration_s=0.07)
    stats.record_request(endpoint="realtime_quality", outcome="server_error", duration_s=1.2)
    stats.record_poll(series_key=SERIES[0].key, appid=APPID, at=T0, outcome="success")
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    return CollectorInput(
        now=T0 + 440,
        series=SERIES,
        budgets={
            Budget.REALTIME: BudgetState(
                limits=limits, interval_s=400, lag_s=440, used={"minute": 2, "day": 57}
            )
        },
        windows=windows,
        windows_missed_total=3,
        stats=stats.snapshot(),
        mode=Mode.REPLAY,
        timestamps=timestamps,
        process=process,
        # the plan polls audio freeze faster: its lag replays the window after T0
        timing={SERIES[2].key: SeriesTiming(340, 420)},
    )


def _full_store() -> FakeWindowSource:
    return FakeWindowSource(
        {
            SERIES[0].key: FakeSeriesWindows({None: {T0: 112, T0 + 20: 113}}),
            SERIES[1].key: FakeSeriesWindows({None: {T0: 40}}),
            SERIES[2].key: FakeSeriesWindows({None: {T0: 0.0123, T0 + 20: 0.02}}),
            SERIES[3].key: FakeSeriesWindows({None: {T0: 17}}),
            SERIES[4].key: FakeSeriesWindows({None: {T0: 0.05}}),
            SERIES[5].key: FakeSeriesWindows({1001: {T0: 0.1}, 4294967296: {T0: 0.2}}),
        }
    )


def _render(data: CollectorInput) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgoraCollector(lambda: data))
    return generate_latest(registry).decode()


def _pin_interpreter(text: str) -> str:
    """The build line and python_info carry the interpreter's version: pin them."""
    text = text.replace(f'python_version="{platform.python_version()}"', 'python_version="X"')
    return re.sub(
        r"^python_info\{.*\}",
        lambda line: re.sub(r'="[^"]*"', '="X"', line.group(0)),
        text,
        flags=re.MULTILINE,
    )


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(text: str, name: str) -> float:
    [(_, value)] = _families(text)[name]
    return value


def test_exposition_matches_the_golden_file(tmp_path: Path) -> None:
    process = ProcessReader(write_fake_proc(tmp_path / "proc"))
    text = _pin_interpreter(_render(_input(windows=_full_store(), process=process)))
    text = text.replace(f'version="{__version__}"', 'version="V"')
    text = text.replace(f'revision="{REVISION}"', 'revision="R"')
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_replay_shows_the_window_lag_ago_with_its_start_time() -> None:
    text = _render(_input(windows=_full_store()))
    assert f'agora_realtime_users{{appid="{APPID}",product_type="Native"}} 112.0\n' in text
    assert (
        f'agora_realtime_window_timestamp_seconds{{appid="{APPID}",cname="",metric="userCount",'
        'product_type="Native",scope="project",uids=""} 1.7e+09\n'
    ) in text


def test_timestamps_true_attaches_the_window_start_to_each_sample() -> None:
    text = _render(_input(windows=_full_store(), timestamps=True))
    assert f'agora_realtime_users{{appid="{APPID}",product_type="Native"}} 112.0 {T0}000' in text


def test_an_empty_store_exposes_self_metrics_and_no_realtime_samples() -> None:
    text = _render(_input(windows=FakeWindowSource({})))
    assert "agora_exporter_quota_limit" in text
    assert "agora_realtime_users{" not in text


def test_without_a_process_source_there_is_no_process_section() -> None:
    names = set(_families(_render(_input(windows=_full_store()))))
    assert not {name for name in names if name.startswith(("process_", "python_"))}


@pytest.mark.prometheus
def test_exposition_passes_promtool_check_metrics() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    # this process's own /proc: the process section as a daemon serves it
    text = _render(_input(windows=_full_store(), process=ProcessReader()))
    assert set(_families(text)) >= PROCESS_NAMES
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the quota and build families ---------------------------------------------------------


def test_the_quota_help_texts_name_exactly_the_periods_exported() -> None:
    exported: set[str] = set()
    for plan in Plan:
        budgets = {
            budget: BudgetState(limits, interval_s=60, lag_s=40, used={})
            for budget in Budget
            if (limits := limits_for(plan, budget)) is not None
        }
        data = CollectorInput(
            now=T0,
            series=[],
            budgets=budgets,
            windows=FakeWindowSource({}),
            windows_missed_total=0,
            stats=RuntimeStats().snapshot(),
            process=NO_PROCESS,
        )
        families = _families(_render(data))
        for name in (QUOTA_LIMIT.name, QUOTA_USED.name):
            exported |= {labels["period"] for labels, _ in families.get(name, [])}
    assert exported == {"second", "minute", "day"}
    units = re.compile(r"\b(second|minute|hour|day|week|month)s?\b")
    for help_text in (QUOTA_LIMIT.help, QUOTA_USED.help):
        assert set(units.findall(help_text)) == exported, help_text
    assert "(second)" in QUOTA_USED.help  # each period's label value next to its length


def test_build_info_carries_version_revision_and_python_version() -> None:
    [(labels, value)] = _families(_render(_input(windows=_full_store())))[
        "agora_exporter_build_info"
    ]
    assert value == 1.0
    assert labels == {
        "version": __version__,
        "revision": REVISION,
        "python_version": platform.python_version(),
    }


# --- the revision ---------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    done = subprocess.run(
        [git, *args], cwd=cwd, env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repository(root: Path, commits: int = 2) -> Path:
    root.mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    for number in range(commits):
        (root / "file").write_text(str(number))
        _git(root, "add", "file")
        _git(root, "commit", "-q", "-m", f"commit {number}")
    return root


def test_revision_is_the_head_of_the_checkout_the_package_runs_from(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    nowhere = tmp_path / "REVISION"
    assert read_revision(repo, nowhere, installed=False) == _git(repo, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")  # the branch now lives in packed-refs only
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert read_revision(repo, nowhere, installed=False) == _git(repo, "rev-parse", "HEAD")
    first = _git(repo, "rev-parse", "HEAD~1")
    _git(repo, "checkout", "-q", "--detach", first)
    assert read_revision(repo, nowhere, installed=False) == first


def test_revision_of_a_linked_work_tree_is_its_own_head(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    first = _git(repo, "rev-parse", "HEAD~1")
    _git(repo, "worktree", "add", "-q", "-b", "older", str(tmp_path / "linked"), first)
    assert (tmp_path / "linked" / ".git").is_file()
    assert read_revision(tmp_path / "linked", tmp_path / "REVISION", installed=False) == first


def test_this_source_tree_reports_its_head() -> None:
    if not (SOURCE_ROOT / ".git").exists():
        pytest.skip("the package is not imported from a git checkout")
    assert read_revision() == _git(SOURCE_ROOT, "rev-parse", "HEAD")


def test_revision_file_written_at_build_time_is_read_when_there_is_no_checkout(
    tmp_path: Path,
) -> None:
    written = tmp_path / "REVISION"
    commit = "0123456789abcdef0123456789abcdef01234567"
    written.write_text(commit.upper() + "\n")
    assert read_revision(tmp_path, written, installed=False) == commit
    written.write_text("not a commit\n")
    assert read_revision(tmp_path, written, installed=False) == UNKNOWN_REVISION


def test_revision_is_unknown_without_checkout_or_file_and_ignores_parent_checkouts(
    tmp_path: Path,
) -> None:
    repo = _repository(tmp_path / "repo", commits=1)
    site = repo / ".venv" / "site-packages"  # a virtualenv inside some repository
    site.mkdir(parents=True)
    assert read_revision(site, site / "REVISION", installed=False) == UNKNOWN_REVISION


# --- the process section --------------------------------------------------------------------


def test_the_process_section_is_what_proc_says(tmp_path: Path) -> None:
    reader = ProcessReader(write_fake_proc(tmp_path, open_fds=5, cpu_s=7))
    text = _render(_input(windows=FakeWindowSource({}), process=reader))
    assert _value(text, "process_resident_memory_bytes") == RSS_BYTES
    assert _value(text, "process_virtual_memory_bytes") == VSIZE_BYTES
    assert _value(text, "process_start_time_seconds") == BOOT_TIME + STARTED_AFTER_BOOT_S
    assert _value(text, "process_cpu_seconds_total") == 7.0
    assert _value(text, "process_open_fds") == 5
    assert _value(text, "process_max_fds") == MAX_FDS
    [(labels, _)] = _families(text)["python_info"]
    assert labels["version"] == platform.python_version()
    assert labels["implementation"] == platform.python_implementation()


def test_the_process_section_is_read_again_once_the_clock_is_in_another_second(
    tmp_path: Path,
) -> None:
    proc = write_fake_proc(tmp_path, open_fds=3)
    reader = ProcessReader(proc)

    def open_fds(now: float) -> float:
        [family] = [one for one in reader.families(now) if one.name == "process_open_fds"]
        return family.samples[0].value

    assert open_fds(T0 + 0.1) == 3
    write_fake_proc(proc, open_fds=4, rss_bytes=2 * RSS_BYTES)
    assert open_fds(T0 + 0.9) == 3  # the same second: the same reading
    assert reader.families(T0 + 0.9) is reader.families(T0 + 0.5)
    assert open_fds(T0 + 1.0) == 4
    [resident] = [
        one for one in reader.families(T0 + 1.2) if one.name == "process_resident_memory_bytes"
    ]
    assert resident.samples[0].value == 2 * RSS_BYTES


def test_the_catalog_names_what_the_process_section_shows_here() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: the process_* families are absent")
    text = _render(_input(windows=FakeWindowSource({}), process=ProcessReader()))
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, flags=re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    shown = {name for name in helps if name.startswith(("process_", "python_"))}
    assert shown == PROCESS_NAMES
    for metric in PROCESS_METRICS:
        assert (helps[metric.name], types[metric.name]) == (metric.help, metric.kind)
    [(labels, _)] = _families(text)["python_info"]
    assert sorted(labels) == sorted(PYTHON_INFO.labels)


def test_the_live_process_section_reads_this_process(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: the process_* families are absent")
    reader = ProcessReader()
    now = time.time()
    before = _render(_input(windows=FakeWindowSource({}), process=reader))
    spent = os.times()
    assert abs(_value(before, "process_cpu_seconds_total") - (spent.user + spent.system)) < 0.5
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert 0 < _value(before, "process_resident_memory_bytes") <= peak_rss
    assert _value(before, "process_virtual_memory_bytes") > peak_rss / 2
    assert _value(before, "process_max_fds") == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert _value(before, "process_start_time_seconds") < now
    files = [(tmp_path / f"open-{n}").open("w") for n in range(40)]
    try:
        a_second_later = replace(_input(windows=FakeWindowSource({}), process=reader), now=T0 + 441)
        after = _render(a_second_later)
    finally:
        for one in files:
            one.close()
    assert _value(after, "process_open_fds") >= _value(before, "process_open_fds") + 40
