"""End-to-end profile of ``device-ai analyze`` (issue 20 item 1): time per stage, peak RSS,
time and memory per slice, for synthetic series of several lengths, side by side in one file.

Series: phantoms/1 cases (``generate_case``, the test split's first seed) of 50, 150 and 300
slices at 512x512, written once by ``write_ct_series`` into ``--work`` and reused by later
runs. Each size is analyzed by the real command (``device_ai.cli.main`` with ``analyze IN
--out OUT``, a fresh ``DEVICE_AI_HOME`` each) in a fresh child process; the parent takes the
child's wall time, and the child's peak RSS is its own ``VmHWM`` when the command returned
(``ru_maxrss`` from ``os.wait4`` is kept beside it: on Linux it also counts the parent's
high-water mark at the fork, which is why phantoms are generated in a process of their own).

Stage times come from wrappers this script installs in the child around the functions the
pipeline calls (by module attribute, so the product code carries no timing hooks); a call
inside another timed call counts for the outer one only. Stages: ``read+contract`` (listing,
reading every file, header and contract checks, decoding check), ``preflight`` (the trial
SEG/SR of the Patient/Study attributes), ``preprocess`` (HU slice to model input, HU decoding
on demand included where the series decodes lazily), ``inference`` (``LockedEngine.run``),
``logits->labels``, ``postprocess`` (connected components, measurements), ``seg/sr build``,
``seg/sr write``, ``previews``, ``model load`` (package digest, signature, ORT session) and
``audit`` (``AuditLog.append``). ``other`` is the child's wall time minus all of them
(interpreter start, imports, staging, fsyncs). After every stage call the child notes the
process's RSS high-water mark (``VmHWM``), so the record shows where the peak is reached.

A benchmark, not a test: the machine is shared, figures are for comparing runs side by side.

    python benchmarks/analyze_profile.py --label before [--sizes 50 150 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (module, attribute, stage); attributes missing in a version of the code are skipped
STAGES = [
    ("device_ai.inference.analyze", "collect_input_files", "read+contract"),
    ("device_ai.inference.analyze", "load_series", "read+contract"),
    ("device_ai.inference.analyze", "preflight_outputs", "preflight"),
    ("device_ai.inference.analyze", "preprocess_slice", "preprocess"),
    ("device_ai.inference.analyze", "logits_to_labels", "logits->labels"),
    ("device_ai.inference.analyze", "clean_labels", "postprocess"),
    ("device_ai.inference.analyze", "measure", "postprocess"),
    ("device_ai.inference.analyze", "build_seg", "seg/sr build"),
    ("device_ai.inference.analyze", "build_report", "seg/sr build"),
    ("device_ai.inference.analyze", "write_seg", "seg/sr write"),
    ("device_ai.inference.analyze", "write_sr", "seg/sr write"),
    ("device_ai.inference.analyze", "select_preview_slices", "previews"),
    ("device_ai.inference.analyze", "render_preview", "previews"),
    ("device_ai.dicom.series", "HUVolume.__getitem__", "preprocess"),  # on-demand decoding (after streaming)
    ("device_ai.inference.engine", "LockedEngine.run", "inference"),
    ("device_ai.app.analysis", "load_engine", "model load"),
    ("device_ai.audit.log", "AuditLog.append", "audit"),
]
ORDER = ["read+contract", "model load", "preflight", "preprocess", "inference", "logits->labels", "postprocess",
         "seg/sr build", "seg/sr write", "previews", "audit", "other"]


def _hwm_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(input_dir: str, out_dir: str, record: str, threads: int, limit_mib: int = 0) -> int:
    """Run ``device-ai analyze`` in this process with stage wrappers; write the stage record.
    ``limit_mib``: another max_input_memory_bytes (to measure what a refused input would cost)."""
    if limit_mib:
        import dataclasses

        from device_ai.app.context import Context

        default_limits = Context.read_limits
        Context.read_limits = lambda self: dataclasses.replace(default_limits(self),
                                                               max_input_memory_bytes=limit_mib * 1024 * 1024)
    seconds: dict[str, float] = {}
    calls: dict[str, int] = {}
    peaks: dict[str, float] = {}
    depth = [0]

    def wrap(function, stage: str):  # noqa: ANN001, ANN202
        @functools.wraps(function)
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
                calls[stage] = calls.get(stage, 0) + 1
                peaks[stage] = _hwm_mib()
                depth[0] -= 1
        return timed

    installed = []
    for module_name, attribute, stage in STAGES:
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, wrap(getattr(owner, name), stage))
        installed.append(f"{module_name}.{attribute}")

    from device_ai.cli import main

    start = time.perf_counter()
    try:
        code = main(["analyze", input_dir, "--out", out_dir, "--threads", str(threads)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    wall = time.perf_counter() - start
    peaks["end"] = _hwm_mib()
    Path(record).write_text(json.dumps({"exit": code, "in_process_s": wall, "stages_s": seconds, "calls": calls,
                                        "hwm_after_stage_mib": peaks, "timed": installed}))
    return 0


def in_subprocess(*argv: str) -> Path:
    """Run this script's ``--make`` step in its own process: the phantoms it generates never
    grow this process, whose memory a forked child's ``ru_maxrss`` would otherwise report
    (Linux saves the pre-exec address space's high-water mark into the child's)."""
    done = subprocess.run([sys.executable, __file__, "--make", *argv], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


NEAR_LIMIT_ITEMS = 36  # Other Patient IDs items per slice: 1000 slices of 512 x 512 charged 633 of 640 MiB


def make_series(work: Path, slices: int, rows: int, headers: str = "phantom") -> Path:
    """A phantoms/1 series; ``headers="realistic"`` pads every slice's header to a scanner's
    (``training.ct_headers.realistic_header``: 400 elements, four sequences, 6 KiB private OB);
    ``"near-limit"`` adds ``NEAR_LIMIT_ITEMS`` Other Patient IDs items (Patient module, kept by
    the series and repeated by the results), so that 1000 slices are charged nearly the whole
    default budget: what an input admitted at the limit costs."""
    from device_ai.training.ct_series import case_key, dataset_bytes, slice_dataset, write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    folder = work / (f"series-{slices}x{rows}" + ("" if headers == "phantom" else f"-{headers}"))
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=slices, rows=rows)
        if headers == "phantom":
            write_ct_series(case, folder)
        else:
            from device_ai.training.ct_headers import realistic_header

            folder.mkdir(parents=True)
            key = case_key(case)
            for index in range(slices):
                ds = realistic_header(slice_dataset(case, index, key=key))
                if headers == "near-limit":
                    from pydicom.dataset import Dataset
                    from pydicom.sequence import Sequence

                    items = []
                    for number in range(NEAR_LIMIT_ITEMS):
                        item = Dataset()
                        item.PatientID, item.TypeOfPatientID = f"SYN-OTHER-{number:04d}", "TEXT"
                        item.IssuerOfPatientID = "SYNTHETIC ISSUER"
                        items.append(item)
                    ds.OtherPatientIDsSequence = Sequence(items)
                (folder / f"CT{index + 1:06d}.dcm").write_bytes(dataset_bytes(ds))
        done.write_text("written by benchmarks/analyze_profile.py\n")
    return folder


REVIEW_CASES = {  # issue 22's independent review: inputs that peaked at 2.9, 4.9 and 5.4 GiB
    "rle-400": "400 slices 512x512, RLE Lossless",
    "deflated-600": "600 slices 512x512, Deflated Explicit VR Little Endian",
    "implicit-us-16": "16 slices 512x512, Implicit VR Little Endian, each with a 15 MiB US value (0028,6020)",
}


def make_review_case(work: Path, name: str) -> Path:
    """The review's inputs rebuilt from phantoms/1 series (written once into ``work``)."""
    import struct

    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

    folder = work / f"review-{name}"
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    slices = {"rle-400": 400, "deflated-600": 600, "implicit-us-16": 16}[name]
    source = make_series(work, slices, 512)
    for path in sorted(source.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        target = folder / path.name
        if name == "rle-400":
            ds.compress(RLELossless)
            ds.save_as(target, enforce_file_format=True)
        elif name == "deflated-600":
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            ds.save_as(target, enforce_file_format=True)
        else:  # 15 MiB of US values spliced in before the pixel data (pydicom would build 8 million ints)
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            ds.save_as(target, enforce_file_format=True)
            data = target.read_bytes()
            at = data.rindex(struct.pack("<HH", 0x7FE0, 0x0010))
            value = bytes(range(256)) * (15 * 1024 * 1024 // 256)
            target.write_bytes(data[:at] + struct.pack("<HHI", 0x0028, 0x6020, len(value)) + value + data[at:])
    done.write_text("written by benchmarks/analyze_profile.py\n")
    return folder


def run_one(series: Path, threads: int, refusal_allowed: bool = False, limit_mib: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="analyze-profile-") as tmp:
        record = Path(tmp) / "record.json"
        env = {**os.environ, "DEVICE_AI_HOME": str(Path(tmp) / "home"),
               "DEVICE_AI_DEMONSTRATION_MODE": "true"}  # the demonstration model on synthetic series (RC-035)
        command = [sys.executable, __file__, "--child", str(series), str(Path(tmp) / "out"), str(record),
                   "--threads", str(threads), "--limit-mib", str(limit_mib)]
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        stdout, stderr = process.stdout.read().decode(), process.stderr.read().decode()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode or not record.exists():
            raise SystemExit(f"child failed ({process.returncode}): {stderr[-2000:]}")
        result = json.loads(record.read_text())
        peak = round(result["hwm_after_stage_mib"]["end"], 1)
        if result["exit"] != 0 and refusal_allowed:
            return {"exit": result["exit"], "peak_rss_mib": peak, "wait4_maxrss_mib": round(usage.ru_maxrss / 1024, 1),
                    "wall_s": round(wall, 2), "message": " ".join((stdout + stderr).split())[:400]}
        if result["exit"] != 0:
            raise SystemExit(f"analyze exited {result['exit']}: {stdout[-1000:]} {stderr[-2000:]}")
        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())
    stages = dict(result["stages_s"])
    stages["other"] = result["in_process_s"] - sum(stages.values())
    slices = summary["input"]["slices"]
    return {
        "exit": 0,
        "slices": slices,
        "rows": summary["input"]["rows"],
        "peak_rss_mib": peak,
        "wait4_maxrss_mib": round(usage.ru_maxrss / 1024, 1),
        "wall_s": round(wall, 2),
        "child_start_s": round(wall - result["in_process_s"], 2),
        "s_per_slice": round(wall / slices, 4),
        "in_process_s_per_slice": round(result["in_process_s"] / slices, 4),
        "inference_s_per_slice": round(stages.get("inference", 0.0) / slices, 4),
        "cpu_user_s": round(usage.ru_utime, 2),
        "cpu_system_s": round(usage.ru_stime, 2),
        "stages_s": {k: round(stages[k], 3) for k in ORDER if k in stages},
        "calls": result["calls"],
        "hwm_after_stage_mib": {k: round(v, 1) for k, v in result["hwm_after_stage_mib"].items()},
        "lesions_found": summary["lesion_count"],
        "timed_functions": result["timed"],
    }


def per_slice(runs: list[dict]) -> dict:
    """Growth from the shortest to the longest series: memory and time per added slice."""
    runs = [run for run in runs if run["exit"] == 0]
    if len(runs) < 2:
        return {}
    first, last = runs[0], runs[-1]
    added = last["slices"] - first["slices"]
    if added <= 0:
        return {}
    return {
        "rss_mib_per_added_slice": round((last["peak_rss_mib"] - first["peak_rss_mib"]) / added, 3),
        "s_per_slice_ratio_longest_to_shortest": round(last["s_per_slice"] / first["s_per_slice"], 3),
        "in_process_s_per_slice_ratio": round(last["in_process_s_per_slice"] / first["in_process_s_per_slice"], 3),
        "inference_s_per_slice_ratio": round(last["inference_s_per_slice"] / first["inference_s_per_slice"], 3)
        if first["inference_s_per_slice"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="run", help="name of this run in the result file (e.g. before, after)")
    parser.add_argument("--commit", default="", help="the code's commit, recorded with the run")
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 150, 300])
    parser.add_argument("--review", nargs="*", default=[], choices=sorted(REVIEW_CASES),
                        help="also analyze these inputs of issue 22's review (peak RSS and exit code)")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--headers", choices=["phantom", "realistic", "near-limit"], default="phantom",
                        help="the slices' headers: the phantom's (~60 elements), a scanner's (400, ct_headers) "
                             "or a scanner's with 36 Other Patient IDs items (near the default memory budget)")
    parser.add_argument("--limit-mib", type=int, default=0,
                        help="analyze under this max_input_memory_bytes instead of the default (diagnosis only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "analyze-profile-series"))
    parser.add_argument("--out", default="benchmarks/results/analyze_profile.json")
    parser.add_argument("--child", nargs=3, metavar=("INPUT", "OUT", "RECORD"), help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        raise SystemExit(child(*args.child, threads=args.threads, limit_mib=args.limit_mib))
    if args.make:
        kind, *rest = args.make
        made = make_series(Path(args.work), int(rest[0]), int(rest[1]), rest[2]) if kind == "series" else \
            make_review_case(Path(args.work), rest[0])
        print(made)
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    runs = []
    for slices in args.sizes:
        series = in_subprocess("series", str(slices), str(args.rows), args.headers, "--work", str(work))
        run = {"slices": slices, **run_one(series, args.threads, refusal_allowed=True, limit_mib=args.limit_mib)}
        if run["exit"]:
            print(f"{args.label}: {slices} slices: exit {run['exit']}, peak {run['peak_rss_mib']} MiB "
                  f"{run['message'][:300]}", flush=True)
        else:
            print(f"{args.label}: {slices} slices: peak {run['peak_rss_mib']} MiB, {run['wall_s']} s, "
                  f"{run['s_per_slice']} s/slice; stages {run['stages_s']}", flush=True)
        runs.append(run)
    review = {}
    for name in args.review:
        result = run_one(in_subprocess("review", name, "--work", str(work)), args.threads, refusal_allowed=True)
        review[name] = {"input": REVIEW_CASES[name], "commit": args.commit, "when": time.strftime("%Y-%m-%dT%H:%M"),
                        **result}
        print(f"{args.label}: review {name}: exit {result['exit']}, peak {result['peak_rss_mib']} MiB, "
              f"{result['wall_s']} s {result.get('message', '')[:200]}", flush=True)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"benchmark": "benchmarks/analyze_profile.py",
                                                                "runs": {}}
    previous = record["runs"].get(args.label, {})
    if not runs:  # a run of review cases only keeps the sizes recorded under this label
        runs = previous.get("runs", [])
    review = {**previous.get("review_cases", {}), **review}
    record["runs"][args.label] = {
        "commit": args.commit,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "threads": args.threads,
        "series": {"generator": "phantoms/1", "seed": "split_seeds('test', 1)[0]", "rows": args.rows,
                   "headers": args.headers},
        "max_input_memory_mib": args.limit_mib or "default",
        "runs": runs,
        "growth": per_slice(runs),
        "review_cases": review,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
