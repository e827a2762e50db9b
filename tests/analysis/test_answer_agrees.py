"""The answer's lines cannot contradict each other or the sections they summarise: the guest's copy against
private memory, the bottleneck, the SHARED REGION VS PRIVATE MEMORY tables, BOTTLENECK and HEADLINE FIGURES
all compare the same samples (switched-out guest phases left out), even when the switched-out phases alone
would decide the comparison. The report is made in this process (no plots, few resamples): fast."""

import re

import pytest

import builders as b
from builders import report_section, table_row
from ivbench_analysis.checks import find_suspects
from ivbench_analysis.load import load_run
from ivbench_analysis.model import Summary
from ivbench_analysis.report import make_report
from ivbench_analysis.report.text import fmt_duration, fmt_durations

FRAME = ("4096B", 4096)
BW_FRAME = ("1080p", 6220800)
THRESHOLD = 1.5
RESAMPLES = 200
C_LABEL = "C copy (region -> private)"


def set_copy(row, ns):
    """Phase C of a timing row set to ns, the legacy duplicate, round trip and total kept consistent."""
    delta = ns - row["guest_second_pass_ns"] if "guest_second_pass_ns" in row else ns - row["guest_memcpy_ns"]
    for column in ("guest_second_pass_ns", "guest_memcpy_ns"):
        if column in row:
            row[column] = ns
    for column in ("roundtrip_ns", "total_ns"):
        if column in row:
            row[column] += delta


def make_run(folder, region_c, private_c, bw_region_c=None, bw_private_c=None):
    """A run whose phase C times are given per message as (ns, switched out): region_c for the latency
    messages, private_c for the reference messages of the latency frame; bw_*: the same for a 1080p
    bandwidth frame and its reference."""
    latency = b.latency_rows(len(region_c), seed=61)
    for row, (ns, _) in zip(latency, region_c):
        set_copy(row, ns)
    reference = b.reference_rows([FRAME], per_size=len(private_c), seed=62)
    for row, (ns, _) in zip(reference, private_c):
        row["guest_second_pass_ns"] = ns
    switched = {("latency", FRAME[0], i + 1) for i, (_, out) in enumerate(region_c) if out}
    switched |= {("reference", FRAME[0], i + 1) for i, (_, out) in enumerate(private_c) if out}
    messages = [("latency", FRAME[0], FRAME[1], r["iteration"]) for r in latency]
    messages += [("reference", FRAME[0], FRAME[1], r["iteration"]) for r in reference]
    bandwidth = None
    if bw_region_c:
        bandwidth = b.bandwidth_rows((BW_FRAME[0],), per_frame=len(bw_region_c), seed=63)
        for row, (ns, _) in zip(bandwidth, bw_region_c):
            set_copy(row, ns)
        extra = b.reference_rows([BW_FRAME], per_size=len(bw_private_c), seed=64)
        for row, (ns, _) in zip(extra, bw_private_c):
            row["guest_second_pass_ns"] = ns
        reference += extra
        switched |= {("bandwidth", BW_FRAME[0], i + 1) for i, (_, out) in enumerate(bw_region_c) if out}
        switched |= {("reference", BW_FRAME[0], i + 1) for i, (_, out) in enumerate(bw_private_c) if out}
        messages += [("bandwidth", BW_FRAME[0], BW_FRAME[1], r["iteration"]) for r in bandwidth]
        messages += [("reference", BW_FRAME[0], BW_FRAME[1], r["iteration"]) for r in extra]
    folder = b.write_results(folder, latency=latency, bandwidth=bandwidth, reference=reference,
                             run=b.manifest(latency_frame="4096"))
    phases = [dict(row, context_switches=int(row["phase"] == "C_copy"
                                             and (row["test"], row["frame_type"], row["iteration"]) in switched))
              for row in b.phase_rows(messages, seed=65, hardware=False)]
    b.write_extra(folder, phases=phases)
    run = load_run(folder)
    return make_report(run, find_suspects(run), Summary(), RESAMPLES).text


def spread(ns, n, switched=False, step=0.01):
    """n samples around ns (+-step each), all switched out or none."""
    return [(int(ns * (1 + step * (i % 5 - 2))), switched) for i in range(n)]


# Each case: phase C per message of the latency test and of its reference. The switched-out phases alone
# would turn the verdict: before the comparisons shared the headline figures' samples, the answer's copy line
# (switched-out phases left out) and its bottleneck line (every iteration) contradicted each other here.
CASES = {
    # private memory's switched-out copies are slow: over every iteration the region looks as fast
    "private_switched_out_slow": (spread(400_000, 30), spread(100_000, 2) + spread(2_000_000, 4, True)),
    # the region's switched-out copies are slow: over every iteration the region looks 20x slower
    "region_switched_out_slow": (spread(100_000, 10) + spread(2_000_000, 20, True), spread(100_000, 6)),
    # nothing switched out: a slower region and an even one
    "clean_slower_region": (spread(400_000, 30), spread(100_000, 6)),
    "clean_even": (spread(100_000, 30), spread(110_000, 6)),
    # every private copy switched out: shown, never compared (as HEADLINE FIGURES never compares such a figure)
    "private_all_switched_out": (spread(400_000, 30), spread(100_000, 4, True)),
}


def answer_of(report):
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ANSWER"))
    return lines[start + 2:lines.index("", start)]


def line_of(answer, start):
    found = [line for line in answer if line.strip().startswith(start)]
    assert len(found) == 1, (start, answer)
    return found[0]


def mbps_pair(copy_line):
    """(region MB/s, private MB/s) as the copy line prints them."""
    match = re.search(r": ([\d.]+) MB/s.*; on private memory ([\d.]+) MB/s", copy_line)
    assert match, copy_line
    return match.group(1), match.group(2)


def headline_mbps(report, label):
    """The MB/s cell of a HEADLINE FIGURES row."""
    row = next(line for line in report_section(report, "HEADLINE FIGURES").splitlines()
               if line.startswith(f"  {label}  "))
    return row[len(label) + 2:].split()[5]


def named_ratio(text, label):
    """The ratio a bottleneck line or section gives a stage (label 2.34x), or None when it names none."""
    match = re.search(re.escape(label) + r"[^,;:]*? ([\d.]+)x", text)
    return float(match.group(1)) if match else None


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_copy_line_and_the_bottleneck_line_agree(tmp_path, case):
    report = make_run(tmp_path, *CASES[case])
    answer = answer_of(report)
    copy = line_of(answer, "Guest's copy out of the region")
    region, private = (float(v) for v in mbps_pair(copy))
    bottleneck = line_of(answer, "Bottleneck:")
    named = named_ratio(bottleneck, "C copy")
    if "not compared" in copy:
        assert named is None and re.search(r"not compared \(.*\): C copy", bottleneck), (case, bottleneck)
        return
    # The same bytes: the time ratio is the inverse of the rates', each printed to 0.05 MB/s.
    low, high = (private - 0.05) / (region + 0.05), (private + 0.05) / (region - 0.05)
    if low > THRESHOLD:
        assert named is not None, (case, low, bottleneck)
        assert low - 0.005 <= named <= high + 0.005, (case, low, high, bottleneck)
    elif high < THRESHOLD:
        assert named is None, (case, high, bottleneck)
        assert "none in the mapping" in bottleneck, (case, bottleneck)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_answer_quotes_the_cells_of_the_comparison_and_of_bottleneck(tmp_path, case):
    report = make_run(tmp_path, *CASES[case])
    answer = answer_of(report)
    region, private = mbps_pair(line_of(answer, "Guest's copy out of the region"))
    table = report_section(report, "SHARED REGION VS PRIVATE MEMORY, latency frame")
    _, _, ratio_cell, region_cell, private_cell = table_row(table, C_LABEL, 5)
    assert (region_cell, private_cell) == (region, private), (case, table)
    section = report_section(report, "BOTTLENECK")
    named = named_ratio(line_of(answer, "Bottleneck:"), "C copy")
    if named is not None:
        assert f"{named:.2f}x" == ratio_cell, (case, ratio_cell)
        assert re.search(r"slower on the shared region than on private memory: .*C copy[^,]* "
                         + re.escape(ratio_cell), section), (case, section)
    elif ratio_cell == "n/a":
        assert re.search(r"not compared \(.*\): C copy", section), (case, section)
    elif float(ratio_cell.rstrip("x")) < THRESHOLD:
        assert "slower on the shared region than on private memory: none" in section, (case, section)


def test_the_bandwidth_comparison_uses_the_headline_samples(tmp_path):
    """A bandwidth frame's region/private table, its BOTTLENECK ratio and HEADLINE FIGURES: one median each."""
    region_c, private_c = CASES["clean_even"]
    report = make_run(tmp_path, region_c, private_c,
                      bw_region_c=spread(60_000_000, 3) + spread(900_000_000, 5, True),
                      bw_private_c=spread(55_000_000, 3) + spread(100_000_000, 3, True))
    region, private = headline_mbps(report, f"bandwidth {BW_FRAME[0]} C copy"), \
        headline_mbps(report, f"reference {BW_FRAME[0]} C copy")
    table = report_section(report, "SHARED REGION VS PRIVATE MEMORY, bandwidth frames")
    _, _, ratio_cell, region_cell, private_cell = table_row(table, f"{BW_FRAME[0]} {C_LABEL}", 5)
    assert (region_cell, private_cell) == (region, private), table
    assert float(ratio_cell.rstrip("x")) < THRESHOLD  # 60 against 55 ms; the switched-out ones would say 11.6x
    section = report_section(report, "BOTTLENECK")
    assert f"Bandwidth {BW_FRAME[0]}" in section
    assert not re.search(r"slower on the shared region than on private memory: .*C copy", section), section


# ---- durations: in the unit that fits, the same cells in the answer and in HEADLINE FIGURES ----------------


@pytest.mark.parametrize("ns, text", [(227_055_903, "227 ms"), (11_107_781, "11.1 ms"), (1_651_497, "1.65 ms"),
                                      (447_392, "447 us"), (999.6, "1.00 us"), (99_960, "100 us"),
                                      (12e9, "12.0 s"), (5, "5.00 ns"), (0, "0 ns"), (-5_000, "-5.00 us"),
                                      (None, "n/a")])
def test_a_duration_is_written_in_the_unit_that_fits_with_three_significant_digits(ns, text):
    assert fmt_duration(ns) == text


def test_a_row_of_durations_shares_the_unit_and_decimals_of_its_first():
    assert fmt_durations([1_651_497, 1_638_814, 12_683_589]) == ("ms", ["1.65", "1.64", "12.68"])
    assert fmt_durations([None, 5_000]) == ("ns", ["n/a", "5000"])


def test_the_answer_writes_long_durations_as_headline_figures_does(tmp_path):
    report = make_run(tmp_path, spread(200_000_000, 30), spread(150_000_000, 6))
    answer = answer_of(report)
    row = next(line for line in report_section(report, "HEADLINE FIGURES").splitlines()
               if line.startswith("  latency roundtrip  "))
    unit, median, low, high = row[len("  latency roundtrip  "):].split()[:4]
    assert unit == "ms", row
    assert f"{median} {unit} (95% {low}-{high})" in line_of(answer, "Lock-step round trip"), (row, answer)
    durations = re.findall(r"(-?\d+(?:\.\d+)?) (ns|us|ms|s)\b", "\n".join(answer))
    assert durations, answer
    for value, unit in durations:
        assert 1 <= float(value) < 1000, (value, unit)
        assert len(value.replace(".", "").lstrip("0")) == 3, (value, unit)
