"""Peak RSS of `rag ask`, `rag batch` and an idle `rag serve`, over the notes' index.

`ask` and `batch` run as new processes; their peak RSS is the kernel's
high-water mark for that child (wait4). `rag serve` (when ui/app.py exists) is
started on a free loopback port, polled until the page answers, left idle
for `--idle` seconds, and read from /proc/<pid>/status (VmHWM = peak,
VmRSS = now) before it is stopped. The 1M-chunk serving memory is in
bench/scale.py.

    .venv/bin/python bench/memory.py [--index /tmp/bench-index]
"""
from __future__ import annotations

import argparse
import signal
import socket
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from batch_throughput import gold_file  # noqa: E402
from cold_start import QUESTION  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM and VmRSS of `pid` in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def serve_idle(index: Path, idle: float, timeout: float = 180) -> dict:
    port = free_port()
    cmd = [common.RAG, "--index", str(index), "serve", "--port", str(port)]
    log = Path("/tmp/bench-serve.log")
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, cwd=common.REPO, stdout=handle, stderr=handle)
    started = time.perf_counter()
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"memory: rag serve exited ({proc.returncode}):\n{log.read_text()[-1500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"memory: rag serve did not answer within {timeout:.0f} s")
            time.sleep(0.25)
        ready_s = time.perf_counter() - started
        time.sleep(idle)
        status = proc_status(proc.pid)
        children = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid="], capture_output=True, text=True).stdout.split()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"command": " ".join(["rag", *cmd[1:]]), "ready_s": ready_s, "idle_s": idle,
            "peak_rss_mb": status["VmHWM"], "rss_mb": status["VmRSS"], "child_processes": len(children)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args(argv)
    common.ensure_index(args.index)
    result = {"command": "bench/memory.py " + " ".join(argv if argv is not None else sys.argv[1:])}

    ask = [common.RAG, "--index", str(args.index), "ask", QUESTION]
    peaks = [common.run_child(ask)[2] for _ in range(args.runs)]
    result["ask"] = {"command": shlex.join(["rag", *ask[1:]]), "peak_rss_mb": statistics.median(peaks)}

    questions, n = gold_file()
    out = Path("/tmp/bench-memory-batch.jsonl")
    out.unlink(missing_ok=True)
    batch = [common.RAG, "--index", str(args.index), "batch", str(questions), "-o", str(out), "--workers", "2"]
    code, wall, peak, _, stderr = common.run_child(batch)
    if code != 0:
        raise SystemExit(f"memory: batch failed:\n{stderr[-1500:]}")
    result["batch"] = {"command": " ".join(["rag", *batch[1:]]), "questions": n, "peak_rss_mb": peak}

    if (common.REPO / "ui" / "app.py").exists():
        result["serve_idle"] = serve_idle(args.index, args.idle)
    print(f"peak RSS, {common.machine()['cores']} cores\n\n| process | peak RSS MB | command |\n|---|---|---|")
    print(f"| ask (median of {args.runs}) | {result['ask']['peak_rss_mb']:.0f} | `{result['ask']['command']}` |")
    print(f"| batch, {n} questions, 2 workers | {result['batch']['peak_rss_mb']:.0f} | `{result['batch']['command']}` |")
    if "serve_idle" in result:
        s = result["serve_idle"]
        print(f"| serve, idle {s['idle_s']:.0f} s after the page answered ({s['ready_s']:.1f} s) | {s['peak_rss_mb']:.0f} "
              f"(now {s['rss_mb']:.0f}) | `{s['command']}` |")
    else:
        print("| serve | ui/app.py not present: skipped | |")
    print("\nresults ->", common.save("memory", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
