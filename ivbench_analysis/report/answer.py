"""The answer a person came for, in words and at most MAX_LINES lines: the stream's frames/s and latency, the
lock-step round trip, the guest's copy against private memory, the mapping, the transports (when a run has
their figures), the bottleneck where the data shows one, and how far to trust it all. It opens
performance_report.txt and report.html and ends the terminal output.

Every number in it is a cell of the section it summarises, made by the same function from the same object:
the HEADLINE FIGURES cells (report.figures.figure_row of the same repeats.FigureResult) and the BOTTLENECK
ratios (region_private.slower_stages over the same comparisons). The copy line and the bottleneck line are
about the same frame and their medians are over the same samples (region_private: switched-out guest phases
left out on both sides), so they cannot contradict each other. A new kind of figure adds its line by one
function in ANSWER_PARTS."""

from dataclasses import dataclass

from ..intervals import UNRELIABLE_HALF_WIDTH
from ..manifest import TCG_WARNING, is_tcg, lookup
from ..region_private import (
    REGION_RATIO_THRESHOLD, bandwidth_comparisons, latency_comparisons, not_compared, slower_stages,
)
from ..streams import DIRECTION_ARROWS, H2G, load_streams, stream_figures
from .breakdown import NOT_COMPARED_WORDS
from .figures import HEADER, NOT_RELIABLE, figure_row
from .streaming import bottleneck_lines as stream_bottlenecks
from .text import fmt, section

ANSWER_TITLE = "ANSWER"
# The whole answer on the terminal and at the top of the report, its title included.
MAX_LINES = 12
# Streams named one a line; more are counted on one line.
MAX_STREAM_LINES = 3


@dataclass(frozen=True)
class AnswerLine:
    """One line of the answer: what it is about, its words, and the headline figure keys it quotes."""
    topic: str
    text: str
    keys: tuple = ()


def cells(result):
    """The HEADLINE FIGURES row of a figure, by column name."""
    return dict(zip(HEADER, figure_row(result)))


def quote(result):
    """A figure as the HEADLINE FIGURES table shows it: median, unit, interval, reliability."""
    c = cells(result)
    if c["95%_low"] == "n/a":
        text = f"{c['median']} {c['unit']} (no interval)"
    else:
        text = f"{c['median']} {c['unit']} (95% {c['95%_low']}-{c['95%_high']})"
    return text if result.reliable else f"{text}, {NOT_RELIABLE}"


def quote_mbps(result):
    c = cells(result)
    if c["MB/s_low"] == "n/a":
        return f"{c['MB/s']} MB/s"
    return f"{c['MB/s']} MB/s (95% {c['MB/s_low']}-{c['MB/s_high']})"


def plain(value, limit=80):
    """A run.json value on one line of printable text (it is untrusted: no control characters)."""
    text = "unknown" if value in (None, "") else str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def stream_title(frame_policy_verify, direction, more=()):
    """How the answer names a stream, in each of its lines: "Stream 4k block xxh3, host -> guest" and its
    consumer and "duplex" words where they apply."""
    extra = "".join(f" {word.replace('-', ' ')}" for word in more)
    return f"Stream {' '.join(frame_policy_verify)}, {DIRECTION_ARROWS.get(direction, direction)}{extra}"


def stream_lines(ctx):
    figures = ctx.headline.by_key()
    streams = [key[:-len("/fps")] for key in figures if key.startswith("stream/") and key.endswith("/fps")]
    out = []
    for base in streams[:MAX_STREAM_LINES]:
        fps = figures[base + "/fps"]
        # stream/<frame>/<policy>/<check>, /guest-to-host when the guest produced, /consumer-N with several
        # consumers, /duplex both ways at once (repeats.stream_samples)
        words = base.split("/")[1:]
        direction = words[3] if len(words) > 3 else H2G
        text = f"{stream_title(words[:3], direction, words[4:])}: {quote(fps)}"
        keys = (fps.spec.key,)
        latency = figures.get(base + "/latency")
        if latency is not None:
            text += f"; {'latency' if direction == H2G else 'host hold'} {quote(latency)}"
            keys += (latency.spec.key,)
        out.append(AnswerLine("stream", text, keys))
    if len(streams) > MAX_STREAM_LINES:
        out.append(AnswerLine("stream", f"... and {len(streams) - MAX_STREAM_LINES} more streams (STREAMING)"))
    return out


def roundtrip_lines(ctx):
    figures = ctx.headline.by_key()
    roundtrip = figures.get("latency/roundtrip_ns")
    if roundtrip is None:
        return []
    size = figures["latency/host_memcpy_ns"].spec.size if "latency/host_memcpy_ns" in figures else None
    name = lookup(first_manifest(ctx), "options", "latency_frame")
    frame = (f"{plain(name)} frame, " if name else "") + (f"{size} B" if size else "size unknown")
    return [AnswerLine("roundtrip", f"Lock-step round trip ({frame}, host -> guest -> host): {quote(roundtrip)}",
                       (roundtrip.spec.key,))]


def copy_figures(ctx):
    """The headline figures of phase C the copy line quotes: (on the region, on private memory or None) of the
    latency frame, else of the largest bandwidth frame; None when the run has neither."""
    figures = ctx.headline.by_key()
    private = {r.spec.size: r for key, r in figures.items() if key.startswith("reference/")
               and key.endswith("/guest_second_pass_ns") and r.figure is not None}
    candidates = [figures.get("latency/guest_second_pass_ns")]
    candidates += sorted((r for key, r in figures.items() if key.startswith("bandwidth/")
                          and key.endswith("/guest_memcpy_ns")), key=lambda r: -(r.spec.size or 0))
    for region in candidates:
        if region is not None and region.figure is not None and region.spec.size is not None:
            return region, private.get(region.spec.size)
    return None


def copy_lines(ctx):
    """Phase C on the shared region against the same copy on private memory: the latency frame's, else the
    largest bandwidth frame's that has a reference."""
    found = copy_figures(ctx)
    if found is None:
        return []
    region, reference = found
    text = f"Guest's copy out of the region (phase C, {region.spec.size} B): {quote_mbps(region)}"
    if reference is None:
        return [AnswerLine("copy", text + "; no copy on private memory of this size to set it against",
                           (region.spec.key,))]
    text += f"; on private memory {quote_mbps(reference)}"
    if region.all_switched or reference.all_switched:
        text += f" ({NOT_COMPARED_WORDS}: not compared)"
    return [AnswerLine("copy", text, (region.spec.key, reference.spec.key))]


def copy_comparisons(ctx):
    """(which frame, region_private comparisons) of the frame the copy line is about, for the bottleneck line."""
    found = copy_figures(ctx)
    if found is None:
        return None, []
    region = found[0]
    if region.spec.key.startswith("latency/"):
        return "latency frame", latency_comparisons(ctx.run)
    frame = region.spec.key.split("/")[1]
    return f"bandwidth frame {frame}", bandwidth_comparisons(ctx.run, frame, region.spec.size)


def first_manifest(ctx):
    runs = ctx.headline.run_set.runs
    return runs[0].manifest if runs else {}


def mapping_lines(ctx):
    m = first_manifest(ctx)
    return [AnswerLine("mapping", f"Mapping: guest {plain(lookup(m, 'guest', 'mapping'))}, memory type "
                                  f"{plain(lookup(m, 'guest', 'memory_type'))}; VM {plain(lookup(m, 'meta', 'vm'))}, "
                                  f"accelerator {plain(lookup(m, 'meta', 'accel'))}")]


def transport_lines(ctx):
    """Is ivshmem worth it: the TRANSPORTS section's sentence of the frames test against the transport closest
    to ivshmem (the smallest ratio of frames/s), when the run (or set) compared transports."""
    frames = [(r, sentence) for r, sentence in ctx.summary.transports if r.test == "frames" and r.ratio is not None]
    if not frames:
        return []
    _, sentence = min(frames, key=lambda pair: pair[0].ratio.ratio)
    more = len(ctx.summary.transports) - 1
    tail = f" (the transport closest to ivshmem; {more} more in TRANSPORTS)" if more else ""
    return [AnswerLine("transport", f"Transports: {sentence}{tail}")]


def bottleneck_lines(ctx):
    """The bottleneck as the BOTTLENECK and STREAMING sections derive it; nothing for a set of runs (each
    run's own report says it) or when the data shows none."""
    run = ctx.run
    if run is None:
        return []
    if is_tcg(run.manifest):
        return [AnswerLine("bottleneck", "Bottleneck: none derived from emulator timings (TCG)")]
    out = []
    what, comparisons = copy_comparisons(ctx)
    if comparisons:
        slower = slower_stages(comparisons)
        if slower:
            stages = ", ".join(f"{label} {fmt(ratio, 2)}x" for label, ratio in slower)
            noisy = " (noisy run: this may be the load)" if any(item.noisy for item in ctx.headline.noise) else ""
            text = (f"Bottleneck: the shared mapping: {stages} as long as on private memory ({what}, medians "
                    f"without the switched-out phases){noisy}")
        else:
            text = (f"Bottleneck: none in the mapping: no stage more than {REGION_RATIO_THRESHOLD}x slower on the "
                    f"shared region than on private memory ({what})")
        skipped = not_compared(comparisons)
        if skipped:
            text += f"; not compared ({NOT_COMPARED_WORDS}): {', '.join(skipped)}"
        out.append(AnswerLine("bottleneck", text))
    for stream in load_streams(run).streams[:1]:
        sentences = stream_bottlenecks(stream, stream.record, stream_figures(stream))
        if sentences:
            more = ((f"consumer-{stream.consumer}",) if stream.several_consumers else ()) + \
                (("duplex",) if stream.duplex else ())
            title = stream_title((stream.frame_type, stream.policy, stream.verify), stream.direction, more)
            out.append(AnswerLine("bottleneck", f"{title}: {sentences[0]}"))
    return out


def trust_lines(ctx):
    results, noise = ctx.headline.results, ctx.headline.noise
    unreliable = sum(1 for r in results if not r.reliable)
    if len(noise) == 1:
        item = noise[0]
        verdict = (f"noise {plain(item.verdict.text, 200)}" if item.verdict is not None
                   else "noise unknown (inputs unusable)")
    else:
        noisy = sum(1 for item in noise if item.noisy)
        verdict = f"{noisy} of {len(noise)} runs noisy"
    text = (f"Trust: {verdict}; {unreliable} of {len(results)} figures {NOT_RELIABLE} (95% interval further than "
            f"{100 * UNRELIABLE_HALF_WIDTH:.0f}% from the median)")
    out = [AnswerLine("trust", text)]
    if any(is_tcg(run.manifest) for run in ctx.headline.run_set.runs):
        out.append(AnswerLine("trust", f"! {TCG_WARNING}"))
    return out


# The answer's lines in order; a new kind of result adds its function here.
ANSWER_PARTS = [stream_lines, roundtrip_lines, copy_lines, mapping_lines, transport_lines, bottleneck_lines,
                trust_lines]


def answer_lines(ctx):
    """The answer over a report's figures (report.layout.Context), MAX_LINES lines at most with its title."""
    out = [line for part in ANSWER_PARTS for line in part(ctx)]
    room = MAX_LINES - 2
    if len(out) > room:  # the trust lines stay: keep the last ones
        trust = [line for line in out if line.topic == "trust"]
        out = [line for line in out if line.topic != "trust"][:room - len(trust)] + trust
    return out


def answer_title(ctx):
    runs = len(ctx.headline.run_set.runs)
    return f"{ANSWER_TITLE} (medians over {runs} run{'s' if runs > 1 else ''} with 95% intervals; details below)"


def answer_section(ctx, lines):
    """The answer as performance_report.txt and the terminal show it: a section of its own."""
    return section(answer_title(ctx)) + ["  " + line.text for line in lines] + [""]
