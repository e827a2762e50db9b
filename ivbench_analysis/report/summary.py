"""The closing sections: BOTTLENECK and SUSPECT FIGURES."""

from ..manifest import TCG_WARNING, is_tcg
from ..model import FRESH_PAGES, PREFAULTED, WRITE_STUDY_CSV
from ..stats import MAX_PLAUSIBLE_MBPS
from .text import section


def bottleneck_section(run, summary):
    lines = section("BOTTLENECK (derived from this run's data only)")
    lines += summary.bottleneck_latency + summary.bottleneck_bandwidth
    if len(lines) == 3:
        lines.append("  no successful iterations: nothing to attribute")
    if is_tcg(run.manifest):
        lines.append(f"  ! {TCG_WARNING}")
    return lines


def suspect_section(findings):
    lines = section("SUSPECT FIGURES (physically implausible or inconsistent; do not trust them as results)")
    lines += [
        f"  checks: durations > 0, guest phases within their round trip, notification_est >= 0, legacy duplicate "
        f"columns equal, derived us/ms/MB/MB/s columns consistent, bandwidth <= {MAX_PLAUSIBLE_MBPS:.0f} MB/s;",
        f"  {WRITE_STUDY_CSV}: {PREFAULTED} = phase C of the same message, {FRESH_PAGES} "
        "takes page faults; counter files: IPC, cycles/byte and miss rates consistent with the raw counters",
    ]
    return lines + ["  " + f for f in findings] if findings else lines + ["  none found"]
