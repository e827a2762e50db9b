"""Plausibility checks: every finding is a line that starts with SUSPECT (run.json findings are
prefixed where they are printed). Pure functions of a Run."""

import numpy as np

from .manifest import CPU_SLACK_S, MANIFEST_JSON, SIDES, bell_record, cpu_record, lookup, run_interval, run_mode
from .model import (
    BANDWIDTH_COUNTERS_CSV, BANDWIDTH_CSV, BANDWIDTH_TIMING_COLUMNS, DERIVED_METRICS, FRESH_PAGES,
    GUEST_PHASE_COLUMNS, LATENCY_COUNTERS_CSV, LATENCY_CSV, LATENCY_STAGES, LATENCY_TIMING_COLUMNS, MAP_PHASES,
    MAP_STUDY_CSV, MESSAGE_KEYS, PHASE_C_COLUMN, PREFAULTED, REFERENCE_CSV, REFERENCE_TIMING_COLUMNS, TESTS,
    WRITE_STUDY_CSV, variant_rank,
)
from .stats import MAX_PLAUSIBLE_MBPS, counter_bytes, derived_values, mbps, successful


# host_writer prints the derived columns with 4 decimals.
DERIVED_COUNTER_TOLERANCE = 0.00051

# Derived CSV columns (us, ms, MB, MB/s) must match their source within this: half a printed unit
# plus 2%, enough for any rounding, far too little for a unit error.
DERIVED_ABS_TOLERANCE = 0.5

DERIVED_REL_TOLERANCE = 0.02

# How many rows per file that the loader left out the report names one by one; the rest are counted.
LISTED_REJECTS = 10


def check_bandwidth_bound(findings, what, rates):
    rates = rates.replace([np.inf, -np.inf], np.nan).dropna()
    too_fast = rates[rates > MAX_PLAUSIBLE_MBPS]
    if not too_fast.empty:
        findings.append(
            f"SUSPECT: {what}: {len(too_fast)} iteration(s) above {MAX_PLAUSIBLE_MBPS:.0f} MB/s "
            f"(max {too_fast.max():.1f} MB/s): faster than memory can move data; a timing or unit is wrong"
        )


def not_inside(rows, parts, whole):
    """Per row, whether the parts (columns of times one side measured inside another's) add up to more than
    the column whole that holds them; False where whole is not known."""
    return rows[parts].fillna(0).sum(axis=1) > rows[whole].fillna(np.inf)


def check_positive_durations(findings, filename, rows, columns):
    for col in columns:
        bad = rows[rows[col] <= 0]
        if not bad.empty:
            findings.append(
                f"SUSPECT: {filename}: {col} is zero or negative in {len(bad)} successful row(s) "
                f"(iteration {bad['iteration'].iloc[0]:.0f}: {bad[col].iloc[0]:.0f} ns)"
            )


def check_derived_column(findings, filename, rows, column, expected):
    """A derived column (us, ms, MB, MB/s) must agree with the value computed from its source."""
    diff = (rows[column] - expected).abs()
    bad = diff > DERIVED_ABS_TOLERANCE + DERIVED_REL_TOLERANCE * expected.abs()
    if bad.any():
        first = bad[bad].index[0]
        findings.append(
            f"SUSPECT: {filename}: column {column} disagrees with its source in {int(bad.sum())} row(s) "
            f"(iteration {rows['iteration'][first]:.0f}: {rows[column][first]:g}, expected {expected[first]:g})"
        )


def check_equal_columns(findings, filename, rows, column, why):
    """column must equal the expression `why` of other columns, e.g. "host_memcpy_ns + roundtrip_ns"."""
    expected = rows.eval(why)
    bad = rows[column] != expected
    if bad.any():
        first = bad[bad].index[0]
        findings.append(
            f"SUSPECT: {filename}: {column} != {why} in {int(bad.sum())} row(s) "
            f"(iteration {rows['iteration'][first]:.0f}: {rows[column][first]:g} vs {expected[first]:g})"
        )


def latency_findings(run):
    findings = []
    rows = successful(run.latency)
    if rows is None or rows.empty:
        return findings
    timed = [c for c in LATENCY_TIMING_COLUMNS if c != "notification_est_ns"]
    check_positive_durations(findings, LATENCY_CSV, rows, timed)
    for col in GUEST_PHASE_COLUMNS:
        longer = rows[not_inside(rows, [col], "roundtrip_ns")]
        if not longer.empty:
            findings.append(
                f"SUSPECT: {LATENCY_CSV}: guest phase {col} is longer than the round trip that contains it "
                f"in {len(longer)} iteration(s) (iteration {longer['iteration'].iloc[0]:.0f}: "
                f"{longer[col].iloc[0]:.0f} ns > {longer['roundtrip_ns'].iloc[0]:.0f} ns)"
            )
    negative = rows[rows["notification_est_ns"] < 0]
    if not negative.empty:
        findings.append(
            f"SUSPECT: {LATENCY_CSV}: notification_est_ns is negative in {len(negative)} iteration(s) "
            f"(min {negative['notification_est_ns'].min():.0f} ns): the guest's processing took longer "
            "than the host's round trip; the two clocks disagree (e.g. under TCG)"
        )
    short_total = rows[rows["guest_other_ns"] < 0]
    if not short_total.empty:
        findings.append(
            f"SUSPECT: {LATENCY_CSV}: the guest's total (roundtrip - notification_est) is shorter than "
            f"the sum of its phases A-D{' and write-study variants' if 'guest_study_ns' in rows else ''} "
            f"in {len(short_total)} iteration(s)"
        )
    check_equal_columns(findings, LATENCY_CSV, rows, "guest_memcpy_ns", "guest_second_pass_ns")
    check_equal_columns(findings, LATENCY_CSV, rows, "guest_verify_ns", "guest_cached_verify_ns")
    check_equal_columns(findings, LATENCY_CSV, rows, "total_ns", "host_memcpy_ns + roundtrip_ns")
    for col in LATENCY_TIMING_COLUMNS:
        check_derived_column(findings, LATENCY_CSV, rows, col[:-3] + "_us", rows[col] / 1e3)
    size = run.latency_frame_bytes
    if size:
        for label, col, is_bandwidth, _ in LATENCY_STAGES:
            if is_bandwidth:
                check_bandwidth_bound(findings, f"{LATENCY_CSV}: {label}", mbps(size, rows[col]))
    return findings


def bandwidth_findings(run):
    findings = []
    rows = successful(run.bandwidth)
    if rows is None or rows.empty:
        return findings
    check_positive_durations(findings, BANDWIDTH_CSV, rows, BANDWIDTH_TIMING_COLUMNS)
    for col in ("guest_memcpy_ns", "guest_verify_ns"):
        longer = rows[not_inside(rows, [col], "roundtrip_ns")]
        if not longer.empty:
            findings.append(
                f"SUSPECT: {BANDWIDTH_CSV}: guest phase {col} is longer than the round trip in "
                f"{len(longer)} iteration(s) ({longer['frame_type'].iloc[0]} iteration "
                f"{longer['iteration'].iloc[0]:.0f})"
            )
    check_equal_columns(findings, BANDWIDTH_CSV, rows, "size_bytes", "width * height * bpp / 8")
    check_equal_columns(findings, BANDWIDTH_CSV, rows, "total_ns", "host_memcpy_ns + roundtrip_ns")
    check_derived_column(findings, BANDWIDTH_CSV, rows, "size_mb", rows["size_bytes"] / 1e6)
    for col in BANDWIDTH_TIMING_COLUMNS:
        check_derived_column(findings, BANDWIDTH_CSV, rows, col[:-3] + "_ms", rows[col] / 1e6)
    for col in ("host_memcpy", "guest_memcpy", "total"):
        check_derived_column(findings, BANDWIDTH_CSV, rows, f"{col}_mbps", rows[f"{col}_calc_mbps"])
        check_bandwidth_bound(findings, f"{BANDWIDTH_CSV}: {col}", rows[f"{col}_calc_mbps"])
    verify_rates = mbps(rows["size_bytes"], rows["guest_verify_ns"])
    check_bandwidth_bound(findings, f"{BANDWIDTH_CSV}: guest_verify", verify_rates)
    return findings


def reference_findings(run):
    findings = []
    rows = successful(run.reference)
    if rows is None or rows.empty:
        return findings
    check_positive_durations(findings, REFERENCE_CSV, rows, REFERENCE_TIMING_COLUMNS)
    for col in REFERENCE_TIMING_COLUMNS:
        check_bandwidth_bound(findings, f"{REFERENCE_CSV}: {col}", mbps(rows["size_bytes"], rows[col]))
    return findings


def study_findings(run):
    """write_study.csv: positive times, plausible MB/s (derived here from copy_ns; a copy_mbps column that
    older host_writers wrote is not read), phase C the same measurement as in the
    timing CSVs, and page faults where a copy into fresh pages must take them."""
    findings = []
    study = run.write_study
    if study is None or study.empty:
        return findings
    rows = study[(study["success"] == 1) & study["copy_ns"].notna()]
    non_positive = rows[rows["copy_ns"] <= 0]
    if not non_positive.empty:
        first = non_positive.iloc[0]
        findings.append(f"SUSPECT: {WRITE_STUDY_CSV}: copy_ns is zero or negative in {len(non_positive)} row(s) "
                        f"({first['test']} {first['frame_type']} iteration {first['iteration']:.0f} "
                        f"{first['variant']})")
    rows = rows[rows["copy_ns"] > 0]
    rates = mbps(rows["size_bytes"], rows["copy_ns"])
    for variant in sorted(rows["variant"].unique(), key=variant_rank):
        check_bandwidth_bound(findings, f"{WRITE_STUDY_CSV}: {variant}", rates[rows["variant"] == variant])
    for test in TESTS:
        timings = successful(run.timings(test))
        if timings is None or timings.empty:
            continue
        keys = MESSAGE_KEYS[test] + ["_nth"]
        phase_c = rows[(rows["test"] == test) & (rows["variant"] == PREFAULTED)]
        joined = phase_c.merge(timings[keys + [PHASE_C_COLUMN[test]]], on=keys, how="inner")
        differ = joined[joined["copy_ns"] != joined[PHASE_C_COLUMN[test]]]
        if not differ.empty:
            first = differ.iloc[0]
            findings.append(
                f"SUSPECT: {WRITE_STUDY_CSV}: {PREFAULTED} is not phase C of the same message in {len(differ)} "
                f"{test} row(s) (iteration {first['iteration']:.0f}: {first['copy_ns']:.0f} ns, "
                f"{PHASE_C_COLUMN[test]} {first[PHASE_C_COLUMN[test]]:.0f} ns)")
    no_faults = rows[(rows["variant"] == FRESH_PAGES) & (rows["page_faults"] == 0)]
    if not no_faults.empty:
        findings.append(f"SUSPECT: {WRITE_STUDY_CSV}: {FRESH_PAGES} with 0 page faults in {len(no_faults)} row(s): "
                        "a copy into freshly mapped pages must fault; the count is probably unknown, not 0")
    return findings


def map_study_findings(run):
    """mapping_study.csv: positive phase times and plausible copy rates (MB/s derived here from copy_ns; a
    copy_mbps column that older host_writers wrote is not read)."""
    findings = []
    data = run.map_study
    if data is None or data.empty:
        return findings
    rows = successful(data)
    check_positive_durations(findings, MAP_STUDY_CSV, rows, [column for _, _, column in MAP_PHASES])
    rows = rows[rows["copy_ns"] > 0]
    rates = mbps(rows["size_bytes"], rows["copy_ns"])
    check_bandwidth_bound(findings, f"{MAP_STUDY_CSV}: copy", rates)
    return findings


def counter_findings(run):
    """The CSV's derived counter columns (IPC, cycles per byte, miss rates) against the raw counters."""
    findings = []
    for name, data in ((LATENCY_COUNTERS_CSV, run.latency_counters), (BANDWIDTH_COUNTERS_CSV, run.bandwidth_counters)):
        if data is None or data.empty:
            continue
        size = counter_bytes(run, name, data)
        for side in ("host_", "guest_"):
            for _, suffix, numerator, denominator, _ in DERIVED_METRICS:
                column = side + suffix
                expected = derived_values(data, side, numerator, denominator, size)
                if denominator == "bytes" and size.isna().all():
                    continue
                stated = data[column]
                unmeasured = stated.notna() & expected.isna()
                if unmeasured.any():
                    findings.append(f"SUSPECT: {name}: {column} is filled in {int(unmeasured.sum())} row(s) where "
                                    f"{side}{numerator} or its denominator is not measured")
                both = stated.notna() & expected.notna()
                bad = both & ((stated - expected).abs() > DERIVED_COUNTER_TOLERANCE + 1e-4 * expected.abs())
                if bad.any():
                    first = bad[bad].index[0]
                    findings.append(f"SUSPECT: {name}: column {column} disagrees with the raw counters in "
                                    f"{int(bad.sum())} row(s) (iteration {data['iteration'][first]:.0f}: "
                                    f"{stated[first]:g}, expected {expected[first]:g})")
    return findings


def notification_findings(m):
    """run.json's mode, interval, CPU times and doorbell counts, which a user may have edited: values that
    cannot be right. Each program is one thread: its CPU time cannot exceed its wall time (beyond a tick)."""
    findings = []
    mode = lookup(m, "options", "mode")
    if mode is not None and run_mode(m) is None:
        findings.append(f"{MANIFEST_JSON}: options.mode is {mode!r}, neither polling nor doorbell")
    interval = lookup(m, "options", "interval_us")
    if interval is not None and run_interval(m) is None:
        findings.append(f"{MANIFEST_JSON}: options.interval_us is {interval!r}, not a whole number of us >= 0")
    for side in SIDES:
        raw = lookup(m, side, "cpu")
        cpu = cpu_record(m, side)
        if raw is not None and cpu is None:
            findings.append(f"{MANIFEST_JSON}: {side}.cpu is not three finite non-negative times and a message "
                            f"count: {raw}")
        elif cpu is not None and cpu["user_s"] + cpu["sys_s"] > cpu["wall_s"] + CPU_SLACK_S:
            findings.append(f"{MANIFEST_JSON}: {side}.cpu: {cpu['user_s'] + cpu['sys_s']:.3f} s of CPU in "
                            f"{cpu['wall_s']:.3f} s of wall time, more than one thread can use")
        raw = lookup(m, side, "doorbell")
        if raw is not None and bell_record(m, side) is None:
            findings.append(f"{MANIFEST_JSON}: {side}.doorbell is not four whole numbers >= 0: {raw}")
    return findings


def input_findings(run):
    """The rows the loader left out because they do not parse cleanly: each named (the first LISTED_REJECTS
    of a file), the rest counted. A peer's attack or a corruption: host_writer never writes such a row."""
    findings, per_file = [], {}
    for reject in run.rejected_rows:
        per_file.setdefault(reject.file, []).append(reject)
    for name, rejects in per_file.items():
        findings += [f"SUSPECT: input: {r} (row left out)" for r in rejects[:LISTED_REJECTS]]
        if len(rejects) > LISTED_REJECTS:
            findings.append(f"SUSPECT: input: {name}: {len(rejects) - LISTED_REJECTS} more rows left out")
    return findings


def duplicate_findings(run):
    """A message counted twice: the latency test numbers its messages once, the bandwidth test once per frame
    (the reference may repeat a frame by design, see MESSAGE_KEYS)."""
    findings = []
    for name, data, keys in ((LATENCY_CSV, run.latency, ["iteration"]),
                             (BANDWIDTH_CSV, run.bandwidth, ["iteration", "frame_type"])):
        if data is None or data.empty:
            continue
        repeated = data[data.duplicated(keys, keep="first")]
        for line, row in repeated.drop_duplicates(keys).head(LISTED_REJECTS).iterrows():
            count = int((data[keys] == row[keys]).all(axis=1).sum())
            frame = f" of {row['frame_type']}" if "frame_type" in keys else ""
            findings.append(f"SUSPECT: {name}: iteration {row['iteration']:.0f}{frame} occurs {count} times "
                            f"(line {line}): a message recorded twice, or a forged row")
    return findings


def find_suspects(run):
    return (input_findings(run) + duplicate_findings(run) + latency_findings(run) + bandwidth_findings(run) + reference_findings(run) + study_findings(run)
            + map_study_findings(run) + counter_findings(run) + notification_findings(run.manifest))
