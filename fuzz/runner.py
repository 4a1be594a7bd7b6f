"""Run mutants through ``device-ai analyze`` and ``device-ai anonymize`` and record what happened.

Per input (one mutant through one command) the record holds: exit code, whether stdout or stderr
holds a Python traceback, the ``error DAI-xxx`` line, wall time, peak RSS, whether anything was
published in the output folder, and for a hang or a runaway the timeout or memory kill.

How an input runs: ``--jobs`` worker processes (fresh interpreters, ``python -m fuzz.runner
--worker``) import the device once, then for every input build the mutant folder and
``fork()`` a child that calls ``device_ai.cli.main(argv)`` (the ``device-ai`` entry point)
with its stdout and stderr redirected to files, exactly as the console script would, and exits.
So every input runs in its own process: its peak RSS (``ru_maxrss`` of the child, which starts
counting at the fork) is its own, a bomb cannot inflate the figure of the next input, and a
hang (FIFO) or runaway is killed without losing the campaign. The child leads its own process
group: processes the command starts (de-identification worker pools) are sampled into the
input's RSS (their sum, every tenth poll), the largest of them is read from RUSAGE_CHILDREN, and
the group is killed with the child; one still running after the command exited is flagged. The worker polls the child's
``VmHWM`` and kills it above ``--rss-kill-mib`` (default 4096) or after ``--timeout`` seconds.
The device runs with its own ``DEVICE_AI_HOME`` (a temp folder per worker, renewed every 500
inputs) and one inference thread per child. A forked child shares the worker's already-imported
modules, so the figure excludes pages it never touches; the campaign also re-runs the heaviest
inputs and a valid series in a fresh ``python -m device_ai.cli`` process and reports both
figures (``calibration`` in the summary). The worker also loads the tables a process caches once
(highdicom's and the de-identifier's standard tables, about 1 s of JSON), so times are those of
a warm process; a fresh ``device-ai`` invocation pays that second once more.

    python -m fuzz.runner --n 5000 --seed 0 --jobs 2 --out fuzz/results/campaign-5000-seed0
    python -m fuzz.runner --ids 17,42 --seed 0 --commands analyze     # re-run single mutants

Writes ``OUT.json`` (summary, every flagged input, the calibration) and ``OUT.md``; every
record goes to ``WORK/records.jsonl``. Exit status 1 when an input breaks the acceptance rule
(issue 22: no exit 70, no traceback, refusals exit 3 [anonymize: 3], peak RSS under 1 GiB, no
hang, nothing published for a refused analyze input), else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("analyze", "anonymize")
# Exit codes an input may produce (issue 22: "refusals exit 3"): 0 when the mutation left the
# input within the contract (e.g. a flipped pixel value), 3 (InputRefused) when it is refused;
# anonymize also exits 3 when some files were quarantined and the others de-identified.
EXPECTED_EXIT = {"analyze": frozenset({0, 3}), "anonymize": frozenset({0, 3})}
RSS_LIMIT_MIB = 1024
TRACEBACK = "Traceback (most recent call last)"
_ERROR_LINE = re.compile(r"^error (DAI-\d+|\S+):? ?(.*)$", re.M)
HOME_ROTATION = 500


def argv_for(command: str, folder: Path, out: Path, debug: bool = False) -> list[str]:
    head = ["--debug"] if debug else []
    if command == "analyze":
        return head + ["analyze", str(folder), "--out", str(out)]
    if command == "anonymize":
        return head + ["anonymize", str(folder), str(out)]
    raise ValueError(command)


def reproduce(seed: int, mutant_id: int, command: str) -> str:
    out = "/tmp/fuzz-out" if command == "analyze" else "/tmp/fuzz-anon"
    tail = f"analyze /tmp/fuzz-m{mutant_id} --out {out}" if command == "analyze" else \
        f"anonymize /tmp/fuzz-m{mutant_id} {out}"
    return (f".venv/bin/python -m fuzz.mutants --seed {seed} --id {mutant_id} /tmp/fuzz-m{mutant_id} && "
            f"DEVICE_AI_HOME=$(mktemp -d) DEVICE_AI_DEMONSTRATION_MODE=1 .venv/bin/device-ai --debug {tail}")


# ------------------------------------------------------------------------------------------
# the worker


def _status(pid: int | str) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return {}
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM") if k in fields}


def _group_rss_mib(pgid: int) -> int:
    """Resident memory of every process in group ``pgid`` now (the command and what it started)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[21]) * resource.getpagesize()
        except (OSError, IndexError, ValueError):
            continue
    return total // (1024 * 1024)


def _kill_group(pgid: int) -> bool:
    """SIGKILL whatever is left in the group; whether anything was."""
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _files_under(path: Path, limit: int = 50) -> list[str]:
    if not path.is_dir():
        return [path.name] if os.path.lexists(path) else []
    found = []
    for root, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if Path(root, d).is_symlink()]:
            found.append(os.path.relpath(os.path.join(root, name), path))
            if len(found) >= limit:
                return found
    return found


def _child(argv: list[str], run_dir: Path, mutant_id: int) -> None:
    """In the forked child: the CLI entry point with redirected output; never returns."""
    status = 1
    try:
        os.setpgid(0, 0)  # its own process group: processes the command starts are killed with it
        os.environ["FUZZ_MUTANT_ID"] = str(mutant_id)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(run_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        from device_ai.cli import main

        escaped = False
        start = time.perf_counter()
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse, or a command calling sys.exit
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # what the interpreter would print and exit 1 with
            traceback.print_exc()
            rc, escaped = 1, True
        wall = time.perf_counter() - start
        sys.stdout.flush()
        sys.stderr.flush()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # the largest waited-for child
        (run_dir / "result.json").write_text(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_mib": peak,
                                                         "children_peak_rss_mib": children, "escaped": escaped}))
        status = 0
    finally:
        os._exit(status)


def run_one(mutant, command: str, base_dir: Path, timeout_s: float, rss_kill_mib: int, debug: bool) -> dict:
    """Build nothing; run ``mutant`` (already materialized in ``base_dir/in``) through ``command``."""
    run_dir = base_dir / command
    run_dir.mkdir()
    folder, out = base_dir / "in", run_dir / "out"
    argv = argv_for(command, folder, out, debug)
    sys.stdout.flush()
    sys.stderr.flush()
    baseline = _status("self").get("VmRSS", 0) // 1024
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child(argv, run_dir, mutant.id)
    killed, hwm, group, status, polls = "", 0, 0, 0, 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        hwm = max(hwm, _status(pid).get("VmHWM", 0) // 1024)
        polls += 1
        if polls % 10 == 0:  # the whole group (e.g. de-identification worker processes), sampled
            group = max(group, _group_rss_mib(pid))
        elapsed = time.perf_counter() - start
        if not killed and elapsed > timeout_s:
            killed = f"timeout after {timeout_s:.0f} s"
        elif not killed and hwm > rss_kill_mib:
            killed = f"killed at {hwm} MiB RSS"
        if killed:
            _kill_group(pid)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.005 if elapsed < 1 else 0.05)
    elapsed = time.perf_counter() - start
    time.sleep(0.01)
    left_behind = _kill_group(pid) and not killed  # processes the command started and did not end
    result = {}
    if (run_dir / "result.json").exists():
        result = json.loads((run_dir / "result.json").read_text())
    stdout = (run_dir / "stdout").read_text(errors="replace") if (run_dir / "stdout").exists() else ""
    stderr = (run_dir / "stderr").read_text(errors="replace") if (run_dir / "stderr").exists() else ""
    error = _ERROR_LINE.search(stderr)
    signalled = os.WTERMSIG(status) if not killed and os.WIFSIGNALED(status) else 0
    published = _files_under(out)
    record = {
        "id": mutant.id, "kind": mutant.kind, "base": mutant.base, "detail": mutant.detail, "command": command,
        "rc": result.get("rc") if result else None,
        "escaped": bool(result.get("escaped")), "killed": killed, "signal": signalled,
        "traceback": TRACEBACK in stderr or TRACEBACK in stdout,
        "error_code": error.group(1) if error else "",
        "error_line": " ".join(error.group(0).split())[:240] if error else "",
        "wall_s": round(result.get("wall_s", elapsed), 4),
        "peak_rss_mib": max(int(result.get("peak_rss_mib", 0)), hwm, group),
        "process_peak_rss_mib": max(int(result.get("peak_rss_mib", 0)), hwm),
        "children_peak_rss_mib": int(result.get("children_peak_rss_mib", 0)),
        "group_rss_sampled_mib": group, "left_processes": left_behind,
        "worker_rss_mib": baseline,
        "published": published[:5], "published_count": len(published),
    }
    if record["traceback"]:
        record["stderr_tail"] = stderr[-3000:]
    return record


def _warm_imports() -> None:
    """Import what the commands import, so that each forked child starts from the same state."""
    import importlib

    for module in ("device_ai.cli", "device_ai.app", "device_ai.dicom.deidentify.run", "device_ai.dicom.series",
                   "device_ai.inference.analyze", "highdicom", "onnxruntime"):
        importlib.import_module(module)
    # The tables a process loads once and keeps (lru_cache): about 1 s of JSON per fresh process,
    # which would otherwise dominate every input's time. The child inherits them resident, so its
    # peak RSS includes them (conservative); its wall time is that of a warm process.
    warm = [("device_ai.cli", "build_parser"), ("highdicom._standard_utils", "get_sop_class_iod_map"),
            ("highdicom._standard_utils", "get_iod_module_map"), ("highdicom._standard_utils", "get_module_attribute_map"),
            ("device_ai.dicom.deidentify.iod_types", "_module_attributes"),
            ("device_ai.dicom.deidentify.rules", "load_rule_table"),
            ("device_ai.dicom.deidentify.safe_private", "load_safe_private")]
    for module, function in warm:
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001 - renamed or moved: that input then pays the load itself
            pass


def _harness_error(mutant_id: int, seed: int, command: str, exc: Exception) -> dict:
    from fuzz.mutants import kind_of

    return {"id": mutant_id, "kind": kind_of(seed, mutant_id), "base": "", "detail": "", "command": command,
            "rc": None, "escaped": False, "killed": "", "signal": 0, "traceback": False, "error_code": "",
            "error_line": "", "wall_s": 0.0, "peak_rss_mib": 0, "worker_rss_mib": 0, "published": [],
            "published_count": 0, "harness_error": f"{type(exc).__name__}: {exc}"[:300]}


def worker_main(args: argparse.Namespace) -> int:
    from fuzz import mutants as mutant_module

    _warm_imports()
    for base in mutant_module.SERIES_BASES.values():  # build the bases once, before any fork
        base()
    mutant_module.pydicom_files()
    if args.inject:
        module, _, function = args.inject.partition(":")
        getattr(__import__(module, fromlist=[function]), function)()
    work, cache = Path(args.work), Path(args.cache)
    tasks = [json.loads(line) for line in Path(args.tasks).read_text().splitlines() if line.strip()]
    with open(args.results, "a", buffering=1) as results:
        for n, task in enumerate(tasks):
            home = work / f"home-{n // HOME_ROTATION}"
            home.mkdir(mode=0o700, exist_ok=True)
            os.environ["DEVICE_AI_HOME"] = str(home)
            base_dir = work / f"m{task['id']:06d}"
            try:
                mutant = mutant_module.generate(args.seed, task["id"], cache)
                mutant_module.materialize(mutant.entries, base_dir / "in")
            except Exception as exc:  # a defect of the harness, not of the device: recorded, not fatal
                for command in task["commands"]:
                    results.write(json.dumps(_harness_error(task["id"], args.seed, command, exc)) + "\n")
                mutant_module.remove_tree(base_dir)
                continue
            try:
                for command in task["commands"]:
                    record = run_one(mutant, command, base_dir, args.timeout, args.rss_kill_mib, args.debug)
                    results.write(json.dumps(record) + "\n")
            finally:
                mutant_module.remove_tree(base_dir)
    return 0


# ------------------------------------------------------------------------------------------
# the campaign


@dataclass
class Campaign:
    seed: int
    ids: list[int]
    commands: tuple[str, ...] = COMMANDS
    jobs: int = 2
    timeout_s: float = 300.0
    rss_kill_mib: int = 4096
    inject: str = ""
    debug: bool = False
    expensive_last: bool = False


def run_campaign(campaign: Campaign, work: Path, cache: Path | None = None, progress: bool = False) -> list[dict]:
    """Every (mutant, command) of ``campaign``, ``campaign.jobs`` workers at a time."""
    from fuzz.mutants import EXPENSIVE_KINDS, default_cache, kind_of

    work.mkdir(parents=True, exist_ok=True)
    cache = cache or default_cache()
    # the expensive kinds first (spread over the workers, so the campaign does not end on one bomb),
    # or last (so that an interrupted campaign has every cheap input)
    first = not campaign.expensive_last
    ordered = sorted(campaign.ids, key=lambda i: ((kind_of(campaign.seed, i) in EXPENSIVE_KINDS) != first, i))
    # resume: what an earlier run into the same work folder recorded is not run again
    done = {(r["id"], r["command"]) for f in work.glob("w*/records.jsonl") for r in map(json.loads, open(f))}
    shares: list[list[int]] = [ordered[k :: campaign.jobs] for k in range(campaign.jobs)]
    procs, result_files = [], []
    env = dict(os.environ)
    env.pop("DEVICE_AI_CONFIG", None)
    env["DEVICE_AI_INFERENCE_THREADS"] = "1"
    env["DEVICE_AI_DEMONSTRATION_MODE"] = "true"  # the demonstration model on synthetic mutants (RC-035)
    # this checkout's device (src/) and harness, also when run from another worktree of the repository
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for k, share in enumerate(shares):
        if not share:
            continue
        wdir = work / f"w{k}"
        wdir.mkdir(exist_ok=True)
        tasks = wdir / "tasks.jsonl"
        todo = [(i, [c for c in campaign.commands if (i, c) not in done]) for i in share]
        tasks.write_text("".join(json.dumps({"id": i, "commands": cs}) + "\n" for i, cs in todo if cs))
        results = wdir / "records.jsonl"
        results.touch()
        result_files.append(results)
        cmd = [sys.executable, "-m", "fuzz.runner", "--worker", "--tasks", str(tasks), "--results", str(results),
               "--work", str(wdir), "--cache", str(cache), "--seed", str(campaign.seed),
               "--timeout", str(campaign.timeout_s), "--rss-kill-mib", str(campaign.rss_kill_mib)]
        if campaign.inject:
            cmd += ["--inject", campaign.inject]
        if campaign.debug:
            cmd += ["--debug"]
        log = open(wdir / "worker.log", "w")
        procs.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    total = len(campaign.ids) * len(campaign.commands)
    start, last = time.time(), 0.0
    while any(p.poll() is None for p, _ in procs):
        time.sleep(1)
        if progress and time.time() - last > 30:
            last = time.time()
            done = sum(1 for f in result_files for _ in open(f))
            print(f"  {done}/{total} inputs, {time.time() - start:.0f} s", flush=True)
    for p, log in procs:
        log.close()
        if p.returncode:
            tail = Path(log.name).read_text()[-2000:]
            raise RuntimeError(f"fuzz worker failed (exit {p.returncode}):\n{tail}")
    records = [json.loads(line) for f in sorted(work.glob("w*/records.jsonl")) for line in open(f) if line.strip()]
    records.sort(key=lambda r: (r["id"], COMMANDS.index(r["command"])))
    with open(work / "records.jsonl", "w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    return records


def problems(record: dict) -> list[str]:
    """Why ``record`` breaks the acceptance rule (empty: it does not)."""
    if record.get("harness_error"):
        return [f"harness error (the mutant could not be built): {record['harness_error']}"]
    found = []
    if record["rc"] == 70:
        found.append("exit 70 (internal error)")
    if record["traceback"] or record["escaped"]:
        found.append("traceback")
    if record["killed"]:
        found.append(record["killed"])
    if record.get("left_processes"):
        found.append("left processes running after it exited")
    if record.get("children_peak_rss_mib", 0) >= RSS_LIMIT_MIB:
        found.append(f"a child process peaked at {record['children_peak_rss_mib']} MiB")
    if record["signal"]:
        found.append(f"died of signal {record['signal']}")
    if record["rc"] is None and not record["killed"] and not record["signal"]:
        found.append("no result")
    if record["rc"] is not None and record["rc"] != 70 and record["rc"] not in EXPECTED_EXIT[record["command"]]:
        found.append(f"unexpected exit {record['rc']} ({record['error_code']})")
    if record["peak_rss_mib"] >= RSS_LIMIT_MIB:
        found.append(f"peak RSS {record['peak_rss_mib']} MiB >= {RSS_LIMIT_MIB}")
    if record["command"] == "analyze" and record["rc"] == 3 and not record["error_code"].startswith("DAI-"):
        found.append("refused without a typed error line")
    if record["command"] == "analyze" and record["rc"] != 0 and record["published_count"]:
        found.append(f"refused but published {record['published'][:3]}")
    return found


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(values), 3)}


def fresh_peak(argv: list[str], home: Path, timeout_s: float = 600) -> dict:
    """``argv`` through ``python -m device_ai.cli`` in a fresh interpreter: exit code and peak RSS."""
    code = ("import resource, sys\nfrom device_ai.cli import main\nrc = main(sys.argv[1:])\n"
            "print('FUZZ_PEAK', rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)\n")
    env = dict(os.environ, DEVICE_AI_HOME=str(home), DEVICE_AI_INFERENCE_THREADS="1", DEVICE_AI_DEMONSTRATION_MODE="true")
    env.pop("DEVICE_AI_CONFIG", None)
    try:
        result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                                timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"rc": None, "peak_rss_mib": None, "note": "timeout"}
    match = re.search(r"FUZZ_PEAK (\S+) (\d+)", result.stderr)
    return {"rc": int(match.group(1)) if match else result.returncode,
            "peak_rss_mib": int(match.group(2)) if match else None}


def calibrate(records: list[dict], seed: int, work: Path, cache: Path, top: int = 3) -> list[dict]:
    """The heaviest inputs (and one valid series) again, each in a fresh interpreter."""
    from fuzz.mutants import SERIES_BASES, build, remove_tree

    rows = []
    heaviest = sorted(records, key=lambda r: -r["peak_rss_mib"])[:top]
    cases = [(r["id"], r["command"], r["peak_rss_mib"]) for r in heaviest]
    valid = work / "calibration-valid"
    remove_tree(valid)
    (valid / "in").mkdir(parents=True)
    for name, data in SERIES_BASES["synthetic"]():
        (valid / "in" / name).write_bytes(data)
    for command in COMMANDS:
        out = valid / f"out-{command}"
        rows.append({"input": "valid synthetic series", "command": command, "forked_peak_rss_mib": None,
                     **fresh_peak(argv_for(command, valid / "in", out), work / "home-calibration")})
    for mutant_id, command, forked in cases:
        folder = work / f"calibration-m{mutant_id}"
        remove_tree(folder)
        build(seed, mutant_id, folder / "in", cache)
        fresh = fresh_peak(argv_for(command, folder / "in", folder / "out"), work / "home-calibration")
        rows.append({"input": f"mutant {mutant_id}", "command": command, "forked_peak_rss_mib": forked, **fresh})
        remove_tree(folder)
    remove_tree(valid)
    return rows


def summarize(records: list[dict], campaign: Campaign, wall_s: float, calibration: list[dict]) -> dict:
    by_command: dict[str, dict] = {}
    for command in campaign.commands:
        rs = [r for r in records if r["command"] == command]
        heaviest = max(rs, key=lambda r: r["peak_rss_mib"]) if rs else None
        by_command[command] = {
            "inputs": len(rs),
            "exit_codes": dict(sorted(Counter(str(r["rc"]) for r in rs).items())),
            "error_codes": dict(Counter(r["error_code"] for r in rs if r["error_code"]).most_common()),
            "exit_70": sum(r["rc"] == 70 for r in rs),
            "tracebacks": sum(bool(r["traceback"] or r["escaped"]) for r in rs),
            "killed": sum(bool(r["killed"]) for r in rs),
            "max_peak_rss_mib": heaviest["peak_rss_mib"] if heaviest else 0,
            "max_peak_rss_input": {k: heaviest[k] for k in ("id", "kind", "detail")} if heaviest else {},
            "wall_s": _percentiles([r["wall_s"] for r in rs]),
            "peak_rss_mib": _percentiles([r["peak_rss_mib"] for r in rs]),
        }
    kinds: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for r in records:
        kinds[r["kind"]][r["command"]][str(r["rc"])] += 1
    flagged = []
    for r in records:
        why = problems(r)
        if why:
            flagged.append({"id": r["id"], "command": r["command"], "kind": r["kind"], "detail": r["detail"],
                            "problems": why, "rc": r["rc"], "error_line": r["error_line"],
                            "peak_rss_mib": r["peak_rss_mib"], "wall_s": r["wall_s"],
                            "reproduce": reproduce(campaign.seed, r["id"], r["command"]),
                            **({"stderr_tail": r["stderr_tail"]} if "stderr_tail" in r else {})})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--short", "--", "src"], cwd=REPO, capture_output=True,
                           text=True).stdout.split("\n")
    import device_ai
    import pydicom

    return {
        "campaign": {"seed": campaign.seed, "mutants": len(campaign.ids), "commands": list(campaign.commands),
                     "ids": f"{min(campaign.ids)}..{max(campaign.ids)}" if campaign.ids else "",
                     "jobs": campaign.jobs, "timeout_s": campaign.timeout_s, "rss_kill_mib": campaign.rss_kill_mib,
                     "wall_s": round(wall_s, 1), "git_commit": commit,
                     "uncommitted_in_src": [line.strip() for line in dirty if line.strip()],
                     "device_ai_from": str(Path(device_ai.__file__).parent), "python": platform.python_version(),
                     "pydicom": pydicom.__version__, "cpus": os.cpu_count(), "machine": platform.machine()},
        "acceptance": {"passed": not flagged, "rule": "no exit 70, no traceback, exits within "
                       + ", ".join(f"{c} {sorted(EXPECTED_EXIT[c])}" for c in campaign.commands)
                       + f", peak RSS < {RSS_LIMIT_MIB} MiB, no hang, nothing published by a refused analyze"},
        "by_command": by_command,
        "by_kind": {k: {c: dict(sorted(v.items())) for c, v in cs.items()} for k, cs in sorted(kinds.items())},
        "flagged": flagged,
        "calibration": calibration,
    }


def markdown(summary: dict) -> str:
    c = summary["campaign"]
    lines = [f"# Fuzz campaign: {c['mutants']} mutants, seed {c['seed']} (`{c['git_commit']}`)", "",
             f"Commands: {', '.join(c['commands'])}; {c['jobs']} workers; wall time {c['wall_s']} s; "
             f"Python {c['python']}, pydicom {c['pydicom']}, {c['cpus']} CPUs; device code from "
             f"`{c['device_ai_from']}`, uncommitted changes under src/: {', '.join(c['uncommitted_in_src']) or 'none'}. "
             "Generated by `fuzz/runner.py` "
             "(`make fuzz`); each input ran in its own forked process (see the module doc).", "",
             f"**Acceptance ({summary['acceptance']['rule']}): "
             f"{'PASSED' if summary['acceptance']['passed'] else 'FAILED'}** "
             f"({len(summary['flagged'])} flagged input(s)).", "",
             "| command | inputs | exit codes | exit 70 | tracebacks | killed | max peak RSS (MiB) | at | "
             "wall p50 / p90 / p99 / max (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for command, s in summary["by_command"].items():
        w = s["wall_s"]
        at = s["max_peak_rss_input"]
        lines.append(f"| {command} | {s['inputs']} | {', '.join(f'{k}: {v}' for k, v in s['exit_codes'].items())} | "
                     f"{s['exit_70']} | {s['tracebacks']} | {s['killed']} | {s['max_peak_rss_mib']} | "
                     f"mutant {at.get('id')} ({at.get('kind')}: {at.get('detail', '')[:80]}) | "
                     f"{w.get('p50')} / {w.get('p90')} / {w.get('p99')} / {w.get('max')} |")
    lines += ["", "## Exit codes by mutation kind", "", "| kind | analyze | anonymize |", "|---|---|---|"]
    for kind, per in summary["by_kind"].items():
        lines.append(f"| {kind} | " + " | ".join(", ".join(f"{k}: {v}" for k, v in per.get(cmd, {}).items())
                                                for cmd in ("analyze", "anonymize")) + " |")
    lines += ["", "## Error codes", ""]
    for command, s in summary["by_command"].items():
        lines.append(f"- {command}: " + ", ".join(f"{k} x{v}" for k, v in s["error_codes"].items()))
    lines += ["", "## Peak RSS: forked child vs a fresh `python -m device_ai.cli` process", "",
              "| input | command | forked child (MiB) | fresh process (MiB) | fresh exit |", "|---|---|---|---|---|"]
    for row in summary["calibration"]:
        lines.append(f"| {row['input']} | {row['command']} | {row['forked_peak_rss_mib'] or '-'} | "
                     f"{row['peak_rss_mib']} | {row['rc']} |")
    lines += ["", f"## Flagged inputs ({len(summary['flagged'])})", ""]
    if not summary["flagged"]:
        lines.append("None.")
    for f in summary["flagged"][:200]:
        lines += [f"- mutant {f['id']} `{f['command']}` ({f['kind']}: {f['detail'][:160]}): "
                  f"**{'; '.join(f['problems'])}**; {f['error_line'][:200] or 'no error line'}",
                  f"  - reproduce: `{f['reproduce']}`"]
    if len(summary["flagged"]) > 200:
        lines.append(f"- ... and {len(summary['flagged']) - 200} more (see the JSON)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="mutants 0..N-1 (default 5000)")
    parser.add_argument("--ids", help="comma-separated mutant ids instead of --n")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per input before it is killed")
    parser.add_argument("--rss-kill-mib", type=int, default=4096, help="kill an input above this RSS")
    parser.add_argument("--out", help="write OUT.json and OUT.md (default: only print)")
    parser.add_argument("--work", help="working folder (default: a new temp folder; records.jsonl stays there)")
    parser.add_argument("--cache", help="folder for generated bombs (default: a shared temp folder)")
    parser.add_argument("--inject", default="", help="MODULE:FUNCTION called in each worker before any input "
                        "(negative controls)")
    parser.add_argument("--debug", action="store_true", help="run the commands with --debug")
    parser.add_argument("--expensive-last", action="store_true", help="run the bombs after everything else")
    parser.add_argument("--no-calibration", action="store_true")
    parser.add_argument("--summarize", metavar="WORK", help="only summarize the records already in WORK (e.g. of "
                        "an interrupted campaign; the ids are those with a record)")
    # the worker (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tasks", help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    from fuzz.mutants import default_cache

    if args.summarize:
        records = [json.loads(line) for f in sorted(Path(args.summarize).glob("w*/records.jsonl"))
                   for line in open(f) if line.strip()]
        records.sort(key=lambda r: (r["id"], COMMANDS.index(r["command"])))
        campaign = Campaign(seed=args.seed, ids=sorted({r["id"] for r in records}),
                            commands=tuple(args.commands.split(",")), jobs=args.jobs, timeout_s=args.timeout,
                            rss_kill_mib=args.rss_kill_mib)
        calibration = [] if args.no_calibration else calibrate(records, args.seed, Path(args.summarize),
                                                                 Path(args.cache) if args.cache else default_cache())
        summary = summarize(records, campaign, 0.0, calibration)
        summary["campaign"]["note"] = f"summarized from the records in {args.summarize}"
        return _write(summary, args.out, Path(args.summarize))
    ids = [int(x) for x in args.ids.split(",")] if args.ids else list(range(args.n))
    campaign = Campaign(seed=args.seed, ids=ids, commands=tuple(args.commands.split(",")), jobs=args.jobs,
                        timeout_s=args.timeout, rss_kill_mib=args.rss_kill_mib, inject=args.inject, debug=args.debug,
                        expensive_last=args.expensive_last)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="device-ai-fuzz-"))
    cache = Path(args.cache) if args.cache else default_cache()
    print(f"fuzz: {len(ids)} mutants x {len(campaign.commands)} commands, seed {args.seed}, {args.jobs} workers; "
          f"work folder {work}", flush=True)
    start = time.time()
    records = run_campaign(campaign, work, cache, progress=True)
    wall = time.time() - start
    calibration = [] if args.no_calibration else calibrate(records, args.seed, work, cache)
    summary = summarize(records, campaign, wall, calibration)
    return _write(summary, args.out, work)


def _write(summary: dict, out_name: str | None, work: Path) -> int:
    text = markdown(summary)
    if out_name:
        out = Path(out_name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
        out.with_suffix(".md").write_text(text)
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}; every record: {work}")
    print(text)
    return 0 if summary["acceptance"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
