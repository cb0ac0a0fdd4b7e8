"""Crash safety: SIGKILL `rag index` at seeded random moments of a real build, 20 times.

    .venv/bin/python bench/crash_trials.py                  # 20 trials, seed 7, default models, real notes
    .venv/bin/python bench/crash_trials.py --from-index /tmp/bench-index   # skip the first full build
    .venv/bin/python bench/crash_trials.py --embedders hash --trials 5     # a quick dry run

Set-up, in a temporary folder (the project's corpus/ and index/ are only read):
1. copy corpus/ and build the index of the untouched notes ("old"), with the
   default models unless --embedders says otherwise;
2. edit the copy the same way for every trial: a seeded sample of note lines
   gets a suffix, so the next build re-embeds a few hundred sentences;
3. build that once without interruption ("new") and time it (T), keeping the
   old and new answers to a fixed set of questions.

Each trial restores the old index and the edited notes, starts `rag index`,
and sends SIGKILL at a seeded random moment of the build (a build that
finishes before its moment, because the shared machine ran faster than in
calibration, is restored and drawn again, up to 5 times). The moment is a
point of the calibration run's timeline (uniform over its whole length,
start-up included; every fourth trial uniform over the final stretch after
the last progress line, where files are written, checksummed and renamed),
anchored to the progress line just before it: the trial waits for that same
line from the killed run, then for the rest of the delay. So a slower or
faster machine still kills at the same step of the build. Then it checks that
- the index left behind loads (no IndexCorrupt) and is whole: its manifest
  matches the old or the new notes exactly;
- it answers: an assistant over that index and the matching notes needs no
  rebuild and gives exactly the old (or new) answers;
- the next `rag index` completes, leaves no staging folder, and then gives
  exactly the new answers.
Prints one line per trial and a summary; writes bench/results/crash_trials.json.

Then the two-builder race (`--race-trials`, 20 by default; `--trials 0` runs
only the race), from the same old index and edited notes each time: builder A
(`rag index`) starts, builder B starts at a seeded random moment of A's
calibrated build (every other B with `--force`), and a reader process loads
the live index in a loop all along. A trial passes when
- both builders exit 0, with no traceback and no "free disk space" message;
- a B that started while A was building said that it waits; an unforced B
  then did not build again (no generation beyond A's), a forced one built
  its own, never under an existing name;
- the index left behind matches the new notes, gives exactly the new
  answers, and no `.staging-*` folder is left;
- the reader never failed to load (no missing generation, no damage) and
  only ever saw the old or the new notes.
Writes bench/results/crash_race.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag import index as store  # noqa: E402
from rag.engine import Assistant  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402

QUESTIONS = [
    "스프레드 배치 그룹은 AZ 당 인스턴스를 몇 개까지 둘 수 있나요?",
    "What happens to an EC2 instance when the EBS volume limit is exceeded at launch?",
    "Elastic IP는 계정당 몇 개까지 쓸 수 있어?",
]
SUFFIX = " (복습 표시)"


def digest_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_notes(corpus: Path, lines: int, rng: random.Random) -> int:
    """Append SUFFIX to `lines` seeded body lines of each note; returns how many changed."""
    changed = 0
    for note in sorted(corpus.glob("*.md")):
        text = note.read_text(encoding="utf-8").split("\n")
        body = [i for i, line in enumerate(text) if len(line.strip()) > 20 and not line.lstrip().startswith(("#", "**"))]
        for i in rng.sample(body, min(lines, len(body))):
            text[i] += SUFFIX
            changed += 1
        note.write_text("\n".join(text), encoding="utf-8")
    return changed


def answers(settings: Settings, embedders: dict) -> tuple[list[dict], bool]:
    """Answers to QUESTIONS from the index as it is; and whether it needed a rebuild first."""
    assistant = Assistant(settings, log=lambda m: None)
    assistant.embedders = embedders  # share loaded models across probes
    rebuilt = assistant.ensure_index() is not None
    out = []
    for question in QUESTIONS:
        data = assistant.ask(question).to_json()
        data.pop("timings_ms")
        data.pop("generation")  # a forced rebuild of the same notes answers the same under another name
        out.append(data)
    return out, rebuilt


def rag_cmd(args, corpus: Path, index: Path) -> list[str]:
    cmd = [sys.executable, "-m", "rag", "--corpus", str(corpus), "--index", str(index)]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.embedders:
        cmd += ["--embedders", args.embedders]
    return cmd


def last_step(lines: list[str]) -> str:
    """The build step the progress bar showed last, e.g. 'embedding sentences (e5) 32/118'."""
    if any(line.startswith("index: gen-") for line in lines):
        return "finished"
    steps = [m.groups() for m in (re.match(r"^(\S.*?)\s+\[[#.]+\]\s+(\d+/\d+)", line) for line in lines) if m]
    if not steps:
        return "starting (imports, model load)"
    if steps[-1][1].split("/")[0] == steps[-1][1].split("/")[1] and steps[-1][0].startswith("embedding sentences"):
        return f"writing files after {steps[-1][0]} {steps[-1][1]}"
    return f"{steps[-1][0]} {steps[-1][1]}"


def run_timed(cmd: list[str], env: dict, cwd: Path, kill_at: tuple[int, float] | None = None):
    """Run `cmd`, time-stamping its stderr lines; with kill_at=(line index, delay), SIGKILL it
    `delay` seconds after its line number `line index` (-1: after start). Returns (exit, lines, stamps)."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    started = time.monotonic()
    lines, stamps = [], []
    seen = threading.Condition()

    def read() -> None:
        for line in proc.stderr:
            with seen:
                lines.append(line.rstrip("\n"))
                stamps.append(time.monotonic() - started)
                seen.notify_all()
        with seen:
            seen.notify_all()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if kill_at is not None:
            anchor, delay = kill_at
            with seen:
                seen.wait_for(lambda: len(lines) > anchor or proc.poll() is not None or not reader.is_alive())
            if proc.poll() is None:
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:  # never leave a build running behind an interrupted bench
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return proc.returncode, lines, stamps


def experiment(args, work: Path) -> int:
    """The set-up and the trials, in `work`; 0 when every trial passed."""
    rng = random.Random(args.seed)
    source_notes = digest_tree(REPO / "corpus")
    corpus, index = work / "corpus", work / "index"
    shutil.copytree(REPO / "corpus", corpus)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    settings = load_settings(args.config).with_overrides(corpus_dir=corpus, index_dir=index, embedders=args.embedders)
    print(f"crash trials: seed {args.seed}, {args.trials} trials, models {', '.join(settings.indexed_models)}, "
          f"work folder {work}", flush=True)
    started = time.monotonic()
    if args.from_index:
        shutil.copytree(args.from_index, index)
    subprocess.run(rag_cmd(args, corpus, index) + ["index"], check=True, env=env, cwd=work,
                   stderr=subprocess.DEVNULL)
    print(f"old index ready in {time.monotonic() - started:.0f}s", flush=True)
    shared = Assistant(settings, log=lambda m: None).embedders
    old_answers, _ = answers(settings, shared)
    old_index = work / "old-index"
    shutil.copytree(index, old_index)
    old_notes = work / "old-notes"
    shutil.copytree(corpus, old_notes)

    changed = edit_notes(corpus, args.lines, rng)
    new_notes = work / "new-notes"
    shutil.copytree(corpus, new_notes)
    code, cal_lines, cal_stamps = run_timed(rag_cmd(args, corpus, index) + ["index"], env, work)
    assert code == 0, "\n".join(cal_lines[-20:])
    build_seconds = cal_stamps[-1]
    report = next((line for line in cal_lines if line.startswith("index: gen-")), "?")
    progress_end = max(i for i, line in enumerate(cal_lines) if "[" in line and "/" in line)
    print(f"edited {changed} lines; an uninterrupted build takes {build_seconds:.1f}s ({report}); "
          f"its last progress line comes at {cal_stamps[progress_end]:.1f}s", flush=True)
    new_answers, _ = answers(settings, shared)
    if new_answers == old_answers:
        print("warning: the edit does not change the answers; old and new are told apart by the manifest only")
    old_files = store.load(old_index).manifest["files"]
    new_files = store.load(index).manifest["files"]

    context = {"settings": settings, "shared": shared, "env": env, "rng": rng, "old_index": old_index,
               "old_notes": old_notes, "new_notes": new_notes, "old_files": old_files, "new_files": new_files,
               "old_answers": old_answers, "new_answers": new_answers, "build_seconds": build_seconds,
               "cal_lines": cal_lines, "cal_stamps": cal_stamps, "progress_end": progress_end}
    code = kill_trials(args, work, context, changed, source_notes) if args.trials else 0
    if args.race_trials:
        code |= race_trials(args, work, context, source_notes)
    return code


def kill_trials(args, work: Path, context: dict, changed: int, source_notes: dict) -> int:
    """The SIGKILL trials; 0 when every one passed."""
    settings, shared, env, rng = context["settings"], context["shared"], context["env"], context["rng"]
    corpus, index = work / "corpus", work / "index"
    old_index, old_notes, new_notes = context["old_index"], context["old_notes"], context["new_notes"]
    old_files, new_files = context["old_files"], context["new_files"]
    old_answers, new_answers = context["old_answers"], context["new_answers"]
    build_seconds = context["build_seconds"]
    cal_lines, cal_stamps, progress_end = context["cal_lines"], context["cal_stamps"], context["progress_end"]
    rows = []
    for trial in range(1, args.trials + 1):
        shutil.rmtree(index)
        shutil.copytree(old_index, index)
        shutil.rmtree(corpus)
        shutil.copytree(new_notes, corpus)
        late = trial % 4 == 0
        for attempt in range(1, 6):  # a build that finished before its kill moment is drawn again
            low = cal_stamps[progress_end] if late else 0.0
            moment = rng.uniform(low, build_seconds)
            anchor = max((i for i, t in enumerate(cal_stamps) if t <= moment), default=-1)
            delay = moment - (cal_stamps[anchor] if anchor >= 0 else 0.0)
            code, lines, stamps = run_timed(rag_cmd(args, corpus, index) + ["index"], env, work, (anchor, delay))
            if code != 0:
                break
            shutil.rmtree(index)
            shutil.copytree(old_index, index)
        step = last_step(lines)
        where = cal_lines[anchor][:40].strip() if anchor >= 0 else "start"
        row = {"trial": trial, "attempts": attempt, "moment_s": round(moment, 2), "anchor": where,
               "delay_s": round(delay, 2), "exit": code, "step": step, "late_window": late}
        try:
            data = store.load(index)
            row["left"] = "old" if data.manifest["files"] == old_files else (
                "new" if data.manifest["files"] == new_files else "MIXED")
        except store.IndexError_ as err:
            row["left"] = f"BROKEN: {err}"
        ok = row["left"] in ("old", "new")
        if ok:
            probe = work / "probe"
            shutil.rmtree(probe, ignore_errors=True)
            shutil.copytree(index, probe / "index")
            shutil.copytree(old_notes if row["left"] == "old" else new_notes, probe / "corpus")
            got, rebuilt = answers(settings.with_overrides(corpus_dir=probe / "corpus", index_dir=probe / "index"),
                                   shared)
            row["answers_ok"] = not rebuilt and got == (old_answers if row["left"] == "old" else new_answers)
        t0 = time.monotonic()
        finish = subprocess.run(rag_cmd(args, corpus, index) + ["index"], env=env, cwd=work,
                                capture_output=True, text=True)
        row["next_run_s"] = round(time.monotonic() - t0, 1)
        row["next_run_ok"] = (finish.returncode == 0 and "Traceback" not in finish.stderr
                              and store.load(index).manifest["files"] == new_files
                              and not list(index.glob(".staging-*")))
        if row["next_run_ok"]:
            got, rebuilt = answers(settings, shared)
            row["next_run_ok"] = not rebuilt and got == new_answers
        row["ok"] = ok and row.get("answers_ok", False) and row["next_run_ok"]
        rows.append(row)
        print(f"trial {trial:2d}: kill at {moment:6.2f}s of the calibrated build "
              f"({'write window' if late else 'anywhere'}; {delay:.2f}s after '{where}'), "
              f"exit {code}{f' (attempt {attempt})' if attempt > 1 else ''}, last step: {step}; "
              f"left {row['left']} index, "
              f"answers {'same' if row.get('answers_ok') else 'WRONG'}; next run "
              f"{'completed' if row['next_run_ok'] else 'FAILED'} in {row['next_run_s']}s "
              f"-> {'ok' if row['ok'] else 'FAIL'}", flush=True)

    notes_untouched = digest_tree(REPO / "corpus") == source_notes
    summary = {
        "seed": args.seed, "trials": len(rows), "passed": sum(r["ok"] for r in rows),
        "killed": sum(r["exit"] == -signal.SIGKILL for r in rows),
        "redrawn": sum(r["attempts"] - 1 for r in rows),
        "left_old": sum(r["left"] == "old" for r in rows), "left_new": sum(r["left"] == "new" for r in rows),
        "models": list(settings.indexed_models), "edited_lines": changed,
        "uninterrupted_build_s": round(build_seconds, 1), "project_notes_untouched": notes_untouched,
    }
    print(f"summary: {summary['passed']}/{summary['trials']} trials passed "
          f"({summary['killed']} killed mid-build, {summary['redrawn']} moments redrawn because the build had "
          f"already finished, {summary['left_old']} left the old index live, "
          f"{summary['left_new']} had already switched to the new one); project notes untouched: {notes_untouched}")
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    name = "crash_trials" if not args.embedders else f"crash_trials-{args.embedders.replace(',', '_')}"
    (results / f"{name}.json").write_text(json.dumps({"summary": summary, "trials": rows}, ensure_ascii=False,
                                                     indent=1) + "\n", encoding="utf-8")
    return 0 if summary["passed"] == summary["trials"] and notes_untouched else 1


READER = r'''
"""Load the live index over and over until the stop file appears; report what was seen as JSON."""
import json, sys
from pathlib import Path

from rag import index as store

index, report = Path(sys.argv[1]), Path(sys.argv[2])
loads, failures, generations, notes = 0, [], set(), set()
while not report.with_suffix(".stop").exists():
    try:
        data = store.load(index)  # holds its generation until the next load replaces it
    except store.IndexError_ as err:
        failures.append(str(err))
        continue
    loads += 1
    generations.add(data.manifest["generation"])
    notes.add(json.dumps(data.manifest["files"], sort_keys=True))
report.write_text(json.dumps({"loads": loads, "failures": failures, "generations": sorted(generations),
                              "notes": sorted(notes)}))
'''


def race_trials(args, work: Path, context: dict, source_notes: dict) -> int:
    """Two builders of one index folder at once, with a reader loading it all along; 0 when every trial passed."""
    settings, shared, env, rng = context["settings"], context["shared"], context["env"], context["rng"]
    corpus, index = work / "corpus", work / "index"
    old_files, new_files = context["old_files"], context["new_files"]
    known_notes = {json.dumps(old_files, sort_keys=True), json.dumps(new_files, sort_keys=True)}
    reader_script = work / "reader.py"
    reader_script.write_text(READER, encoding="utf-8")
    rows = []
    for trial in range(1, args.race_trials + 1):
        shutil.rmtree(index)
        shutil.copytree(context["old_index"], index)
        shutil.rmtree(corpus)
        shutil.copytree(context["new_notes"], corpus)
        before = sorted(p.name for p in index.glob("gen-*"))
        report = work / f"reader-{trial}.json"
        reader = subprocess.Popen([sys.executable, str(reader_script), str(index), str(report)], env=env, cwd=work)
        forced = trial % 2 == 0
        delay = rng.uniform(0.0, context["build_seconds"])
        first = subprocess.Popen(rag_cmd(args, corpus, index) + ["index"], env=env, cwd=work, text=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            first.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        first_running = first.poll() is None
        second = subprocess.Popen(rag_cmd(args, corpus, index) + ["index"] + (["--force"] if forced else []),
                                  env=env, cwd=work, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errs = [first.communicate()[1], second.communicate()[1]]
        report.with_suffix(".stop").touch()
        reader.wait(timeout=120)
        seen = json.loads(report.read_text(encoding="utf-8"))
        after = sorted(p.name for p in index.glob("gen-*"))
        built = [line.split()[1] for err in errs for line in err.splitlines() if line.startswith("index: gen-")]
        waited = "waiting for it to finish" in errs[1]
        row = {"trial": trial, "second_after_s": round(delay, 2), "second_forced": forced,
               "first_still_building": first_running, "second_waited": waited,
               "exits": [first.returncode, second.returncode], "generations_before": before,
               "generations_after": after, "reported": built, "reader_loads": seen["loads"],
               "reader_failures": seen["failures"], "reader_generations": seen["generations"]}
        clean = all("Traceback" not in err and "free disk space" not in err for err in errs)
        data = store.load(index)
        live = data.manifest["generation"]
        # an unforced B either waited and took A's generation (or A took B's, when B got the lock first),
        # or found the index up to date; a forced B builds its own after A's, under a new name
        distinct = len(set(built))
        row["ok"] = (row["exits"] == [0, 0] and clean and data.manifest["files"] == new_files
                     and live == max(built, default="") and (distinct in (1, 2) if forced else distinct == 1)
                     and not list(index.glob(".staging-*")) and not seen["failures"] and seen["loads"] > 0
                     and set(seen["notes"]) <= known_notes)
        if row["ok"]:
            got, rebuilt = answers(settings, shared)
            row["ok"] = not rebuilt and got == context["new_answers"]
        rows.append(row)
        print(f"race {trial:2d}: B {'--force ' if forced else ''}started {delay:5.2f}s after A "
              f"({'while A built' if first_running else 'after A finished'}; B {'waited' if waited else 'did not wait'}); "
              f"exits {row['exits']}; built {built or 'nothing new'}; live {live}; reader {seen['loads']} loads, "
              f"{len(seen['failures'])} failures, saw {', '.join(seen['generations'])} -> "
              f"{'ok' if row['ok'] else 'FAIL'}", flush=True)
    notes_untouched = digest_tree(REPO / "corpus") == source_notes
    summary = {"seed": args.seed, "trials": len(rows), "passed": sum(r["ok"] for r in rows),
               "second_started_while_first_built": sum(r["first_still_building"] for r in rows),
               "second_waited": sum(r["second_waited"] for r in rows),
               "forced": sum(r["second_forced"] for r in rows),
               "reader_loads": sum(r["reader_loads"] for r in rows),
               "reader_failures": sum(len(r["reader_failures"]) for r in rows),
               "models": list(settings.indexed_models), "uninterrupted_build_s": round(context["build_seconds"], 1),
               "project_notes_untouched": notes_untouched}
    print(f"race summary: {summary['passed']}/{summary['trials']} trials passed; B started while A built in "
          f"{summary['second_started_while_first_built']} and waited in {summary['second_waited']}; "
          f"the reader loaded the index {summary['reader_loads']} times with {summary['reader_failures']} failures",
          flush=True)
    name = "crash_race" if not args.embedders else f"crash_race-{args.embedders.replace(',', '_')}"
    (REPO / "bench" / "results" / f"{name}.json").write_text(
        json.dumps({"summary": summary, "trials": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0 if summary["passed"] == summary["trials"] and notes_untouched else 1


def main() -> int:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # run `finally` blocks on kill
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="SIGKILL trials (0: only the race)")
    parser.add_argument("--race-trials", type=int, default=20, help="two-builder race trials (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lines", type=int, default=30, help="note lines edited before the killed build")
    parser.add_argument("--embedders", help="override the default models, e.g. hash for a dry run")
    parser.add_argument("--config", type=Path, help="settings file for the rag runs (e.g. option_embedder)")
    parser.add_argument("--from-index", type=Path, help="copy this index of the untouched notes instead of building")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crash-trials-"))
    try:
        return experiment(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
