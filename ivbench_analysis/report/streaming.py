"""STREAMING: per stream of the stream test, frames/s and MB/s against the same run's pipeline limit and the
lock-step bandwidth test, latency percentiles, each side's time per frame, drops, failed and unverified
frames, CPU and rings per frame; bottleneck sentences only where the figures show one."""

from ..manifest import MANIFEST_JSON, TCG_WARNING, is_tcg
from ..model import BANDWIDTH_CSV
from ..streams import (
    G2H, H2G, LATENCY_PERCENTILES, STREAM_CSV, guest_work, is_doorbell, load_streams, lockstep_fps,
    stream_figures,
)
from .text import fmt, fmt_ratio, section

# A side counts as the slower one when its time per frame is at least this much longer than the other's.
SLOWER_FACTOR = 1.1
# A stream at or above this share of its pipeline limit runs at that limit.
AT_LIMIT = 0.9
# A part of the guest's time per frame worth naming.
MAJOR_SHARE = 0.5
# The stream's copy out of a slot against the same copy on private memory: name it from this ratio on.
REGION_COPY_FACTOR = 1.5
# Which way the frames went, as the section says it (no arrow: "->" starts a bottleneck sentence here).
DIRECTION_TEXT = {H2G: "host to guest", G2H: "guest to host"}
# How the consumer read each frame, as the report says it.
CONSUME_TEXT = {"inplace": "read in place (verified in its slot, no copy)",
                "copy": "copied out (the copy verified)"}


def ms(ns, decimals=3):
    return fmt(None if ns is None else ns / 1e6, decimals)


def percent(part, whole):
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def roles(stream):
    """(producer, consumer) of a stream's frames, as the report names them."""
    return ("the guest", "the host") if stream.guest_produced else ("the host", "the guest")


def head_line(stream, rec):
    size = stream.size_bytes
    size_text = f"{size} bytes ({size / 1e6:.2f} MB)" if size else "size unknown"
    paced = rec.get("fps_target")
    direction = DIRECTION_TEXT.get(stream.direction, "direction not recorded")
    parts = [f"  Stream {stream.number}: {stream.frame_type}, {size_text}, {direction}, policy {stream.policy}, "
             f"verify {stream.verify}",
             CONSUME_TEXT.get(stream.consume, "consume mode not recorded"),
             f"{rec['slots']} slots" if "slots" in rec else "slots not recorded",
             f"paced at {paced:g} frames/s" if paced else ("unpaced" if paced == 0 else "pacing not recorded")]
    if "seconds" in rec:
        parts.append(f"{rec['seconds']:g} s planned")
    if "duration_s" in rec:
        parts.append(f"{rec['duration_s']:.3f} s measured")
    if stream.several_consumers:
        parts.insert(1, f"consumer {stream.consumer} of {rec.get('consumers', 'unknown')} "
                        f"({rec.get('consumer_end', 'end not recorded')})")
    if stream.duplex:
        parts.insert(1, "both ways at once (the other direction's ring ran at the same time)")
    return ", ".join(parts)


def rate_lines(stream, f):
    size = stream.size_bytes
    if f.fps_sustained is None:
        why = "no full 1-second window" if f.windows_from else "no windows recorded and no rows to count them from"
        sustained = [f"sustained n/a ({why})"]
        mb_sustained = ["sustained n/a"]
    else:
        sustained = [f"sustained {fmt(f.fps_sustained)} (median of {len(f.windows)} one-second windows, "
                     f"from {f.windows_from})", f"slowest window {fmt(f.fps_slowest)}"]
        mb_sustained = [f"sustained {fmt(f.fps_sustained * size / 1e6)}", f"slowest window "
                        f"{fmt(f.fps_slowest * size / 1e6)}"] if size else ["n/a (size unknown)"]
    overall = f"overall {fmt(f.fps_overall)}" if f.fps_overall is not None else "overall n/a (no duration)"
    mb_overall = (f"overall {fmt(f.fps_overall * size / 1e6)}" if f.fps_overall is not None and size
                  else "overall n/a")
    return ["    frames/s: " + ", ".join(sustained + [overall]),
            "    MB/s:     " + ", ".join(mb_sustained + [mb_overall])]


def best_fps(f):
    """The stream's rate to set against others: sustained when it had a full window, else overall."""
    return f.fps_sustained if f.fps_sustained is not None else f.fps_overall


def limit_line(stream, rec, f):
    if f.limit_fps is None:
        why = "not recorded in run.json" if stream.consume in CONSUME_TEXT else "the consume mode is not known"
        return f"    pipeline limit: n/a ({why})"
    copy, verify = ms(rec['pipeline_limit.guest_copy_ns']), ms(rec['pipeline_limit.guest_verify_ns'])
    producer, consumer = (who[len("the "):] for who in roles(stream))
    work = (f"{consumer} verify {verify} ms; its copy, {copy} ms, is not part of reading in place"
            if stream.consume == "inplace" else f"{consumer} copy {copy} + verify {verify} ms")
    text = (f"    pipeline limit of this run (each side alone on private memory): {fmt(f.limit_fps)} frames/s "
            f"({producer} write {ms(rec['pipeline_limit.host_write_ns'])} ms; {work})")
    fps = best_fps(f)
    return text + (f"; the stream reaches {fmt_ratio(fps / f.limit_fps)} of it" if fps is not None else "")


def lockstep_line(run, stream, f):
    lockstep = lockstep_fps(run.bandwidth, stream)
    if lockstep is None:
        return "    lock-step bandwidth test: n/a: no bandwidth test of this frame"
    fps = best_fps(f)
    speedup = f"; the stream is {fmt_ratio(fps / lockstep)} of it" if fps is not None else ""
    return (f"    lock-step bandwidth test of {stream.frame_type} ({BANDWIDTH_CSV}, this run): {fmt(lockstep)} frames/s "
            f"(1e9 / median total_ns){speedup}")


def latency_line(stream, f):
    what = ("host hold (ms, host clock from the host's take of a frame to its release; the guest published it on "
            "its own clock, so this direction has no publish-to-release latency"
            if stream.guest_produced else "latency (ms, host clock from publish to release")
    if not f.latency:
        name = what.split(" (")[0]
        return f"    {name}: n/a (no consumed frame with a {name})"
    values = "  ".join(f"p{p:g} {ms(f.latency[p])}" for p in LATENCY_PERCENTILES)
    return f"    {what}, {f.latency_n} consumed frames): {values}"


def time_lines(stream, f):
    if stream.guest_produced:
        verify = "none (--verify none)" if stream.verify == "none" else f"{ms(f.guest_verify)} ms"
        copy = "none (read in place)" if stream.consume == "inplace" else f"{ms(f.guest_copy)} ms"
        where = " in the slot" if stream.consume == "inplace" else ""
        return [f"    host per frame (host clock, medians): copy {copy}, verify{where} against its own frames {verify}",
                "    guest per frame: its write is not recorded per frame (its write on private memory is in the "
                "pipeline limit)"]
    waited = f" (waited for {percent(f.waited_share, 1)} of frames)" if f.waited_share is not None else ""
    verify = "none (--verify none)" if stream.verify == "none" else f"{ms(f.guest_verify)} ms"
    copy = "none (read in place)" if stream.consume == "inplace" else f"{ms(f.guest_copy)} ms"
    where = " in the slot" if stream.consume == "inplace" else ""
    return [f"    guest per frame (guest clock, medians): copy {copy}, verify{where} {verify}",
            f"    host per frame (medians): write {ms(f.host_write)} ms, wait for a free slot {ms(f.slot_wait)} ms"
            + waited]


def count_lines(stream, f):
    if f.produced is None:
        return ["    frames: counts not recorded"]
    lines = [f"    drops: {f.dropped if f.dropped is not None else 'n/a'} of {f.produced} produced ("
             f"{percent(f.dropped, f.produced) if f.dropped is not None else 'n/a'}); consumed "
             f"{f.consumed if f.consumed is not None else 'n/a'}; failed verifications: "
             f"{f.failed if f.failed is not None else 'n/a'}"]
    if stream.verify == "none":
        lines.append(f"    unverified: {f.unverified}: frames were not verified (--verify none)")
    else:
        lines.append(f"    unverified: {f.unverified if f.unverified is not None else 'n/a'}")
    if f.failed:
        lines.append(f"    ! {f.failed} frame(s) arrived corrupted (failed verification)")
    return lines


def cpu_line(stream, f):
    host_per, guest_per = ("consumed", "produced") if stream.guest_produced else ("produced", "consumed")
    host = (f"host {ms(f.host_cpu_per_frame_s * 1e9)} ms (user+sys per {host_per} frame)"
            if f.host_cpu_per_frame_s is not None else "host not recorded")
    guest = (f"guest {ms(f.guest_cpu_per_frame_s * 1e9)} ms (per {guest_per} frame)"
             if f.guest_cpu_per_frame_s is not None
             else "guest n/a (SUSPECT: more CPU than the guest had)" if f.guest_cpu_beyond else "guest not recorded")
    return f"    CPU per frame: {host}, {guest}"


def rings_line(run, f):
    if not is_doorbell(run) and not f.rings:
        return []
    if f.rings is None or not f.produced:
        return ["    rings per frame (doorbell): n/a"]
    return [f"    rings per frame (doorbell): {f.rings / f.produced:.3f} ({f.rings} rings for {f.produced} frames)"]


def bottleneck_lines(stream, rec, f):
    """Sentences the figures support, each on its own: none when a figure it needs is missing."""
    out = []
    fps = best_fps(f)
    if f.limit_fps is not None and fps is not None and fps >= AT_LIMIT * f.limit_fps:
        host_ns = rec["pipeline_limit.host_write_ns"]
        guest_ns = rec["pipeline_limit.guest_verify_ns"] + (
            rec["pipeline_limit.guest_copy_ns"] if stream.consume == "copy" else 0)
        producer, consumer = roles(stream)
        side = f"{consumer}'s {guest_work(stream.consume)}" if guest_ns >= host_ns else f"{producer}'s write"
        out.append(f"the stream runs at the pipeline limit ({fmt_ratio(fps / f.limit_fps)}): {side} on private "
                   "memory sets the rate")
    guest_copy = 0 if stream.consume == "inplace" else f.guest_copy
    if None not in (guest_copy, f.guest_verify, f.host_write):
        guest = guest_copy + f.guest_verify
        work = guest_work(stream.consume)
        if stream.verify == "none":
            work = "copy" if stream.consume == "copy" else "stamp check"
        if guest >= SLOWER_FACTOR * f.host_write:
            out.append(f"the guest is the slower side: {work} per frame {ms(guest)} ms (medians), the "
                       f"host's write {ms(f.host_write)} ms")
        elif f.host_write >= SLOWER_FACTOR * guest:
            out.append(f"the host is the slower side: its write takes {ms(f.host_write)} ms per frame (median), the "
                       f"guest's {work} {ms(guest)} ms")
        if guest > 0 and guest >= f.host_write / SLOWER_FACTOR and stream.verify != "none":
            for part, ns in (("verify", f.guest_verify), ("copy out of the slot", guest_copy)):
                if ns / guest >= MAJOR_SHARE:
                    out.append(f"the guest's {part} takes {100 * ns / guest:.0f}% of its time per frame")
        target = rec.get("fps_target")
        if target and guest > 1e9 / target:
            out.append(f"the guest's {work} ({ms(guest)} ms) is longer than the frame interval "
                       f"({ms(1e9 / target)} ms at {target:g} frames/s): it cannot keep up")
    private_copy = rec.get("pipeline_limit.guest_copy_ns")
    if stream.consume == "copy" and f.guest_copy is not None and private_copy and \
            f.guest_copy >= REGION_COPY_FACTOR * private_copy:
        out.append(f"{roles(stream)[1]}'s copy out of the slot takes {fmt_ratio(f.guest_copy / private_copy)} its "
                   "time on private memory in this run")
    target = rec.get("fps_target")
    if target and fps is not None:
        out.append(f"paced at {target:g} frames/s: the stream reaches {fmt_ratio(fps / target)} of the target")
    return out


def stream_lines(run, stream, tcg):
    rec = stream.record
    f = stream_figures(stream)
    lines = ["", head_line(stream, rec)]
    if stream.rows is None:
        lines.append(f"    no rows in {STREAM_CSV}: latency and the times per frame are not known")
    if not rec:
        lines.append(f"    not in {MANIFEST_JSON}'s streams: its pipeline limit, CPU and windows are not known")
    lines += rate_lines(stream, f)
    lines += [limit_line(stream, rec, f), lockstep_line(run, stream, f), latency_line(stream, f)]
    lines += time_lines(stream, f) + count_lines(stream, f) + [cpu_line(stream, f)] + rings_line(run, f)
    if tcg:
        lines.append("    (TCG: no bottleneck is derived from emulator timings)")
    else:
        lines += [f"    -> {sentence}" for sentence in bottleneck_lines(stream, rec, f)]
    return lines


def streaming_section(run):
    lines = section(f"STREAMING ({STREAM_CSV}, {MANIFEST_JSON} streams)")
    found = load_streams(run)
    unusable = run.stream is None and (run.folder / STREAM_CSV).exists()
    if unusable:
        lines.append(f"  {STREAM_CSV} is unusable: see MISSING OR UNREADABLE INPUT")
    if not found.streams:
        return lines if unusable else lines + ["  no stream test in this run (host_writer --stream-seconds S runs one)"]
    lines += ["  The producer writes frame n+1 into a ring of slots while the consumer still reads frame n: in place",
              "  (it verifies the frame in its slot) or copied out first (it verifies the copy). host to guest: the",
              "  host produces; guest to host: the guest writes through its mapping and the host checks each frame",
              "  against frames it made itself from the same seed. frames/s and MB/s (1 MB = 1e6 B): sustained =",
              "  median over the full 1-second windows from the stream's start, slowest = the slowest of them,",
              "  overall = consumed frames / duration. Latency: host clock only, host to guest from publishing a",
              "  frame to seeing the guest release it; guest to host the host's hold (take to release). Both ways at",
              "  once (--stream-direction both): one ring each way at the same time, each direction its own stream."]
    tcg = is_tcg(run.manifest)
    if tcg:
        lines.append(f"  ! {TCG_WARNING}: the stream's figures say that it works, not how fast")
    if run.stream is not None and not found.has_block:
        lines.append(f"  {MANIFEST_JSON} has no streams list: the pipeline limit, CPU and host_writer's own counts are "
                     f"not known; windows are counted from {STREAM_CSV}")
    for stream in found.streams:
        lines += stream_lines(run, stream, tcg)
    return lines + direction_lines(found.streams)


def _alike(a, b):
    return (a.frame_type, a.policy, a.verify, a.consume) == (b.frame_type, b.policy, b.verify, b.consume)


def direction_lines(streams):
    """Each guest -> host stream against the host -> guest stream of the same frame, policy, check and consume
    mode in this run: the same memory system both ways, either at the same time (a duplex stream's two rings) or
    one after the other; and each direction of a duplex stream against the same direction alone."""
    out = []
    for g2h in (s for s in streams if s.guest_produced):
        h2g = next((s for s in streams if s.direction == H2G and s.duplex == g2h.duplex and _alike(s, g2h)), None)
        if h2g is None:
            continue
        a, b = best_fps(stream_figures(g2h)), best_fps(stream_figures(h2g))
        when = "at the same time (both ways at once)" if g2h.duplex else "one after the other"
        if a is not None and b:
            out.append(f"  Directions side by side, {when}: stream {g2h.number} (guest to host) runs at "
                       f"{fmt_ratio(a / b)} the frames/s of stream {h2g.number} (host to guest), {fmt(a)} against {fmt(b)}")
    for both in (s for s in streams if s.duplex):
        alone = next((s for s in streams if not s.duplex and s.direction == both.direction and
                      s.consumer == both.consumer and _alike(s, both)), None)
        if alone is None:
            continue
        a, b = best_fps(stream_figures(both)), best_fps(stream_figures(alone))
        if a is not None and b:
            out.append(f"  Both ways at once against alone: stream {both.number} ({DIRECTION_TEXT.get(both.direction, both.direction)}, "
                       f"beside the other direction) runs at {fmt_ratio(a / b)} the frames/s of stream {alone.number} "
                       f"(the same direction alone), {fmt(a)} against {fmt(b)}")
    return [""] + out if out else []


def stream_summary(run):
    """One line per stream for the summary on stdout."""
    out = []
    for stream in load_streams(run).streams:
        f = stream_figures(stream)
        fps = best_fps(f)
        text = f"stream {stream.label}: {fmt(fps)} frames/s"
        if fps is not None and f.limit_fps is not None:
            text += f" ({fmt_ratio(fps / f.limit_fps)} of the pipeline limit)"
        if f.latency:
            text += f", {'host hold' if stream.guest_produced else 'latency'} p99 {ms(f.latency[99])} ms"
        if f.produced:
            text += f", {f.dropped} of {f.produced} dropped, {f.failed} failed"
        out.append(text)
    return out
