"""Batch de-identification (``anonymize --batch``, issue 17): units per second with 1 and 2
Dask worker processes side by side in one run, their ratio, and the scheduler's overhead per
unit.

Corpus: synthetic phantom CT studies (``write_ct_series``, obviously fake patients), written
once to a temporary folder: ``--studies`` studies of ``--slices`` slices of ``--rows`` rows
(the measured units), and ``--tiny`` one-slice 16-row studies (units that cost almost nothing
to de-identify, so a job of them measures what the batch machinery costs per unit).

Each job is the whole coordinator (``anonymize_batch``: discovery, ledger, the audit entry per
unit, publication, merged report) into a fresh OUT, on an engine started before the clock
starts (a LocalCluster's start-up is reported on its own): ``in-process`` (no Dask),
``LocalCluster`` with 1 and with 2 worker processes. Repetitions are interleaved (1, 2,
in-process, 2, 1, ...) so that machine noise hits each alike; the medians are reported.

Calibration: the same two engines then run pure-CPU tasks (0.05 s each, no I/O); their 2/1 ratio
is what the machine allowed a second worker at the time (on a shared machine it may be 1).

Scheduler overhead per unit: (median seconds of the tiny job on 1 Dask worker - on the
in-process engine) / units, i.e. what Dask adds per unit over running the same units in the
coordinator; and the round trip of a no-op task through the same engine loop.

A benchmark, not a test: timing assertions do not belong in tests on a shared machine.

    python benchmarks/batch_anonymize.py [--studies 16] [--slices 24] [--rows 256] [--tiny 60] [--reps 3]
    TMPDIR=/dev/shm python benchmarks/batch_anonymize.py --out benchmarks/results/batch_anonymize_tmpfs.json

The second form keeps every write in memory (tmpfs: fsync and syncfs cost nothing), which
separates the cost of durable writes on a shared disk from the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Kept:
    """An engine the coordinator may 'close' without closing it (it is reused across jobs)."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine = engine
        self.name, self.dashboard, self.workers = engine.name, engine.dashboard, engine.workers

    def run(self, function, tasks):  # noqa: ANN001, ANN201
        return self.engine.run(function, tasks)

    def close(self) -> None:
        pass


def _noop(task: int) -> int:
    return task


def _burn(task: int) -> int:
    """0.05 s of CPU in pure Python: what the machine's free cores allow, without any I/O."""
    started = time.process_time()
    while time.process_time() - started < 0.05:
        pass
    return task


def cpu_tasks_per_s(engine, tasks: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    assert sum(1 for _ in engine.run(_burn, range(tasks))) == tasks
    return tasks / (time.perf_counter() - started)


def write_corpus(folder: Path, studies: int, slices: int, rows: int, first: int) -> None:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    for i, seed in enumerate(split_seeds("test", first + studies)[first:]):
        write_ct_series(generate_case(seed, n_slices=slices, rows=rows), folder / f"study-{i:04d}")


def job_seconds(corpus: Path, scratch: Path, engine, expected_units: int) -> float:  # noqa: ANN001
    from device_ai.app.context import Context
    from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
    from device_ai.config import Settings

    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(scratch / "out-quarantine", ignore_errors=True)
    started = time.perf_counter()
    result = anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=corpus, out=out),
                             engine_factory=lambda *args: engine)
    seconds = time.perf_counter() - started
    if result.published != expected_units or result.exit_code != 0:
        raise SystemExit(f"benchmark job failed: {result}")
    return seconds


def noop_round_trip(engine, tasks: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    done = sum(1 for _ in engine.run(_noop, range(tasks)))
    assert done == tasks
    return (time.perf_counter() - started) / tasks


def _filesystem(folder: Path) -> str:
    """The file system type of ``folder`` (the longest mount point above it, /proc/mounts)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, point, fstype = line.split()[:3]
            if str(folder).startswith(point.rstrip("/") + "/") and len(point) > len(best):
                best, kind = point, fstype
    except OSError:
        pass
    return f"{kind} ({best or '?'})"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks"],
                               cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=16)
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--tiny", type=int, default=60)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch_anonymize.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    os.environ["DEVICE_AI_HOME"] = str(work / "home")  # its own key store and audit log
    from device_ai.batch.engines import DaskEngine, InProcessEngine

    try:
        write_corpus(work / "units", args.studies, args.slices, args.rows, first=0)
        write_corpus(work / "tiny", args.tiny, 1, 16, first=args.studies)
        load_before = os.getloadavg()
        started_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        startup: dict[str, float] = {}
        engines = {}
        for name, workers in (("dask_1_worker", 1), ("dask_2_workers", 2)):
            t = time.perf_counter()
            engines[name] = DaskEngine(workers=workers)
            startup[name] = round(time.perf_counter() - t, 2)
        engines["in_process"] = InProcessEngine()
        kept = {name: _Kept(engine) for name, engine in engines.items()}
        order = ["dask_1_worker", "dask_2_workers", "in_process"]
        # one untimed job each: imports and the rule table load in every worker process
        for name in order:
            job_seconds(work / "tiny", work / "scratch", kept[name], args.tiny)
        seconds: dict[str, list[float]] = {n: [] for n in order}
        tiny: dict[str, list[float]] = {n: [] for n in order}
        for rep in range(args.reps):
            for name in (order if rep % 2 == 0 else list(reversed(order))):
                seconds[name].append(job_seconds(work / "units", work / "scratch", kept[name], args.studies))
                tiny[name].append(job_seconds(work / "tiny", work / "scratch", kept[name], args.tiny))
        round_trip = {name: noop_round_trip(engines[name], 200) for name in ("dask_1_worker", "dask_2_workers")}
        # calibration, same engines, right after: pure CPU tasks (no I/O, no device code)
        calibration = {name: cpu_tasks_per_s(engines[name], 40) for name in ("dask_1_worker", "dask_2_workers")}
        for engine in engines.values():
            engine.close()
        rate = {n: args.studies / statistics.median(s) for n, s in seconds.items()}
        tiny_rate = {n: args.tiny / statistics.median(s) for n, s in tiny.items()}
        overhead_ms = (statistics.median(tiny["dask_1_worker"]) - statistics.median(tiny["in_process"])) \
            / args.tiny * 1000
        result = {
            "corpus": {"units": args.studies, "files_per_unit": args.slices, "rows": args.rows,
                       "bytes_per_file_approx": args.rows * args.rows * 2,
                       "tiny_units": args.tiny, "tiny_unit": "1 file of 16x16"},
            "repetitions": args.reps,
            "work_filesystem": _filesystem(work),  # where corpus, outputs, ledger and audit log were (TMPDIR)
            "measured": {"started_utc": started_utc, "commit": _commit(),
                         "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                         "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]},
            "cluster_startup_s": startup,
            "seconds": {n: [round(x, 3) for x in s] for n, s in seconds.items()},
            "units_per_s": {n: round(r, 2) for n, r in rate.items()},
            "ratio_2_workers_over_1": round(rate["dask_2_workers"] / rate["dask_1_worker"], 3),
            "ratio_1_worker_over_in_process": round(rate["dask_1_worker"] / rate["in_process"], 3),
            "tiny_seconds": {n: [round(x, 3) for x in s] for n, s in tiny.items()},
            "tiny_units_per_s": {n: round(r, 1) for n, r in tiny_rate.items()},
            "scheduler_overhead_ms_per_unit": round(overhead_ms, 2),
            "noop_task_round_trip_ms": {n: round(v * 1000, 2) for n, v in round_trip.items()},
            "calibration_cpu_tasks_per_s": {n: round(v, 2) for n, v in calibration.items()},
            "calibration_ratio_2_workers_over_1": round(calibration["dask_2_workers"] / calibration["dask_1_worker"], 3),
            "calibration_note": "40 tasks of 0.05 s CPU each (pure Python, no I/O): the ratio the machine allows "
                                "2 worker processes at the time of the run; read ratio_2_workers_over_1 against it",
            "note": "each job is the whole coordinator (discovery, ledger, one audit entry per unit, publication, "
                    "merged report), engines started before the clock; overhead = (tiny job on 1 Dask worker - "
                    "tiny job in-process) / tiny units",
            "versions": {"python": platform.python_version(), **_versions()},
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
                       "shared with other jobs (noisy)",
        }
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"units/s  : 1 worker {rate['dask_1_worker']:.2f}, 2 workers {rate['dask_2_workers']:.2f}, "
              f"in-process {rate['in_process']:.2f}  ({args.studies} units of {args.slices} files)")
        print(f"ratio    : 2 workers / 1 worker = {result['ratio_2_workers_over_1']} (pure CPU tasks on the same "
              f"engines: {result['calibration_ratio_2_workers_over_1']})")
        print(f"overhead : {overhead_ms:.2f} ms per unit (tiny units: 1 Dask worker vs in-process); "
              f"no-op task round trip {result['noop_task_round_trip_ms']} ms")
        print(f"startup  : {startup} s; load {load_before} before, {os.getloadavg()} after")
        print(f"written  : {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _versions() -> dict[str, str]:
    import dask
    import distributed

    return {"dask": dask.__version__, "distributed": distributed.__version__}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
