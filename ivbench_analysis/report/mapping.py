"""MAPPING STUDY: phases A-C (reads) and W (the guest writing into the region) through each of the guest's
mappings of the region (uc, wc, wb; mapping_study.csv) against private memory (the reference messages of the
same size)."""

from ..manifest import MANIFEST_JSON, is_tcg, lookup
from ..model import MAP_PHASES, MAP_STUDY_CSV
from ..region_private import private_side
from ..stats import mbps, ratio, reference_for_size, successful
from .copy_study import CLEAR_AGREEMENT, CLEAR_DIFFERENCE, clear_verdict
from .text import fmt, fmt_mbps, fmt_ratio, fmt_table, section

# The reference messages' columns that ran each phase on private memory. Phase W writes the frame from a
# private, cache-hot buffer into the region: on private memory that is phase C's memcpy, private to private.
PRIVATE_COLUMNS = {"hot_read_ns": "guest_hot_cache_ns", "cold_read_ns": "guest_cold_cache_ns",
                   "copy_ns": "guest_second_pass_ns", "write_ns": "guest_second_pass_ns"}
# What a mapping is, by the name the CSV gives it.
MAPPING_WORDS = {"resource2": "uc", "resource2_wc": "wc", "ivshmem_region": "wb", "shm": "loopback file"}
# The order the table lists them in: the sysfs mappings, then the driver's.
MAPPING_ORDER = ("resource2", "resource2_wc", "ivshmem_region", "shm")

TCG_MEANING = ("Accelerator tcg: under TCG the memory type does not change speed (QEMU emulates every access "
               "alike), so these figures show that each mapping works, not what its memory type costs.")
KVM_MEANING = ("Accelerator kvm: here the memory type can change speed by orders of magnitude: where KVM honours "
               "the guest's PAT (always on AMD; on Intel when the IGNORE_GUEST_PAT quirk is off), reads of BAR2 "
               "through resource2 (UC-) are uncached, so phase B/C far below wb and private memory means the "
               "mapping is the bottleneck; equal figures mean it is not, on this host.")
UNKNOWN_MEANING = ("Accelerator unknown: under TCG the memory type does not change speed; on KVM it can by "
                   "orders of magnitude (uncached reads of BAR2 through resource2 where KVM honours the guest's PAT).")


def accelerator_meaning(manifest):
    """The one sentence on what the figures mean on this run's accelerator."""
    accel = str(lookup(manifest, "meta", "accel", default="")).lower()
    return {"tcg": TCG_MEANING, "kvm": KVM_MEANING}.get(accel, UNKNOWN_MEANING)


def mapping_label(mapping):
    words = MAPPING_WORDS.get(mapping)
    return f"{words} ({mapping})" if words else mapping


def missing_lines(manifest):
    """The mappings the guest could not make, with the reason run.json gives."""
    missing = lookup(manifest, "map_study", "missing", default=[])
    lines = []
    for entry in missing if isinstance(missing, list) else []:
        if isinstance(entry, dict):
            mapping = str(entry.get("mapping", "unknown"))
            lines.append(f"  ! {mapping_label(mapping)} is missing from the study: {entry.get('why', 'no reason given')}")
    return lines


def private_medians(run, size):
    """Median times of phases A-C on private memory (successful reference messages of this size, their
    switched-out phases left out: region_private.private_side, as every comparison with private memory), and
    how many reference messages; None when there is none of this size."""
    sides = {column: private_side(run, size, private) for column, private in PRIVATE_COLUMNS.items()}
    if any(s is None for s in sides.values()):
        return None
    return {column: s.median for column, s in sides.items()}, len(reference_for_size(run.reference, size))


def phase_conclusion(base, other, column, tcg):
    """One phase through another mapping against the baseline mapping, message by message (clear_verdict):
    a sentence when the data shows a difference, else None."""
    both = base[["_message", column]].merge(other[["_message", column]], on="_message",
                                             suffixes=("_base", "_other")).dropna()
    n = len(both)
    if n == 0:
        return None
    faster = int((both[f"{column}_other"] < both[f"{column}_base"]).sum())
    slower = int((both[f"{column}_other"] > both[f"{column}_base"]).sum())
    time_ratio = ratio(other[column].median(), base[column].median())
    if not time_ratio > 0:  # a median of 0 ns (SUSPECT): no ratio, no claim
        return None
    direction = clear_verdict(time_ratio, faster, slower, n)
    if direction not in ("faster", "slower"):
        return None
    factor, agree = (time_ratio, slower) if direction == "slower" else (1 / time_ratio, faster)
    sentence = (f"{fmt(factor, 2)}x {direction} through {mapping_label(other['mapping'].iloc[0])} than through "
                f"{mapping_label(base['mapping'].iloc[0])}, {direction} in {agree} of {n} messages")
    return sentence + ("; under TCG this is not an effect of the memory type" if tcg else "")


def order_line(rows):
    """Whether the rotation did its job: each mapping's count of messages in which it went first."""
    first = rows[rows["order"] == 0]
    counts = {mapping: int((first["mapping"] == mapping).sum()) for mapping in sorted(set(rows["mapping"]))}
    if len(counts) < 2:
        return None
    text = ", ".join(f"{mapping_label(m)} {n}" for m, n in counts.items())
    never = [m for m, n in counts.items() if n == 0]
    if never:
        return f"  ! went first (order 0): {text}: the order did not rotate, an order effect counts into the figures"
    return f"  Went first (order 0) in: {text} messages: the order rotates, so no mapping always goes first."


def size_block(run, rows, size):
    """The table and conclusions of one frame size."""
    in_size = rows[rows["size_bytes"] == size]
    frames = "/".join(sorted(in_size["frame_type"].unique()))
    tests = ", ".join(t for t in ("latency", "bandwidth", "reference") if t in set(in_size["test"]))
    lines = ["", f"  Frame {frames}, {size:.0f} bytes ({tests} test)"]
    private = private_medians(run, size)
    header = ["mapping", "memory_type", "n"] + [f"{letter}_{unit}" for letter, _, _ in MAP_PHASES
                                                for unit in ("MB/s", "x_priv")]
    table = []
    mappings = sorted(set(in_size["mapping"]), key=lambda m: (MAPPING_ORDER.index(m) if m in MAPPING_ORDER
                                                               else len(MAPPING_ORDER), m))
    for mapping in mappings:
        for memory_type, group in sorted(in_size[in_size["mapping"] == mapping].groupby("memory_type")):
            cells = [mapping_label(mapping), memory_type, str(len(group))]
            for _, _, column in MAP_PHASES:
                median = group[column].median()
                cells += [fmt_mbps(mbps(size, median)),
                          fmt_ratio(ratio(private[0][column], median)) if private else "-"]
            table.append(cells)
    if private:
        cells = ["private (reference)", "write-back", str(private[1])]
        for _, _, column in MAP_PHASES:
            cells += [fmt_mbps(mbps(size, private[0][column])), fmt_ratio(1.0)]
        table.append(cells)
    lines += fmt_table(header, table, indent="    ")
    if not private:
        lines.append("    no successful reference message of this size: no comparison with private memory")
    base_name = next((m for m in ("ivshmem_region", "shm") if m in mappings), mappings[0])
    base = in_size[in_size["mapping"] == base_name]
    conclusions = []
    for mapping in mappings:
        if mapping == base_name:
            continue
        other = in_size[in_size["mapping"] == mapping]
        for letter, words, column in MAP_PHASES:
            sentence = phase_conclusion(base, other, column, is_tcg(run.manifest))
            if sentence:
                conclusions.append(f"phase {letter} ({words}): {sentence}")
    if len(mappings) > 1:
        if not conclusions:
            conclusions.append(f"no mapping differs from {mapping_label(base_name)} in phases A-C and W (medians within "
                               f"{round(100 * (CLEAR_DIFFERENCE - 1))}% or fewer than "
                               f"{round(100 * CLEAR_AGREEMENT)}% of the messages agree)")
        lines += [f"    Conclusions for {frames} (this run's data only):"] + [f"      {c}" for c in conclusions]
    return lines


def mapping_study_section(run):
    manifest = run.manifest
    data = run.map_study
    exists = (run.folder / MAP_STUDY_CSV).exists()
    if data is None and not exists and lookup(manifest, "options", "map_study") is not True:
        return []
    lines = section(f"MAPPING STUDY (phases A-C and W through each of the guest's mappings of the region; "
                    f"{MAP_STUDY_CSV})")
    lines.append(f"  {accelerator_meaning(manifest)}")
    lines.append(f"  Guest's usual mapping: {lookup(manifest, 'guest', 'mapping') or 'unknown'} "
                 f"({MANIFEST_JSON} guest.mapping); the study maps the region again each way it can.")
    lines += missing_lines(manifest)
    if data is None:
        if exists:
            return lines + [f"  {MAP_STUDY_CSV} is unreadable: see MISSING OR UNREADABLE INPUT"]
        return lines + [f"  {MANIFEST_JSON} says --map-study, but {MAP_STUDY_CSV} is missing"]
    rows = successful(data)
    if rows.empty:
        return lines + [f"  {MAP_STUDY_CSV}: no successful row"]
    lines += [
        "  memory_type: the type the guest kernel gave each mapping once all existed, as recorded (PAT list for",
        "  resource2/resource2_wc, the page table entry for ivshmem_region; Linux keeps a physical range's first",
        "  type for later mappings of it). MB/s = frame bytes / median time * 1e3 (1 MB = 1e6 B) over the",
        "  successful messages (n) of phase A (hot read), B (cold read, after clflush), C (copy region ->",
        "  private buffer) and W (the guest writing the frame into the region from a private buffer, fenced:",
        "  the producer's side when the guest writes frames); x_priv = the mapping's MB/s / private memory's",
        "  (the reference messages of the same size, whose phase C is W's private counterpart, their switched-out",
        "  phases left out as in HEADLINE FIGURES; 1.00x = as fast as private memory, below 1 = slower). A mapping",
        "  is called faster or slower",
        f"  than another only when the medians differ by at least {round(100 * (CLEAR_DIFFERENCE - 1))}% and at "
        f"least {round(100 * CLEAR_AGREEMENT)}% of the messages (each ran",
        "  through every mapping) agree.",
    ]
    line = order_line(rows)
    if line:
        lines.append(line)
    for size in sorted(rows["size_bytes"].unique()):
        lines += size_block(run, rows, size)
    return lines
