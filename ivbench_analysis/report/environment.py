"""ENVIRONMENT: what run.json says about the machine, the VM, the mapping and the options."""

from ..manifest import MANIFEST_JSON, TCG_WARNING, is_tcg, lookup, run_interval, run_mode
from .text import section


def environment_section(run):
    m = run.manifest
    lines = section(f"ENVIRONMENT ({MANIFEST_JSON})")
    if not m:
        return lines + [f"  {MANIFEST_JSON} missing or unreadable: accelerator, mapping and versions unknown"]

    def get(*keys):
        value = lookup(m, *keys)
        return "unknown" if value in (None, "") else str(value)

    accel = get("meta", "accel")
    lines += [
        f"  Run status:      {get('status')} (started {get('started_utc')}, finished {get('finished_utc')})",
        f"  Tool:            {get('tool')}, protocol {get('protocol_version')}, git {get('git_revision')}",
        f"  Accelerator:     {accel}",
    ]
    if is_tcg(m):
        lines.append(f"  ! {TCG_WARNING}")
    lines += [
        f"  VM:              {get('meta', 'vm')}; QEMU {get('meta', 'qemu_version')}",
        f"  Host:            {get('host', 'cpu_model')}, {get('host', 'cores')} cores, kernel {get('host', 'kernel')}, "
        f"cache flush {get('host', 'flush')}",
        f"  Guest mapping:   {get('guest', 'mapping')}, memory type {get('guest', 'memory_type')}, "
        f"device {get('guest', 'device')}",
        f"  Guest kernel:    {get('guest', 'kernel')}",
        f"  Region:          {get('region', 'path')}, {get('region', 'size')} bytes",
    ]
    mode, interval = run_mode(m), run_interval(m)
    if mode is not None:
        lines.append(f"  Notification:    {mode}" + (f", messages started {interval} us apart" if interval else ""))
    options = lookup(m, "options")
    if isinstance(options, dict) and options:
        lines.append("  Options:         " + " ".join(f"{k}={v}" for k, v in options.items()))
    extra_meta = {k: v for k, v in (lookup(m, "meta") or {}).items() if k not in ("accel", "vm", "qemu_version")}
    if extra_meta:
        lines.append("  Meta:            " + " ".join(f"{k}={v}" for k, v in extra_meta.items()))
    if get("status") not in ("completed", "unknown"):
        lines.append(f"  ! run status is {get('status')} ({get('abort_reason')}): the results are partial")
    return lines
