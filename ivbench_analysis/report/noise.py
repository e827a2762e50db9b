"""NOISE: each run's noise verdict (noise.noise_verdict on run.json's noise block and the phase counters)
and the headline figures it affected: those holding samples of a noisy run, and those its switched-out
phases were left out of."""

import textwrap

from ..noise import NOT_RECORDED
from .text import section

WIDTH = 110


def listed(head, items):
    """head and the items, comma-separated, wrapped under each other."""
    return textwrap.wrap(head + ", ".join(items), WIDTH, initial_indent="    ", subsequent_indent="      ",
                         break_on_hyphens=False)


def noise_section(noise_results, results):
    lines = section("NOISE (per run: run.json noise block, context switches of the timed phases)")
    for item in noise_results:
        if item.verdict is None:
            lines.append(f"  {item.label}: noise inputs unusable: {item.error}")
            continue
        text = item.verdict.text
        if item.verdict.state != NOT_RECORDED and item.verdict.not_recorded:
            text += f" (not recorded: {', '.join(item.verdict.not_recorded)})"
        lines.append(f"  {item.label}: {text}")
        if item.noisy:
            affected = [r.spec.label for r in results if item.label in r.noisy_runs]
            lines += listed(f"affects {len(affected)} figures (its samples are in them): ", affected)
        switched = [f"{r.spec.label} {s.left_out} of {s.total}" for r in results for label, s in r.per_run
                    if label == item.label and s.left_out]
        if switched:
            lines += listed("switched out, left out: ", switched)
    noisy = [item.label for item in noise_results if item.noisy]
    if noisy:
        lines.append(f"  {len(noisy)} of {len(noise_results)} runs noisy: their figures measured the machine's "
                     "load as well; rerun on a quiet machine before comparing them")
    return lines
