"""The answer, report.html and summary.json: the answer opens the text report and ends the terminal output
and quotes the sections' own cells; the page and summary.json show the same figures as the text report;
the page is self-contained, escapes what the results folder holds, and renders in a real browser
(Debian's chromium, headless) with every plot drawn and no console error."""

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

import builders as b
from builders import report_section

HOSTILE = '<script>alert("run.json")</script>'
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_WAIT_S = 120
ANALYSIS_WAIT_S = 600  # three runs on a loaded machine
# matplotlib's first colour (tab:blue, #1f77b4): the page's own style never uses it, the plots all do.
PLOT_BLUE = (0x1F, 0x77, 0xB4)


# The sections that have figures in write_run's folder, each with the plot the page must show beside it.
SECTION_PLOTS = {"latency": "latency_histogram.png", "bandwidth": "bandwidth_analysis.png",
                 "reference": "reference.png", "counters": "counters.png", "notification": "notification.png"}


def write_run(folder, seed=1, vm=HOSTILE):
    latency = b.latency_rows(n=40, seed=seed)
    bandwidth = b.bandwidth_rows(frames=("64B", "4096B"), per_frame=6, seed=seed + 1)
    reference = b.reference_rows([("64B", 64), ("4096B", 4096)], per_size=4, seed=seed + 2)
    run = b.manifest(latency_frame="4096")
    run["meta"]["vm"] = vm
    run["guest"]["memory_type"] = "<b>UC-</b>"
    run["options"]["mode"] = "polling"
    for side, user in (("host", 0.8), ("guest", 0.7)):
        run[side]["cpu"] = {"user_s": user, "sys_s": 0.05, "wall_s": 1.0, "messages": 100}
    messages = [("latency", "4096B", 4096, m["iteration"]) for m in latency]
    folder = b.write_results(folder, latency=latency, bandwidth=bandwidth, reference=reference, run=run)
    # No phase switched out: the noise verdict and the headline figures stay those of the timings alone.
    phases = [dict(row, context_switches=0) for row in b.phase_rows(messages, seed=seed, hardware=False)]
    return b.write_extra(folder, phases=phases)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    folder = write_run(tmp_path_factory.mktemp("page") / "run")
    proc = b.run_analysis(folder)
    assert proc.returncode == 0, proc.stderr
    return folder, proc


def answer_block(report):
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ANSWER"))
    end = lines.index("", start)
    return lines[start:end]


def headline_rows(report):
    """HEADLINE FIGURES' table: label -> the row's cells after the label, as printed."""
    text = report_section(report, "HEADLINE FIGURES").splitlines()
    start = next(i for i, line in enumerate(text) if line.split()[:2] == ["figure", "unit"])
    rows = {}
    for line in text[start + 1:]:
        match = re.match(r"^  (\S.*?)  +(ns|us|ms|s|frames/s)  +(.*)$", line)
        if not match:
            break
        rows[match.group(1)] = [match.group(2)] + match.group(3).split()
    return rows


class PageParser(HTMLParser):
    """The answer's items, the headline table's rows by data-key, the images and anything active."""

    def __init__(self):
        super().__init__()
        self.answer, self.rows, self.images, self.scripts = [], {}, [], 0
        self._cell, self._key, self._li = None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "li" and "data-topic" in attrs:
            self._li = True
            self.answer.append("")
        if tag == "tr" and "data-key" in attrs:
            self._key = attrs["data-key"]
            self.rows[self._key] = []
        if tag == "td" and self._key is not None:
            self._cell = ""
        if tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "li":
            self._li = False
        if tag == "td" and self._cell is not None:
            self.rows[self._key].append(self._cell)
            self._cell = None
        if tag == "tr":
            self._key = None

    def handle_data(self, data):
        if self._li:
            self.answer[-1] += data
        if self._cell is not None:
            self._cell += data


class SectionParser(HTMLParser):
    """Per section of the page other than the answer and the headline figures: its lines as the page shows
    them (the heading, each line of preformatted text, each table row as its cells), its section tables'
    count and its images' titles."""

    def __init__(self):
        super().__init__()
        self.sections, self._current, self._text, self._row = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._current = None if attrs.get("id") in ("answer", "headline") else attrs.get("id")
            if self._current is not None:
                self.sections[self._current] = {"lines": [], "tables": 0, "images": []}
        if self._current is None:
            return
        mine = self.sections[self._current]
        if tag in ("h2", "pre", "th", "td"):
            self._text = ""
        if tag == "table" and "section" in (attrs.get("class") or "").split():
            mine["tables"] += 1
        if tag == "tr":
            self._row = []
        if tag == "img":
            mine["images"].append(attrs.get("title"))

    def handle_endtag(self, tag):
        if self._current is None:
            return
        lines = self.sections[self._current]["lines"]
        if tag == "h2":
            lines.append(self._text)
        if tag == "pre":
            lines += self._text.split("\n")
        if tag in ("th", "td"):
            self._row.append(self._text)
        if tag in ("h2", "pre", "th", "td"):
            self._text = None
        if tag == "tr":
            lines.append(self._row)
            self._row = None
        if tag == "section":
            self._current = None

    def handle_data(self, data):
        if self._text is not None:
            self._text += data


def cells(line):
    """A line as the report prints it, split where a table separates its cells (two spaces or more)."""
    return line if isinstance(line, list) else re.split(r"\s{2,}", line.strip())


def underline(line):
    return isinstance(line, str) and bool(line) and set(line.strip()) == {"-"}


def parse_page(folder):
    parser = PageParser()
    parser.feed((folder / "report.html").read_text())
    return parser


def test_the_answer_opens_the_report_and_ends_the_terminal_output(analysed):
    folder, proc = analysed
    report = (folder / "performance_report.txt").read_text()
    block = answer_block(report)
    assert report.splitlines().index(block[0]) == 4  # after the title, its underline and the folder
    assert len(block) <= 12, block
    assert proc.stdout.rstrip("\n").splitlines()[-len(block):] == block
    topics = " ".join(block)
    for words in ("Lock-step round trip", "Guest's copy out of the region", "Mapping: guest resource2", "Trust:"):
        assert words in topics, block


def test_every_number_of_the_answer_is_a_cell_of_the_section_it_summarises(analysed):
    folder, _ = analysed
    report = (folder / "performance_report.txt").read_text()
    block, rows = answer_block(report), headline_rows(report)
    roundtrip = next(line for line in block if "Lock-step round trip" in line)
    unit, median, low, high = rows["latency roundtrip"][:4]
    assert f"{median} {unit} (95% {low}-{high})" in roundtrip, (roundtrip, rows["latency roundtrip"])
    copy = next(line for line in block if "Guest's copy out of the region" in line)
    region, private = rows["latency C copy"][5], rows["reference 4096B C copy"][5]
    assert re.search(rf"\b{re.escape(region)} MB/s .*on private memory {re.escape(private)} MB/s", copy), copy
    cells = {cell for row in rows.values() for cell in row}
    bottleneck = report_section(report, "BOTTLENECK")
    for line in block[2:]:
        for value in re.findall(r"\d+\.\d+", line):
            assert value in cells or value in bottleneck, (value, line)


def shown(value, decimals):
    return "n/a" if value is None else f"{value:.{decimals}f}"


def test_summary_json_gives_each_headline_figure_as_the_report_does(analysed):
    folder, _ = analysed
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["format"] == "ivshmem-bench-summary" and summary["version"] == 1
    rows = headline_rows((folder / "performance_report.txt").read_text())
    assert [f["label"] for f in summary["figures"]] == list(rows)
    for figure in summary["figures"]:
        cells = rows[figure["label"]]
        if figure["unit"] == "us":  # summary.json keeps times in us; the table in the unit that fits the median
            b.assert_duration(cells[0], cells[1], figure["median"] * 1e3, figure["label"])
            for cell, key in zip(cells[2:4], ("low", "high")):
                assert (cell == "n/a") == (figure[key] is None), figure["label"]
                if figure[key] is not None:
                    assert b.duration_ns(cells[0], cell) == pytest.approx(
                        figure[key] * 1e3, abs=b.cell_tolerance_ns(cells[0], cells[1])), figure["label"]
        else:
            assert cells[0] == figure["unit"]
            assert cells[1:4] == [shown(figure[k], 1) for k in ("median", "low", "high")], figure["label"]
        assert isinstance(figure["n"], int) and figure["n"] > 0
        assert figure["reliable"] == (cells[-1] != "reliable"), figure["label"]  # the last cell: "reliable" or n
    assert [n["verdict"] for n in summary["noise"]] == ["quiet"]  # no phase of write_run switched out
    assert summary["answer"] == [line[2:] for line in answer_block(
        (folder / "performance_report.txt").read_text())[2:]]


def test_the_page_shows_the_figures_of_the_report_and_of_summary_json(analysed):
    folder, _ = analysed
    page = parse_page(folder)
    summary = json.loads((folder / "summary.json").read_text())
    rows = headline_rows((folder / "performance_report.txt").read_text())
    assert list(page.rows) == [f["key"] for f in summary["figures"]]
    for figure in summary["figures"]:
        cells = page.rows[figure["key"]]
        assert cells[0] == figure["label"]
        assert cells[1:] [:len(rows[figure["label"]])] == rows[figure["label"]] or \
            cells[1:5] == rows[figure["label"]][:4], figure["label"]
    assert page.answer == summary["answer"]


def test_each_section_of_the_page_shows_the_report_s_lines_and_its_tables_as_tables(analysed):
    folder, _ = analysed
    # Both without the underlines of titles (the page shows a section's title as a heading).
    report = [cells(line) for line in (folder / "performance_report.txt").read_text().splitlines()
              if not underline(line)]
    parser = SectionParser()
    parser.feed((folder / "report.html").read_text())
    assert {"latency", "bandwidth", "reference", "counters", "notification"} <= set(parser.sections)
    for key, section in parser.sections.items():
        shown = [cells(line) for line in section["lines"] if not underline(line)]
        starts = [i for i in range(len(report)) if report[i:i + len(shown)] == shown]
        assert starts, f"section {key}: the page's lines are not the report's:\n{shown}"
        printed_rows = sum(1 for line in section["lines"] if isinstance(line, list))
        assert printed_rows == 0 or section["tables"] > 0, key
        if key in SECTION_PLOTS:
            assert section["tables"] >= 1, f"section {key} shows no table"
        if key != "environment":
            assert not any(isinstance(line, str) and len(cells(line)) >= 4 and ":" not in line
                           for line in section["lines"][1:]), f"section {key}: a table row left as text"


def test_each_section_with_figures_shows_its_plot_beside_it(analysed):
    folder, _ = analysed
    parser = SectionParser()
    parser.feed((folder / "report.html").read_text())
    for key, name in SECTION_PLOTS.items():
        assert name in parser.sections[key]["images"], (key, parser.sections[key]["images"])
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_the_page_is_self_contained_and_escapes_the_results_folder(analysed):
    folder, _ = analysed
    text = (folder / "report.html").read_text()
    page = parse_page(folder)
    assert page.scripts == 0
    assert "<script" not in text.lower() and "<b>UC-</b>" not in text
    assert "&lt;script&gt;alert(&quot;run.json&quot;)&lt;/script&gt;" in text
    assert not re.search(r"(?:src|href)=\"(?!data:image/png;base64,|#)", text)
    assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert len(page.images) == len(pngs) >= 5


def chromium_render(page, out_png=None, window="1400,6000"):
    """(the DOM after load, stderr) of a page in headless chromium, one start of it; with out_png its
    screenshot too."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): report.html not rendered")
    profile = tempfile.mkdtemp(prefix="ivb-chromium-")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", f"--window-size={window}",
               "--dump-dom"] + ([f"--screenshot={out_png}"] if out_png else []) + [page.as_uri()]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_WAIT_S)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def console_errors(stderr):
    """chromium's console messages and refused loads (--enable-logging=stderr)."""
    return [line for line in stderr.splitlines() if re.search(r"CONSOLE|Uncaught|Refused to", line)]


def test_chromium_reports_a_page_with_a_console_error(tmp_path):
    # The check below can fail: a script that logs an error (blocked by the page's policy or not) is seen.
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>x'
                    '<script>console.error("broken")</script><img src="https://example.invalid/a.png"></body></html>')
    _, stderr = chromium_render(page, None, "400,300")
    assert console_errors(stderr), stderr


def test_report_html_renders_in_chromium_with_every_plot_and_no_console_error(analysed, tmp_path):
    import numpy as np
    from PIL import Image

    folder, _ = analysed
    shot = tmp_path / "report.png"
    dom, stderr = chromium_render(folder / "report.html", shot)
    assert console_errors(stderr) == [], stderr
    plots = sorted(p.name for p in folder.glob("*.png"))
    assert dom.count('src="data:image/png;base64,') == len(plots), "the DOM lost a plot"
    for src in re.findall(r'src="data:image/png;base64,([^"]+)"', dom):
        Image.open(io.BytesIO(base64.b64decode(src))).verify()
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int).reshape(-1, 3)
    coloured = int((pixels != 255).any(axis=1).sum())
    assert coloured > 0.05 * len(pixels), f"only {coloured} of {len(pixels)} pixels are not white: blank page?"
    blue = int((np.abs(pixels - PLOT_BLUE) <= 12).all(axis=1).sum())
    assert blue > 2000, f"{blue} pixels of the plots' blue: the plots were not drawn"


def test_a_folder_of_repeated_runs_gets_its_page_and_summary(tmp_path):
    for index in (1, 2, 3):
        write_run(tmp_path / f"run-{index}", seed=index, vm="bench")
    # No plots: the set's page and summary are under test here, the plots in the test above.
    proc = subprocess.run([sys.executable, str(b.ANALYZE), "--no-plots", str(tmp_path)], capture_output=True,
                          text=True, timeout=ANALYSIS_WAIT_S)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == ["run-1", "run-2", "run-3"]
    report = (tmp_path / "performance_report.txt").read_text()
    block = answer_block(report)
    assert block[0].startswith("ANSWER (medians over 3 runs")
    assert proc.stdout.rstrip("\n").splitlines()[-len(block):] == block
    assert sum(1 for line in proc.stdout.splitlines() if line.startswith("ANSWER")) == 1
    page = parse_page(tmp_path)
    assert list(page.rows) == [f["key"] for f in summary["figures"]]
    assert page.answer == summary["answer"]
    for index in (1, 2, 3):
        assert (tmp_path / f"run-{index}" / "report.html").exists()


def test_compare_writes_a_page_of_the_figures_that_differ(analysed, tmp_path):
    folder, _ = analysed
    other = write_run(tmp_path / "<b>other</b>", seed=7, vm="bench")
    page = tmp_path / "compare.html"
    proc = subprocess.run([sys.executable, str(b.ANALYZE), "--compare", str(folder), str(other), "--html", str(page)],
                          capture_output=True, text=True, timeout=ANALYSIS_WAIT_S)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    assert "<script" not in text.lower() and "<b>other</b>" not in text and "&lt;b&gt;other&lt;/b&gt;" in text
    printed = [line for line in proc.stdout.splitlines() if re.match(r"^  latency roundtrip  ", line)]
    assert len(printed) == 1
    cells = re.search(r"<tr[^>]*><td>latency roundtrip</td>(.*?)</tr>", text).group(1)
    assert re.findall(r"<td>([^<]*)</td>", cells)[:5] == printed[0].split()[2:7]
    assert '<section id="answer"' in text
