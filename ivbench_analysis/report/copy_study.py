"""WHERE THE COPY TIME GOES: phase C's write-path variants (write_study.csv) side by side, with
conclusions that name a difference only when the data shows it clearly."""

import numpy as np
import pandas as pd

from ..manifest import MANIFEST_JSON, is_tcg, lookup
from ..region_private import REGION_RATIO_THRESHOLD
from ..model import FRESH_PAGES, MAP_STUDY_CSV, PHASE_COUNTERS_CSV, PREFAULTED, TESTS, WRITE_STUDY_CSV, variant_rank
from ..stats import mbps
from .counters import drop_failed_messages
from .text import fmt, fmt_mbps, fmt_ratio, fmt_table, section


# A variant is called faster or slower than the pre-faulted memcpy only when the medians differ by at
# least this ratio and at least this share of the iterations (each message ran every variant, so they
# pair up) agree on the direction: one disturbed message out of five does not hide a difference, two do.
CLEAR_DIFFERENCE = 1.10

CLEAR_AGREEMENT = 0.8

TCG_MEMORY_TYPE_LINE = "Under TCG the memory type (UC-/WC) has no effect on speed: these are emulator timings"


def study_table(run):
    """The successful write-study rows that timed their variant, with source = region or private."""
    study = run.write_study
    rows = study[(study["success"] == 1) & study["copy_ns"].notna() & (study["copy_ns"] > 0)]
    return rows.assign(source=np.where(rows["test"] == "reference", "private", "region"))


def variant_stats(rows, source, size, variant):
    """n, median copy time, MB/s from it, and median page faults per copy of one variant."""
    cells = rows[(rows["source"] == source) & (rows["size_bytes"] == size) & (rows["variant"] == variant)]
    faults = cells["page_faults"].dropna()
    median = cells["copy_ns"].median() if not cells.empty else float("nan")
    return {"n": len(cells), "median_ns": median, "mbps": mbps(size, median) if not cells.empty else float("nan"),
            "faults": faults.median() if not faults.empty else float("nan")}


def paired_counts(rows, source, size, variant):
    """Messages that timed both the variant and memcpy_prefaulted: how many, and in how many the variant
    was faster and slower (every message runs every variant, so the comparison is per message)."""
    keys = ["test", "frame_type", "iteration", "_nth"]
    cells = rows[(rows["source"] == source) & (rows["size_bytes"] == size)]
    base = cells.loc[cells["variant"] == PREFAULTED, keys + ["copy_ns"]]
    other = cells.loc[cells["variant"] == variant, keys + ["copy_ns"]]
    both = base.merge(other, on=keys, suffixes=("_base", "_variant"))
    return (len(both), int((both["copy_ns_variant"] < both["copy_ns_base"]).sum()),
            int((both["copy_ns_variant"] > both["copy_ns_base"]).sum()))


VARIANT_SUBJECT = {
    FRESH_PAGES: "fresh pages are",
    "nt_store": "non-temporal stores are",
    "memcpy_thp": "memcpy into transparent huge pages is",
    "memcpy_hugetlb": "memcpy into hugetlb pages is",
}


def clear_verdict(time_ratio, faster, slower, n):
    """The rule of every faster/slower claim: "slower" or "faster" when the median times differ by at least
    CLEAR_DIFFERENCE and at least CLEAR_AGREEMENT of the n paired iterations agree on the direction;
    "within" when the medians are closer than CLEAR_DIFFERENCE; else "inconsistent"."""
    if n and time_ratio >= CLEAR_DIFFERENCE and slower >= CLEAR_AGREEMENT * n:
        return "slower"
    if n and time_ratio <= 1 / CLEAR_DIFFERENCE and faster >= CLEAR_AGREEMENT * n:
        return "faster"
    if 1 / CLEAR_DIFFERENCE < time_ratio < CLEAR_DIFFERENCE:
        return "within"
    return "inconsistent"


def variant_conclusion(rows, source, size, variant, stats, base):
    """One sentence on a variant against memcpy_prefaulted, claiming a difference only when the medians
    show it and the iterations agree (CLEAR_DIFFERENCE, CLEAR_AGREEMENT); the counts are always given."""
    n, faster, slower = paired_counts(rows, source, size, variant)
    subject = VARIANT_SUBJECT.get(variant, f"{variant} is")
    if n == 0:
        return f"{source}: {variant}: no message timed both it and {PREFAULTED}: no comparison"
    time_ratio = stats["median_ns"] / base["median_ns"]
    speed = fmt_ratio(base["median_ns"] / stats["median_ns"])
    counts = f"faster in {faster}, slower in {slower} of {n} iterations"
    direction = clear_verdict(time_ratio, faster, slower, n)
    if direction == "slower":
        verdict = f"{fmt(time_ratio, 2)}x slower"
        agreement = f"slower in {slower} of {n} iterations"
    elif direction == "faster":
        verdict = f"{fmt(1 / time_ratio, 2)}x faster"
        agreement = f"faster in {faster} of {n} iterations"
    elif direction == "within":
        return (f"{source}: {variant}: within {round(100 * (CLEAR_DIFFERENCE - 1))}% of {PREFAULTED} "
                f"(median speed {speed}; {counts})")
    else:
        return (f"{source}: {variant}: no consistent difference from {PREFAULTED} (median speed {speed}, "
                f"but {counts})")
    if variant != FRESH_PAGES:
        return f"{source}: {subject} {verdict} than memcpy into the pre-faulted buffer ({agreement})"
    faults = stats["faults"]
    if pd.isna(faults) or faults <= 0:
        return (f"{source}: {subject} {verdict} than pre-faulted ({agreement}); no page faults were counted, "
                "so the data does not attribute the difference to them")
    cost = stats["median_ns"] - base["median_ns"]
    if cost <= 0:
        return f"{source}: {subject} {verdict} than pre-faulted ({agreement}; {faults:.0f} page faults per copy)"
    return (f"{source}: page faults cost {fmt(cost / 1e6, 3)} ms per copy ({fmt(cost / faults / 1e3, 3)} us per "
            f"fault, {faults:.0f} faults per copy, {fmt(faults / (size / 4096), 2)} per 4 KiB copied): "
            f"{subject} {verdict} than pre-faulted ({agreement})")


def region_private_conclusion(region, private, mapping):
    ratio = region["median_ns"] / private["median_ns"]
    if ratio > REGION_RATIO_THRESHOLD:
        verdict = "evidence that copying from the shared region is slower than from private memory"
    elif ratio < 1 / REGION_RATIO_THRESHOLD:
        verdict = "faster than from private memory: the shared region does not slow the copy"
    else:
        verdict = f"within {REGION_RATIO_THRESHOLD}x: no evidence that the shared region slows the copy"
    return (f"region vs private: the pre-faulted copy from the shared region ({mapping}) takes {fmt(ratio, 2)}x "
            f"the time of the same copy from private memory (medians of {region['n']} and {private['n']} "
            f"iterations): {verdict}")


def phase_c_faults_line(run, size):
    """Phase C's page faults from the phase counters: the evidence that the plain copy does not fault."""
    data = run.phase_counters
    if data is None:
        return []
    rows = drop_failed_messages(run, data)
    rows = rows[(rows["phase"] == "C_copy") & (rows["size_bytes"] == size)]
    parts = []
    for source, tests in (("region", ("latency", "bandwidth")), ("private", ("reference",))):
        faults = rows.loc[rows["test"].isin(tests), "page_faults"]
        if len(faults):
            parts.append(f"{source} {fmt(faults.median(), 1)}" if faults.notna().any() else f"{source} not measured")
    if not parts:
        return []
    return [f"phase C ({PREFAULTED}) page faults per copy ({PHASE_COUNTERS_CSV}, medians): {', '.join(parts)}"]


def copy_time_section(run, summary):
    manifest = run.manifest
    mapping = lookup(manifest, "guest", "mapping") or "unknown"
    memory_type = lookup(manifest, "guest", "memory_type") or "unknown"
    mapping_text = f"{mapping}, memory type {memory_type}"
    lines = section(f"WHERE THE COPY TIME GOES (phase C, the guest's copy region -> private buffer; {WRITE_STUDY_CSV})")
    lines.append(f"  Guest mapping: {mapping_text} ({MANIFEST_JSON} guest.mapping, guest.memory_type); "
                 f"accelerator {lookup(manifest, 'meta', 'accel') or 'unknown'}")
    if is_tcg(manifest):
        lines.append(f"  ! {TCG_MEMORY_TYPE_LINE}")
    if (run.folder / MAP_STUDY_CSV).exists():
        lines.append("  This run timed both of the guest's mappings of the region: "
                     f"see MAPPING STUDY ({MAP_STUDY_CSV});")
    else:
        lines.append("  One mapping per run here: mappings compare across runs (or within one with --map-study);")
    lines.append("  within this run, region/private is what copying from the shared region costs over private memory.")
    study = run.write_study
    if study is None:
        if lookup(manifest, "options", "write_study") is True:
            return lines + [f"  {MANIFEST_JSON} says --write-study, but {WRITE_STUDY_CSV} is missing or unreadable"]
        return lines + [f"  {WRITE_STUDY_CSV} not found: run host_writer with --write-study to time the write-path "
                        "variants of phase C"]
    rows = study_table(run)
    untimed = study[(study["success"] == 1) & study["copy_ns"].isna()]
    if rows.empty:
        return lines + [f"  {WRITE_STUDY_CSV}: no successful row with a copy time"]
    lines += [
        "  MB/s = frame bytes / median copy time * 1e3 (1 MB = 1e6 B) over the successful iterations that timed the",
        f"  variant (n). x = MB/s relative to {PREFAULTED} (phase C itself: memcpy into the pre-faulted private",
        "  buffer) from the same source and size in this run: 1.00x is the reference, above 1 is faster.",
        "  region = copies from the shared region (latency and bandwidth tests), private = from private memory",
        "  (reference test); region/private = ratio of their median times. faults = median page faults per copy",
        f"  (counted for {FRESH_PAGES} only; n/a = not measured). A variant is called faster or slower only when",
        f"  the medians differ by at least {round(100 * (CLEAR_DIFFERENCE - 1))}% and at least "
        f"{round(100 * CLEAR_AGREEMENT)}% of the iterations agree.",
    ]
    if not untimed.empty:
        counts = untimed.groupby("variant").size()
        lines.append("  successful rows without a copy time (variant not run): "
                     + ", ".join(f"{v} {counts[v]}" for v in sorted(counts.index, key=variant_rank)))
    header = ["variant", "region_n", "region_MB/s", "region_x", "private_n", "private_MB/s", "private_x",
              "region/private", "region_faults", "private_faults"]
    for size in sorted(rows["size_bytes"].unique()):
        in_size = rows[rows["size_bytes"] == size]
        frames = "/".join(sorted(in_size["frame_type"].unique()))
        tests = {source: ", ".join(t for t in TESTS if t in set(in_size.loc[in_size["source"] == source, "test"]))
                 for source in ("region", "private")}
        lines += ["", f"  Frame {frames}, {size:.0f} bytes (region: {tests['region'] or 'no'} test; "
                      f"private: {tests['private'] or 'no'} test)"]
        variants = sorted(in_size["variant"].unique(), key=variant_rank)
        stats = {(source, v): variant_stats(rows, source, size, v)
                 for source in ("region", "private") for v in variants}
        table = []
        for v in variants:
            region, private = stats[("region", v)], stats[("private", v)]
            cells = [v]
            for source, own in (("region", region), ("private", private)):
                base = stats.get((source, PREFAULTED))
                speed = base["median_ns"] / own["median_ns"] if base and own["n"] and base["n"] else float("nan")
                cells += [str(own["n"]), fmt_mbps(own["mbps"]), fmt_ratio(speed)]
            time_ratio = region["median_ns"] / private["median_ns"] if region["n"] and private["n"] else float("nan")
            cells += [fmt_ratio(time_ratio), fmt(region["faults"], 0), fmt(private["faults"], 0)]
            table.append(cells)
        lines += fmt_table(header, table, indent="    ")
        conclusions = []
        for source in ("region", "private"):
            base = stats.get((source, PREFAULTED))
            if not base or not base["n"]:
                if any(stats[(source, v)]["n"] for v in variants):
                    conclusions.append(f"{source}: no {PREFAULTED} timing: no reference to compare with")
                continue
            for v in variants:
                if v != PREFAULTED and stats[(source, v)]["n"]:
                    conclusions.append(variant_conclusion(rows, source, size, v, stats[(source, v)], base))
        region, private = stats.get(("region", PREFAULTED)), stats.get(("private", PREFAULTED))
        if region and private and region["n"] and private["n"]:
            conclusions.append(region_private_conclusion(region, private, mapping_text))
        conclusions += phase_c_faults_line(run, size)
        lines += [f"    Conclusions for {frames} (this run's data only):"] + [f"      {c}" for c in conclusions]
        source = "region" if region and region["n"] else "private"
        summary.copy_study.append(
            f"{frames} {source}: " + ", ".join(
                f"{v} {fmt(stats[(source, v)]['mbps'])} MB/s" for v in variants if stats[(source, v)]["n"]))
    return lines
