"""De-identification throughput: our PS3.15 engine vs dicognito 0.19.0, side by side in one run.

Corpus: synthetic CT series from the phantom generator (``slice_dataset``, as
``write_ct_series`` writes them, plus a few fake scanner-filled identifiers), one fake
patient per series, 512x512 16-bit slices (about 0.5 MB per file), written once to a
temporary folder. Both tools then read every file, de-identify it and write every file to
a fresh output folder, in this process, repetitions interleaved (ours, theirs, theirs,
ours, ...) so that machine noise hits both alike; median files/s (wall clock) of each and
the ratio, and the process CPU time per file, which a shared machine disturbs less.

- ours: ``Deidentifier.run`` under the Basic Profile, as ``device-ai anonymize`` runs it: a pool
  of worker processes, one per usable core (``RunConfig.workers`` 0). That includes more work
  per file than dicognito does: the leak self-check over the output bytes of every file,
  durable writes (``syncfs`` per batch, the whole output appearing in one rename) and the
  per-run report. It is counted as is.
- ours, one process: the same with ``workers=1``, for the CPU time per file of our pipeline
  without the pool (the pool's own cost shows as the difference).
- dicognito: its command-line pipeline (``python -m dicognito SRC -o OUT --quiet --seed S``,
  called in-process through ``dicognito.__main__.main``; the console script of 0.19.0 is
  broken): ``dcmread``, burned-in annotation guard, ``Anonymizer.anonymize``, ``save_as``
  named by the new SOP Instance UID, no fsync.

CPU time is that of this process and of its worker processes (``getrusage`` SELF plus
CHILDREN; the workers are joined before ``run`` returns), user and system; it counts the
kernel's writeback that our syncfs starts. dicognito runs in one process, without fsync; its
outputs are deleted after each repetition, possibly before they ever reach the disk.

A benchmark, not a test: timing assertions do not belong in tests on a shared machine.
Needs the ``bench`` extra (``pip install -e .[bench]``).

    python benchmarks/deid_throughput.py [--cases 3] [--slices 64] [--rows 512] [--reps 7] [--out FILE]
    python benchmarks/deid_throughput.py --quick   # 1 x 12 slices, 3 repetitions, under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dicognito
import pydicom
from dicognito.__main__ import main as dicognito_main

import device_ai
from device_ai.dicom.deidentify.options import parse_options
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.training.ct_series import case_key, dataset_bytes, slice_dataset
from device_ai.training.phantoms import generate_case, split_seeds

SECRET = b"benchmark-site-secret-not-a-real-key-0123456789"


def write_corpus(folder: Path, cases: int, slices: int, rows: int) -> list[Path]:
    """One series per phantom case, as ``write_ct_series`` writes it, plus the identifying
    attributes a scanner fills in (all fake) so that both tools have a header's work to do.

    Software Versions is set to a scanner's: the generator writes ``device_ai.__version__``
    there, the same string our de-identifier writes as the de-identifying equipment's
    version, and the leak self-check then fails the run (a false positive, reported apart).
    """
    paths: list[Path] = []
    for number, seed in enumerate(split_seeds("test", cases)):
        case = generate_case(seed, split="test", n_slices=slices, rows=rows)
        key, series = case_key(case), folder / f"series{number + 1:02d}"
        series.mkdir(parents=True)
        for index in range(slices):
            ds = slice_dataset(case, index, study_date=f"2025{number % 12 + 1:02d}15", key=key)
            ds.SoftwareVersions = "SYNTH-CT 4.2.1"
            ds.AccessionNumber = f"FAKE-ACC-{number:06d}"
            ds.ReferringPhysicianName = "FAKE^REFERRER^DOCTOR"
            ds.OperatorsName = "FAKE^OPERATOR"
            ds.InstitutionAddress = "1 Nowhere Lane, Faketown"
            ds.PatientBirthDate = "19610704"
            ds.DeviceSerialNumber = f"FAKE-SERIAL-{number:04d}"
            paths.append(series / f"CT{index + 1:06d}.dcm")
            paths[-1].write_bytes(dataset_bytes(ds))
    return paths


WORKERS_USED: dict[str, int] = {}


def _ours(corpus: Path, out: Path, workers: int, label: str) -> int:
    result = Deidentifier(RunConfig(options=parse_options([]), secret=SECRET, workers=workers)).run(
        [corpus], out / "deidentified", out / "quarantine")
    if result.quarantined or not result.self_check_passed:
        raise SystemExit(f"ours: {len(result.quarantined)} quarantined, self-check passed {result.self_check_passed}")
    WORKERS_USED[label] = result.workers
    return len(result.written)


def ours(corpus: Path, out: Path) -> int:
    return _ours(corpus, out, 0, "ours")


def ours_one_process(corpus: Path, out: Path) -> int:
    return _ours(corpus, out, 1, "ours_one_process")


def theirs(corpus: Path, out: Path) -> int:
    dicognito_main([str(corpus), "--output-directory", str(out / "deidentified"), "--quiet", "--seed", "benchmark"])
    return sum(1 for _ in (out / "deidentified").glob("*.dcm"))


def cpu_seconds() -> float:
    """User and system CPU time of this process and of its finished (joined) child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(runner, corpus: Path, scratch: Path, expected: int) -> tuple[float, float]:  # noqa: ANN001
    """(files per second of wall clock, CPU milliseconds per file, workers included) of one run."""
    out = scratch / runner.__name__
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start, cpu = time.perf_counter(), cpu_seconds()
    written = runner(corpus, out)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if written != expected:
        raise SystemExit(f"{runner.__name__}: wrote {written} of {expected} files")
    shutil.rmtree(out)
    return expected / elapsed, cpu * 1000 / expected


def _commit() -> str:
    """The commit measured, ``+dirty`` when the working tree differs from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or "cpu"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3, help="series (one fake patient each)")
    parser.add_argument("--slices", type=int, default=64, help="slices per series")
    parser.add_argument("--rows", type=int, default=512, help="rows = columns of each slice")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions of each tool")
    parser.add_argument("--quick", action="store_true", help="1 series of 12 slices, 3 repetitions")
    parser.add_argument("--out", default="benchmarks/results/deid_throughput.json")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.slices, args.reps = 1, 12, 3

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp:
        corpus, scratch = Path(tmp) / "corpus", Path(tmp) / "scratch"
        paths = write_corpus(corpus, args.cases, args.slices, args.rows)
        total_bytes = sum(p.stat().st_size for p in paths)
        print(f"corpus: {len(paths)} files in {args.cases} series, {args.rows}x{args.rows} 16-bit, "
              f"{total_bytes / 2**20:.1f} MiB")
        warm = Path(tmp) / "warm"  # first-use costs (rule table, IOD types) outside the timing
        write_corpus(warm, 1, 2, args.rows)
        first = {"ours": 2 / timed(ours, warm, scratch, 2)[0], "dicognito": 2 / timed(theirs, warm, scratch, 2)[0]}
        labels = {ours: "ours", theirs: "dicognito", ours_one_process: "ours_one_process"}
        rates: dict[str, list[float]] = {label: [] for label in labels.values()}
        cpu: dict[str, list[float]] = {label: [] for label in labels.values()}
        for rep in range(args.reps):
            order = (ours, theirs, ours_one_process) if rep % 2 == 0 else (ours_one_process, theirs, ours)
            for runner in order:
                label = labels[runner]
                rate, cpu_ms = timed(runner, corpus, scratch, len(paths))
                rates[label].append(rate)
                cpu[label].append(cpu_ms)
                print(f"rep {rep + 1}: {label:16s} {rate:7.1f} files/s  {cpu_ms:6.2f} CPU ms/file", flush=True)

    ours_median = statistics.median(rates["ours"])
    theirs_median = statistics.median(rates["dicognito"])
    paired = statistics.median(o / t for o, t in zip(rates["ours"], rates["dicognito"]))  # same repetition
    result = {
        "corpus": {"generator": "device_ai.training.phantoms.generate_case + ct_series.slice_dataset (synthetic, fake "
                                "patients; fake accession, referrer, operator, address, birth date, serial added)",
                   "series": args.cases, "slices_per_series": args.slices, "rows": args.rows, "columns": args.rows,
                   "bits_allocated": 16, "transfer_syntax": "Explicit VR Little Endian",
                   "files": len(paths), "bytes": total_bytes},
        "repetitions": args.reps,
        "order": "interleaved (ours, dicognito, ours in one process; then the reverse), one warm-up run of ours and "
                 "dicognito on 2 files first",
        "measured": {"started_utc": started, "commit": _commit(),
                     "load_average_1_5_15_before": [round(x, 2) for x in load_before],
                     "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()]},
        "ours": {"what": "Deidentifier.run, Basic Profile, as device-ai anonymize runs it: a pool of worker processes "
                         "(one per usable core) that read, de-identify, self-check every output and write it into "
                         "the private staging folder; syncfs per batch, one rename of the output folder, per-run "
                         "report",
                 "worker_processes": WORKERS_USED.get("ours"),
                 "files_per_s": [round(r, 1) for r in rates["ours"]],
                 "files_per_s_median": round(ours_median, 1),
                 "cpu_ms_per_file": [round(c, 2) for c in cpu["ours"]],
                 "cpu_ms_per_file_median": round(statistics.median(cpu["ours"]), 2),
                 "first_run_2_files_s": round(first["ours"], 2)},
        "ours_one_process": {"what": "the same with workers=1: everything in this process",
                             "files_per_s": [round(r, 1) for r in rates["ours_one_process"]],
                             "files_per_s_median": round(statistics.median(rates["ours_one_process"]), 1),
                             "cpu_ms_per_file": [round(c, 2) for c in cpu["ours_one_process"]],
                             "cpu_ms_per_file_median": round(statistics.median(cpu["ours_one_process"]), 2)},
        "dicognito": {"what": "python -m dicognito SRC -o OUT --quiet --seed (in-process): dcmread, burned-in guard, "
                              "Anonymizer.anonymize, save_as by new SOP Instance UID, no fsync",
                      "files_per_s": [round(r, 1) for r in rates["dicognito"]],
                      "files_per_s_median": round(theirs_median, 1),
                      "cpu_ms_per_file": [round(c, 2) for c in cpu["dicognito"]],
                      "cpu_ms_per_file_median": round(statistics.median(cpu["dicognito"]), 2),
                      "first_run_2_files_s": round(first["dicognito"], 2)},
        "ratio_ours_over_dicognito": round(ours_median / theirs_median, 2),
        "ratio_per_repetition": [round(o / t, 2) for o, t in zip(rates["ours"], rates["dicognito"])],
        "ratio_per_repetition_median": round(paired, 2),
        "cpu_note": "CPU time per file (user and system, all threads, this process and its joined worker "
                    "processes); ours includes the kernel writeback its syncfs starts; dicognito runs in one process",
        "cpu_ratio_dicognito_over_ours": round(statistics.median(cpu["dicognito"]) / statistics.median(cpu["ours"]), 2),
        "cpu_ratio_dicognito_over_ours_one_process": round(
            statistics.median(cpu["dicognito"]) / statistics.median(cpu["ours_one_process"]), 2),
        "first_run_note": "first run in the process, 2 files, after imports: ours loads the rule table and the "
                          "PS3.3 IOD tables (highdicom's 22 MB JSON) once per process",
        "versions": {"device_ai": device_ai.__version__, "dicognito": dicognito.__version__,
                     "pydicom": pydicom.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores, "
                   f"{platform.system()} {platform.release()}; shared with other jobs (noisy)",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"ours     : {ours_median:7.1f} files/s (median of {args.reps})")
    print(f"dicognito: {theirs_median:7.1f} files/s (median of {args.reps})")
    print(f"ratio    : ours / dicognito = {ours_median / theirs_median:.2f} of the medians, {paired:.2f} median of "
          "the ratios per repetition (files/s; above 1: ours is faster)")
    print(f"CPU      : ours {statistics.median(cpu['ours']):.2f} ms/file ({WORKERS_USED.get('ours')} workers), ours in one "
          f"process {statistics.median(cpu['ours_one_process']):.2f} ms/file, "
          f"dicognito {statistics.median(cpu['dicognito']):.2f} ms/file")
    print(f"load     : {load_before} before, {os.getloadavg()} after")


if __name__ == "__main__":
    sys.exit(main())
