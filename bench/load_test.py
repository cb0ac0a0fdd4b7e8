"""Load: 50 concurrent `gradio_client` users against `rag serve` on 127.0.0.1, a fixed request count.

    .venv/bin/python bench/load_test.py --from-index /tmp/bench-index     # default models, real notes
    .venv/bin/python bench/load_test.py --embedders hash --config rag-hash.toml   # a quick dry run

It copies corpus/ (and --from-index, if given) to a temporary folder, starts
`rag serve --host 127.0.0.1 --port <free port>` there as a separate process,
and waits until the page answers. Then:
1. one client asks every question of the set once, in order: the reference
   answers and the single-user latency;
2. --clients clients (threads, one `gradio_client.Client` each) start
   together and each sends --requests questions from a seeded schedule
   through the page's `/ask` endpoint, the same one the chat tab uses.
Every answer is compared with the single-client answer to the same
question (timings aside): any difference would be state leaking between
users. It also checks that the port is not reachable on a non-loopback
address of this machine, and that the server log holds no traceback.
Prints errors, mismatches, p50/p95 latency and throughput; writes
bench/results/load_test.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def question_set(count: int, rng: random.Random) -> list[str]:
    """A seeded mix of dev gold items: open questions (ko, en), pasted MCQs, statements, out-of-scope."""
    pool = []
    for path in sorted((REPO / "eval" / "gold").glob("dev_*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record.get("question") or record.get("statement")
            if record.get("options"):
                text += "\n" + "\n".join(f"{k}. {v}" for k, v in record["options"].items())
            if text:
                pool.append(text)
    return rng.sample(pool, min(count, len(pool)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outside_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (no traffic leaves the machine to find them)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if "." in a and not a.startswith("127.")]


def strip(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1),
            "mean_ms": round(float(a.mean()), 1)}


def wait_ready(url: str, server: subprocess.Popen, timeout: float):
    """A client once the page answers questions (the index may still be building at start)."""
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    client = None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = Path(server.args[server.args.index("--index") + 1]).parent / "server.log"
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:] if log.exists() else ""
            sys.exit(f"load test: the server exited with {server.returncode}:\n{tail}")
        try:
            client = client or Client(url, verbose=False)
            client.predict("EC2", "qa", api_name="/ask")
            return client
        except Exception:  # not up yet, or still indexing: the page says so and we retry
            time.sleep(2)
    sys.exit(f"load test: the page did not answer within {timeout:.0f}s")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # stop the server on kill too
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--questions", type=int, default=25, help="distinct questions in the set")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--embedders", help="override the default models, e.g. hash for a dry run")
    parser.add_argument("--config", type=Path, help="settings file for the server")
    parser.add_argument("--from-index", type=Path, help="copy this index of corpus/ instead of building one")
    parser.add_argument("--ready-timeout", type=float, default=900)
    args = parser.parse_args()
    from gradio_client import Client

    rng = random.Random(args.seed)
    questions = question_set(args.questions, rng)
    work = Path(tempfile.mkdtemp(prefix="load-test-"))
    shutil.copytree(REPO / "corpus", work / "corpus")
    if args.from_index:
        shutil.copytree(args.from_index, work / "index")
    port = free_port()
    cmd = [sys.executable, "-m", "rag", "--corpus", str(work / "corpus"), "--index", str(work / "index")]
    cmd += ["--config", str(args.config.resolve())] if args.config else []
    cmd += ["--embedders", args.embedders] if args.embedders else []
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = work / "server.log"
    log = log_path.open("w")
    server = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}/"
    ready_offset = 0
    result: dict = {"clients": args.clients, "requests_per_client": args.requests, "questions": len(questions),
                    "seed": args.seed, "embedders": args.embedders or "default", "port": port}
    try:
        started = time.monotonic()
        probe = wait_ready(url, server, args.ready_timeout)
        print(f"server ready on {url} after {time.monotonic() - started:.0f}s", flush=True)
        log.flush()
        ready_offset = log_path.stat().st_size  # "still indexing" errors before this point are expected

        # 1. single client: reference answers and single-user latency
        reference, single = {}, []
        for question in questions:
            t0 = time.perf_counter()
            reference[question] = strip(probe.predict(question, "auto", api_name="/ask"))
            single.append((time.perf_counter() - t0) * 1000)
        result["single_client"] = stats(single)
        print(f"single client: {len(questions)} questions, p50 {result['single_client']['p50_ms']} ms, "
              f"p95 {result['single_client']['p95_ms']} ms", flush=True)

        # 2. many clients at once, each with its own seeded schedule
        schedules = [[random.Random(args.seed * 1000 + c).choice(questions) for _ in range(args.requests)]
                     for c in range(args.clients)]
        clients = [Client(url, verbose=False) for _ in range(args.clients)]
        barrier = threading.Barrier(args.clients)
        latencies: list[float] = []
        errors: Counter = Counter()
        mismatches: list[str] = []
        lock = threading.Lock()

        def user(number: int) -> None:
            client = clients[number]
            barrier.wait()
            for question in schedules[number]:
                t0 = time.perf_counter()
                try:
                    answer = strip(client.predict(question, "auto", api_name="/ask"))
                except Exception as err:  # counted, never fatal
                    with lock:
                        errors[f"{type(err).__name__}: {str(err)[:80]}"] += 1
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    if answer != reference[question]:
                        mismatches.append(question[:60])

        threads = [threading.Thread(target=user, args=(n,)) for n in range(args.clients)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t0
        total = args.clients * args.requests
        result["load"] = {**stats(latencies), "requests": total, "errors": sum(errors.values()),
                          "error_kinds": dict(errors), "mismatches": len(mismatches),
                          "wall_s": round(wall, 1), "throughput_rps": round(len(latencies) / wall, 2)}
        print(f"{args.clients} clients x {args.requests} requests = {total}: errors {sum(errors.values())}, "
              f"answers differing from single-client runs {len(mismatches)}, p50 {result['load'].get('p50_ms')} ms, "
              f"p95 {result['load'].get('p95_ms')} ms, max {result['load'].get('max_ms')} ms, "
              f"{result['load']['throughput_rps']} req/s over {wall:.0f}s", flush=True)
        for kind, count in errors.most_common(5):
            print(f"  error x{count}: {kind}")
        for question in sorted(set(mismatches))[:5]:
            print(f"  differs: {question}")

        # 3. loopback only
        reachable = []
        for address in outside_addresses():
            with socket.socket() as sock:
                sock.settimeout(2)
                if sock.connect_ex((address, port)) == 0:
                    reachable.append(address)
        result["reachable_from_outside"] = reachable
        print(f"port {port} reachable on non-loopback addresses: {reachable or 'none'}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        server_log = log_path.read_bytes()[ready_offset:].decode("utf-8", errors="replace")
        shutil.rmtree(work, ignore_errors=True)
    result["server_tracebacks"] = server_log.count("Traceback")
    print(f"server log tracebacks once ready: {result['server_tracebacks']}")
    if result["server_tracebacks"]:
        lines = server_log.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        for i in starts[:3]:
            end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j].startswith(" ")), i)
            print(f"  server traceback ends with: {lines[end][:200]}")
            result.setdefault("server_traceback_tails", []).append(lines[end][:300])
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "load_test" if not args.embedders else f"load_test-{args.embedders.replace(',', '_')}"
    (out / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    load = result.get("load", {})
    ok = load.get("errors") == 0 and load.get("mismatches") == 0 and not reachable and not result["server_tracebacks"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
