"""schema/run.txt, the one definition of run.json's keys: its parser on good and bad input, a real loopback
run's run.json against it both ways (nothing written that it does not declare, nothing it requires left out,
every type right), the --meta keys the scripts pass, and the analysis reading only declared keys and deriving
every stream rate itself."""

import json
import re
import statistics

import pytest

import builders as b
from builders import report_section
from ivbench_analysis import manifest, run_schema
from ivbench_analysis.report.text import fmt

GOOD = """\
# a comment
version 3
tool                 text    -      host_writer  required  what wrote it
meta                 object  -      host_writer  required
meta.vm              text    -      run_test.sh  optional
meta.*               text    -      --meta       optional
host                 object  -      host_writer  required
host.cpu             @cpu    -      host_writer  optional
items                list    -      host_writer  required
items[]              count   ns     host_writer  required
@cpu.user_s          real    s      host_writer  required
"""


def test_parser_reads_version_keys_and_expands_shapes():
    schema = run_schema.parse(GOOD)
    assert schema.version == 3
    assert schema.keys["tool"] == run_schema.Key("tool", "text", "-", "host_writer", True, "what wrote it")
    assert schema.keys["host.cpu"].type == "object"
    assert schema.keys["host.cpu.user_s"] == run_schema.Key("host.cpu.user_s", "real", "s", "host_writer", True)
    assert schema.declared("meta.anything").path == "meta.*"
    assert schema.declared("host.anything") is None
    assert schema.shape() == {"tool": "text", "meta": {"vm": "text", "*": "text"},
                              "host": {"cpu": {"user_s": "real"}}, "items": ["count"]}


def test_problems_both_ways_and_types():
    schema = run_schema.parse(GOOD)
    good = {"tool": "x", "meta": {"vm": "loopback", "other": "y"}, "host": {"cpu": {"user_s": 0.5}}, "items": [1, 2]}
    assert schema.problems(good) == []
    bad = {"tool": 3, "meta": {"n": 1}, "host": {"cpu": {}, "extra": 1}, "items": [-1], "fps": 9.0}
    assert [str(p) for p in schema.problems(bad)] == [
        "fps is written but not declared",
        "host.cpu.user_s is required but not written",
        "host.extra is written but not declared",
        "items[] is a number -1, expected a whole number",
        "meta.n is a number 1, expected a string",
        "tool is a number 3, expected a string",
    ]


@pytest.mark.parametrize("text, message", [
    ("tool text - host_writer required\n", "x.txt: no `version N` line"),
    ("version 1\nversion 2\n", "x.txt line 2: expected one `version N` line"),
    ("version 1\ntool text -\n", "x.txt line 2: expected `PATH TYPE UNIT WRITER PRESENCE"),
    ("version 1\nTool text - host_writer required\n", "x.txt line 2: 'Tool' is not a dotted path"),
    ("version 1\ntool float - host_writer required\n", "x.txt line 2: unknown type 'float'"),
    ("version 1\ntool text MB host_writer required\n", "x.txt line 2: unit, writer or presence"),
    ("version 1\ntool text - someone required\n", "x.txt line 2: unit, writer or presence"),
    ("version 1\ntool text - host_writer maybe\n", "x.txt line 2: unit, writer or presence"),
    ("version 1\na.b text - host_writer required\n", "x.txt: key a.b: a is not declared as its object"),
    ("version 1\na text - host_writer required\na[] text - host_writer required\n",
     "x.txt: key a[]: a is not declared as its list"),
    ("version 1\na @cpu - host_writer required\n", "x.txt: key a: shape @cpu has no members"),
    ("version 1\na text - host_writer required\na text - host_writer required\n", "x.txt: key a declared twice"),
])
def test_parser_refuses_bad_input_naming_the_line(text, message):
    with pytest.raises(run_schema.SchemaError) as err:
        run_schema.parse(text, "x.txt")
    assert str(err.value).startswith(message), str(err.value)


# --meta keys as run_test.sh, vm/*.sh and bench/*.sh pass them: `--meta "KEY=...` or `--meta KEY=...`.
META_ARG = re.compile(r"--meta(?:\s+--host-arg)?\s+\"?([a-z_][a-z0-9_]*)=")


def test_every_meta_key_the_scripts_pass_is_declared():
    scripts = [b.REPO / "run_test.sh", *sorted((b.REPO / "vm").glob("*.sh")), *sorted((b.REPO / "bench").glob("*.sh"))]
    passed = {key for path in scripts for key in META_ARG.findall(path.read_text())}
    assert {"vm", "accel", "repeat_count", "bench"} <= passed, passed  # the pattern still finds them
    undeclared = sorted(k for k in passed if f"meta.{k}" not in run_schema.SCHEMA.keys)
    assert not undeclared, f"--meta keys passed by the scripts but not declared in schema/run.txt: {undeclared}"


def test_the_analysis_cannot_ask_for_an_undeclared_key():
    with pytest.raises(ValueError, match="options.latency_frame_size is not declared"):
        manifest.lookup({}, "options", "latency_frame_size")
    assert manifest.lookup({"meta": {"anything": "x"}}, "meta", "anything") == "x"  # meta.* takes any name
    assert manifest.lookup({"pipeline_limit": {"host_write_ns": 5}}, "pipeline_limit", "host_write_ns",
                           under="streams[]") == 5


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    """A real run with every optional part a loopback run can have: counters, both studies, two streams of
    2 s (an even number of one-second windows each), --meta keys."""
    out = b.run_loopback(tmp_path_factory.mktemp("run-schema"), [
        "--size", "8M", "--iterations", "3", "--latency-frame", "4096", "--bw-iterations", "1", "--frames", "64",
        "--ref-iterations", "1", "--write-study", "--map-study", "--stream-seconds", "2",
        "--stream-frames", "64K,4096", "--meta", "vm=loopback", "--meta", "accel=none", "--meta", "free_key=x"])
    return out, json.loads((out / "run.json").read_text())


def test_a_loopback_runs_run_json_matches_the_schema_both_ways(loopback):
    _, written = loopback
    assert written["format_version"] == run_schema.SCHEMA.version
    problems = [str(p) for p in run_schema.SCHEMA.problems(written)]
    assert not problems, f"run.json and schema/run.txt disagree: {problems}"
    # the run did write the optional parts it asked for, so the check above covered them
    for part in ("noise", "map_study", "host.cpu", "guest.cpu", "streams[].pipeline_limit", "streams[].host_cpu"):
        top, _, rest = part.partition(".")
        holders = written[top[:-2]] if top.endswith("[]") else [written[top]]
        assert all(rest == "" or rest in h for h in holders), part


def test_run_json_holds_no_stream_rate_the_analysis_derives(loopback):
    _, written = loopback
    for stream in written["streams"]:
        assert not {"fps", "mbps"} & set(stream), stream.keys()
        assert "fps" not in stream["pipeline_limit"]


def test_the_analysis_derives_each_streams_rates_from_the_windows(loopback):
    out, written = loopback
    proc = b.run_analysis(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / "performance_report.txt").read_text()
    suspects = [ln for ln in report_section(report, "SUSPECT FIGURES").splitlines() if "run.json" in ln]
    assert not suspects, suspects  # nothing in run.json disagrees with what the analysis computes
    section = report_section(report, "STREAMING")
    for stream in written["streams"]:
        windows = stream["windows"]
        assert windows, stream
        # the true median (of an even count, 2 here unless the machine stalls: the mean of the middle two)
        assert (f"sustained {fmt(statistics.median(windows))} (median of {len(windows)} one-second windows, "
                "from run.json)" in section), (windows, section)
