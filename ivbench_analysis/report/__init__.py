"""performance_report.txt: the sections in report order, one module each."""

from .bandwidth import bandwidth_sections
from .copy_study import copy_time_section
from .counters import counter_sections
from .environment import environment_section
from .latency import latency_sections
from .mapping import mapping_study_section
from .notification import notification_section
from .reference import reference_sections
from .streaming import streaming_section
from .summary import bottleneck_section, suspect_section
from .text import section


def build_report(run, findings, summary):
    lines = [
        "ivshmem-bench performance report",
        "================================",
        f"Results folder: {run.folder.resolve()}",
        "Units: times in ns as measured (CLOCK_MONOTONIC), us = 1e3 ns, ms = 1e6 ns; 1 MB = 1e6 bytes,",
        "1 MiB = 2^20 bytes; MB/s = bytes / ns * 1e3. Statistics use successful iterations only.",
    ]
    if run.notes:
        lines += section("MISSING OR UNREADABLE INPUT") + ["  " + n for n in run.notes]
    lines += environment_section(run)
    lines += latency_sections(run, summary)
    lines += bandwidth_sections(run, summary)
    lines += reference_sections(run)
    lines += streaming_section(run)
    lines += copy_time_section(run, summary)
    lines += mapping_study_section(run)
    lines += counter_sections(run)
    lines += notification_section(run)
    lines += bottleneck_section(run, summary)
    lines += suspect_section(findings)
    return "\n".join(lines) + "\n"
