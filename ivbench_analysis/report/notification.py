"""NOTIFICATION AND CPU: the mode, each side's CPU time against its wall time and per message, the
doorbell's counts; notification.png draws the CPU figures."""

from ..manifest import MANIFEST_JSON, MODE_WORDS, SIDES, bell_record, cpu_record, lookup, run_interval, run_mode
from ..stats import cpu_figures, latency_medians
from .text import fmt, fmt_share, fmt_table, section


def missing_cpu(manifest, side):
    """Why a side has no usable CPU record, for the report and --compare."""
    if lookup(manifest, side, "cpu") is not None:
        return f"{side} CPU unusable (see SUSPECT FIGURES)"
    # host_writer measures its own CPU time always; only the guest's record can be missing for a reason
    why = lookup(manifest, side, "cpu_missing") if side == "guest" else None
    return f"{side} CPU not recorded" + (f": {why}" if why else "")


def interval_line(interval, medians):
    """What a pause between messages makes of the core shares, as far as the latency test shows it."""
    head = f"  Messages started {interval} us apart (--interval-us)"
    if medians is None:
        return head + ": without a latency test, how much of the time is waiting is not known"
    roundtrip = medians[1]
    if roundtrip >= interval:
        return (head + f", but the median round trip ({fmt(roundtrip, 1)} us) is not shorter: the messages "
                "follow each other without a pause, so the core shares are not an idle cost")
    return (head + f": the median round trip is {fmt(roundtrip, 1)} us, so about "
            f"{fmt(100 * (1 - roundtrip / interval), 1)}% of the time between messages is waiting; the core "
            "shares above are mostly what waiting costs (idle cost)")


def bell_line(bell, side):
    return (f"  {side} doorbell: peer {bell['peer_id']}, {bell['rings_sent']} rings sent, {bell['rings_received']} "
            f"received, {bell['late_wakeups']} waits ended on a 50 ms slice instead of a ring")


def side_cpu(manifest):
    """Per side: (side, its cpu_record, stats.cpu_figures of it), both None when unusable: the one computation
    of the section's table and of notification.png."""
    out = []
    for side in SIDES:
        cpu = cpu_record(manifest, side)
        out.append((side, cpu, None if cpu is None else cpu_figures(cpu)))
    return out


def plot_notification(run, path):
    """notification.png: each side's CPU per message (ms, user and system) and its share of a core, as in the
    table; False when no side has a usable CPU record."""
    measured = [(side, cpu, f) for side, cpu, f in side_cpu(run.manifest) if cpu is not None]
    if not measured:
        return False
    from ..plots import pyplot, run_title, save  # matplotlib only when plotting

    plt = pyplot()
    fig, (per_message, share) = plt.subplots(1, 2, figsize=(11, 4))
    sides = [side for side, _, _ in measured]
    user = [1000 * cpu["user_s"] / cpu["messages"] if cpu["messages"] else 0 for _, cpu, _ in measured]
    system = [1000 * cpu["sys_s"] / cpu["messages"] if cpu["messages"] else 0 for _, cpu, _ in measured]
    per_message.bar(sides, user, label="user", color="tab:blue")
    per_message.bar(sides, system, bottom=user, label="system", color="tab:orange")
    per_message.set_title("CPU per message (cpu_ms/msg)", fontsize="medium")
    per_message.set_ylabel("ms per message (= CPU s per 1000)")
    per_message.legend(fontsize="small")
    share.bar(sides, [100 * (f["core_share"] or 0) for _, _, f in measured], color="tab:blue")
    share.axhline(100, color="black", linewidth=0.8, linestyle="--", label="one core")
    share.set_title("Share of a core (core_share: CPU / wall time)", fontsize="medium")
    share.set_ylabel("core_share (%)")
    share.legend(fontsize="small")
    for ax in (per_message, share):
        ax.grid(True, axis="y", alpha=0.3)
    mode = run_mode(run.manifest)
    frame = run.latency_frame_bytes
    fig.suptitle(run_title(f"Notification and CPU: mode {mode or 'unknown'}, lock-step tests"
                           + (f", latency frame {frame} B" if frame else ""), run.manifest))
    save(fig, path, run.manifest)
    return True


def notification_section(run):
    """What each side's waiting cost: the mode, CPU time against wall time, per message, and the latency."""
    m = run.manifest
    mode = run_mode(m)
    shown = mode or ("not recorded" if lookup(m, "options", "mode") is None else "unknown, see SUSPECT FIGURES")
    lines = section(f"NOTIFICATION AND CPU (mode: {shown})")
    if not m:
        return lines + [f"  {MANIFEST_JSON} missing: mode and CPU time unknown"]
    if mode is not None:
        lines.append(f"  {mode}: {MODE_WORDS[mode]}")
    rows, missing = [], []
    for side, cpu, f in side_cpu(m):
        if cpu is None:
            rows.append([side] + ["n/a"] * 6)
            missing.append(f"  {missing_cpu(m, side)}")
            continue
        rows.append([side, fmt(cpu["user_s"], 3), fmt(cpu["sys_s"], 3), fmt(cpu["wall_s"], 3),
                     fmt_share(f["core_share"]), f"{cpu['messages']:.0f}", fmt(f["per_1000_s"], 3)])
    lines += fmt_table(["side", "user_s", "sys_s", "wall_s", "core_share", "messages", "cpu_ms/msg"], rows)
    lines += missing
    lines.append("  (getrusage of each program over its exchanges, warm-up and every test included: the host's also "
                 "covers making and hashing frames, the guest's its four phases; in a VM, the guest's is guest CPU "
                 "time. cpu_ms/msg is also the CPU seconds per 1000 messages; core_share is CPU / wall time)")
    medians = latency_medians(run.latency)
    if medians is None:
        lines.append("  Latency test: no successful message recorded, so no round trip or notification time")
    else:
        lines.append(f"  Latency test ({medians[0]} messages): median round trip {fmt(medians[1], 3)} us, "
                     f"median notification (est.) {fmt(medians[2], 3)} us")
    interval = run_interval(m)
    if interval:
        lines.append(interval_line(interval, medians))
    for side in SIDES:
        bell = bell_record(m, side)
        if bell is None:
            if lookup(m, side, "doorbell") is not None:
                lines.append(f"  {side} doorbell counts unusable (see SUSPECT FIGURES)")
            elif mode == "doorbell":
                lines.append(f"  {side} doorbell counts not recorded")
            continue
        lines.append(bell_line(bell, side))
        if bell["late_wakeups"] > 0:
            lines.append(f"  ! {side}: {bell['late_wakeups']} waits saw the state change with no ring within "
                         "50 ms (a ring lost or late): those messages' times include up to 50 ms of waiting")
    return lines
