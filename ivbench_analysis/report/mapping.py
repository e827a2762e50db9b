"""MAPPING STUDY: phases A-C through the guest's two mappings of the region (mapping_study.csv)."""

from ..manifest import MANIFEST_JSON, is_tcg, lookup
from ..model import MAP_PHASES, MAP_STUDY_CSV
from ..stats import mbps, successful
from .copy_study import CLEAR_AGREEMENT, CLEAR_DIFFERENCE, TCG_MEMORY_TYPE_LINE, clear_verdict
from .text import fmt, fmt_mbps, fmt_ratio, fmt_table, section


def same_memory_type_line(rows):
    """Whether this run can compare memory types at all: not when both mappings got the same one."""
    usual = set(rows.loc[rows["role"] == "usual", "memory_type"])
    second = set(rows.loc[rows["role"] == "second", "memory_type"])
    if not second:
        return "no row for a second mapping: the guest had none (guest_reader's stderr says why)"
    if usual != second or len(usual) != 1:
        return None
    memory_type = usual.pop()
    if memory_type == "unknown":
        return "the memory type of both mappings is unknown: this run cannot compare memory types"
    return f"both mappings got {memory_type}: this run cannot compare memory types"


def map_phase_conclusion(base, other, column, tcg):
    """One phase of a second mapping against the usual one, message by message (clear_verdict): a sentence
    when the data shows a difference, else None."""
    both = base[["_message", column]].merge(other[["_message", column]], on="_message",
                                             suffixes=("_usual", "_second")).dropna()
    n = len(both)
    faster = int((both[f"{column}_second"] < both[f"{column}_usual"]).sum())
    slower = int((both[f"{column}_second"] > both[f"{column}_usual"]).sum())
    time_ratio = other[column].median() / base[column].median()
    direction = clear_verdict(time_ratio, faster, slower, n)
    if direction not in ("faster", "slower"):
        return None
    ratio, agree = (time_ratio, slower) if direction == "slower" else (1 / time_ratio, faster)
    base_type = "/".join(sorted(set(base["memory_type"])))
    other_type = "/".join(sorted(set(other["memory_type"])))
    sentence = (f"{fmt(ratio, 2)}x {direction} through {other['mapping'].iloc[0]} (second mapping, {other_type}) "
                f"than through {base['mapping'].iloc[0]} (usual mapping, {base_type}), {direction} in {agree} of {n} "
                "messages")
    if tcg:
        sentence += "; under TCG this is not an effect of the memory type"
    elif base_type == other_type:
        sentence += "; same memory type, so not an effect of it"
    return sentence


def mapping_study_section(run):
    manifest = run.manifest
    data = run.map_study
    exists = (run.folder / MAP_STUDY_CSV).exists()
    if data is None and not exists and lookup(manifest, "options", "map_study") is not True:
        return []
    tcg = is_tcg(manifest)
    usual = lookup(manifest, "guest", "mapping")
    lines = section(f"MAPPING STUDY (phases A-C through each of the guest's mappings of the region; {MAP_STUDY_CSV})")
    lines.append(f"  Usual mapping: {usual or 'unknown'} ({MANIFEST_JSON} guest.mapping; the first row of each "
                 f"message); accelerator {lookup(manifest, 'meta', 'accel') or 'unknown'}")
    if tcg:
        lines.append(f"  ! {TCG_MEMORY_TYPE_LINE}")
    if data is None:
        if exists:
            return lines + [f"  {MAP_STUDY_CSV} is unreadable: see MISSING OR UNREADABLE INPUT"]
        return lines + [f"  {MANIFEST_JSON} says --map-study, but {MAP_STUDY_CSV} is missing"]
    rows = successful(data)
    if rows.empty:
        return lines + [f"  {MAP_STUDY_CSV}: no successful row"]
    named = sorted(set(rows.loc[rows["role"] == "usual", "mapping"]))
    if usual and named != [usual]:
        lines.append(f"  ! the first row of each message names {', '.join(named)}, not {usual}: "
                     "the ratios are to those rows")
    lines += [
        "  memory_type: the type the guest kernel's PAT list gave the mapping, as recorded (never inferred from the",
        "  name: Linux keeps a physical range's first memory type for later mappings of it). Medians over the",
        "  successful messages (n) of phase A (hot read), B (cold read, after clflush) and C (copy region ->",
        "  private buffer): us = ns / 1e3, MB/s = frame bytes / median time * 1e3 (1 MB = 1e6 B); x = median time",
        "  / the usual mapping's median time at the same size (1.00x = usual, above 1 = slower). A mapping is",
        f"  called faster or slower only when the medians differ by at least {round(100 * (CLEAR_DIFFERENCE - 1))}% "
        f"and at least {round(100 * CLEAR_AGREEMENT)}% of the",
        "  messages (each ran through both mappings) agree. The second mapping is always timed right after the",
        "  usual one, so an order effect (e.g. what the first pass left in the caches) counts into the difference.",
    ]
    same = same_memory_type_line(rows)
    if same:
        lines.append(f"  {same}")
    header = ["mapping", "memory_type", "n"] + [f"{letter}_{unit}" for letter, _, _ in MAP_PHASES
                                                for unit in ("us", "MB/s", "x")]
    for size in sorted(rows["size_bytes"].unique()):
        in_size = rows[rows["size_bytes"] == size]
        frames = "/".join(sorted(in_size["frame_type"].unique()))
        tests = ", ".join(t for t in ("latency", "bandwidth") if t in set(in_size["test"]))
        lines += ["", f"  Frame {frames}, {size:.0f} bytes ({tests} test)"]
        base = in_size[in_size["role"] == "usual"]
        base_median = {column: base[column].median() for _, _, column in MAP_PHASES}
        groups = sorted(in_size.groupby(["role", "mapping", "memory_type"]),
                        key=lambda item: (item[0][0] != "usual", item[0]))
        table, conclusions = [], []
        for (role, mapping, memory_type), group in groups:
            cells = [f"{mapping} ({role})", memory_type, str(len(group))]
            for _, _, column in MAP_PHASES:
                median = group[column].median()
                cells += [fmt(median / 1e3, 3), fmt_mbps(mbps(size, median)),
                          fmt_ratio(median / base_median[column])]
            table.append(cells)
            if role == "usual":
                continue
            quiet = []
            for letter, words, column in MAP_PHASES:
                sentence = map_phase_conclusion(base, group, column, tcg) if not base.empty else None
                if sentence:
                    conclusions.append(f"phase {letter} ({words}): {sentence}")
                else:
                    quiet.append(letter)
            if quiet:
                conclusions.append(f"{mapping} ({role}, {memory_type}): no difference shown in phase "
                                   f"{', '.join(quiet)} (medians within {round(100 * (CLEAR_DIFFERENCE - 1))}% "
                                   f"or fewer than {round(100 * CLEAR_AGREEMENT)}% of the messages agree)")
        lines += fmt_table(header, table, indent="    ")
        if conclusions:
            lines += [f"    Conclusions for {frames} (this run's data only):"] + [f"      {c}" for c in conclusions]
    return lines
