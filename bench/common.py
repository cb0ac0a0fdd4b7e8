"""Shared helpers for the benchmark scripts: percentiles, child RSS, the bench index.

Every script prints a small Markdown table and writes the same figures as
JSON to `bench/results/<name>.json`, with the machine description, so
docs/benchmarks.md can quote one run. The machine is shared and noisy:
quote medians and ratios measured inside one run, not single timings.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
RAG = str(BIN / "rag")
DEFAULT_INDEX = Path(os.environ.get("BENCH_INDEX", "/tmp/bench-index"))
GOLD = sorted((REPO / "eval" / "gold").glob("test_*.jsonl"))


def stats(values) -> dict:
    """p50, p95, mean and count of a list of numbers (milliseconds or seconds)."""
    a = np.asarray(list(values), dtype=float)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "mean": float(a.mean()), "max": float(a.max())}


def machine() -> dict:
    """Core count, CPU model, memory and the load average when the result is saved."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": round(mem_gb, 1),
            "load_avg_1_5_15_min": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mb() -> float:
    """This process's own peak RSS (VmHWM), in MB; unlike ru_maxrss it starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def run_child(cmd: list[str], cwd: Path = REPO, stdin=None, timeout: float | None = None,
              env: dict | None = None, live_stderr: bool = False) -> tuple[int, float, float, str, str]:
    """Run `cmd`; returns (exit code, wall seconds, peak RSS MB of that child, stdout, stderr).

    The peak RSS comes from wait4() on that one child. Linux carries the RSS the
    child had at fork into that figure, so it reads max(this process's RSS at the
    fork, the child's own peak): keep the calling process small (the scripts
    here do) or have the child report `vm_hwm_mb()` itself. `live_stderr` passes the child's stderr (its progress) through.
    """
    out_path = Path(f"/tmp/bench-child-{os.getpid()}.out")
    err_path = Path(f"/tmp/bench-child-{os.getpid()}.err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=None if live_stderr else err, stdin=stdin, env=env)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.005)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return proc.returncode, wall, usage.ru_maxrss / 1024, stdout, stderr


def ensure_index(index_dir: Path = DEFAULT_INDEX, corpus_dir: Path | None = None) -> None:
    """Build the bench index once (never the project's own index/ folder)."""
    if index_dir.resolve() == (REPO / "index").resolve():
        sys.exit("bench: refusing to write the project's index/ folder; pass --index /tmp/bench-index")
    if (index_dir / "CURRENT").exists():
        return
    cmd = [RAG, "--index", str(index_dir)] + (["--corpus", str(corpus_dir)] if corpus_dir else []) + ["index"]
    print("bench: building", index_dir, "(minutes on 2 cores) ...", file=sys.stderr)
    subprocess.run(cmd, cwd=REPO, check=True)


def read_gold() -> list[dict]:
    rows = []
    for path in GOLD:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({**json.loads(line), "_file": path.name})
    return rows


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    return path


def copy_corpus(target: Path) -> Path:
    """A private copy of corpus/ that a benchmark may edit."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO / "corpus", target)
    return target


def fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"
