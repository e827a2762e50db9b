"""The analysis package without matplotlib: --no-plots writes the report and never imports it."""

import builders as b


def test_the_report_without_plots_never_imports_matplotlib(tmp_path):
    """--no-plots: loading, checks, statistics and the report text run without matplotlib."""
    latency = b.latency_rows(n=12)
    bandwidth = b.bandwidth_rows(frames=("64B", "1080p"), per_frame=3)
    b.write_results(tmp_path, latency=latency, bandwidth=bandwidth, run=b.manifest())
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from ivbench_analysis import cli; "
            "status = cli.main([sys.argv[2], '--no-plots']); "
            "sys.exit(status if 'matplotlib' not in sys.modules else 'matplotlib was imported')")
    proc = b.subprocess.run([b.sys.executable, "-c", code, str(b.REPO), str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "plots not written (--no-plots)" in proc.stdout
    assert (tmp_path / "performance_report.txt").exists()
    assert not list(tmp_path.glob("*.png"))
