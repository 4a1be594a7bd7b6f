"""DICOM node receive rate and end-to-end time: `device-ai serve` beside Orthanc, in one run.

One synthetic CT series (the phantom generator, ``slice_dataset`` as ``write_ct_series``
writes it; fake patient; 100 slices of 512x512 16-bit by default, about 0.5 MB each) is
written to a temporary folder with new UIDs for every repetition. In each repetition the same
sender, dcmtk ``storescu`` (one association, all files), sends the same files to two
receivers on 127.0.0.1, one after the other (which goes first alternates):

- ``device-ai serve`` as a child process (its own DEVICE_AI_HOME in the temporary folder, the
  embedded model, series ready after ``--idle`` seconds without a new instance, one
  destination: Orthanc's DICOM port by C-STORE). Each instance is written to the spool,
  fsynced, renamed and its folder fsynced, and its receive recorded in the audit trail
  (itself fsynced), before the Success response.
- Orthanc (the Debian package) as the PACS, a child process with a JSON configuration in the
  temporary folder, ``SyncStorageArea`` true (its default since 1.7.4: each file flushed to
  disk before the response), SQLite index, no compression.

Receive rate: instances / wall-clock seconds of the whole ``storescu`` run (process start,
association, 100 C-STOREs, release), the same sender and files for both; the ratio of the
two. End to end: from the end of the ``storescu`` run to `serve` (its last instance
acknowledged) until Orthanc holds both the SEG and the SR of that series (Orthanc's REST API
polled every 50 ms); split with the node's own state files into waiting for the series to go
idle (``--idle``, a setting: a PACS may pause between associations), the analysis (contract,
locked engine, SEG and SR written, audited) and the sends. Repetitions are sequential: the
next starts only after the previous result is in Orthanc, so analysis never overlaps a
receive. One warm-up repetition (a 10-slice series through everything) first, not counted.

A benchmark, not a test: timing assertions do not belong in tests on a shared machine. Needs
dcmtk (``storescu``) and Orthanc (``.ci/run`` installs both).

    python benchmarks/node_receive.py [--slices 100] [--rows 512] [--reps 5] [--idle 5] [--out FILE]
    python benchmarks/node_receive.py --quick   # 20 slices, 1 repetition
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pydicom

import device_ai
from device_ai.training.ct_series import case_key, dataset_bytes, slice_dataset
from device_ai.training.phantoms import generate_case, split_seeds

SENDER_AET = "BENCHSCU"
NODE_AET = "DEVICEAI"
PACS_AET = "BENCHPACS"
POLL_S = 0.05


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, step: float = POLL_S):  # noqa: ANN001, ANN201
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").is_file() else None)
    if found is None:
        raise SystemExit(f"{name} not found: install dcmtk and orthanc (.ci/run does)")
    return found


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


class Orthanc:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.http, self.dicom = free_port(), free_port()
        config = {"Name": "BENCH-PACS", "DicomAet": PACS_AET, "DicomPort": self.dicom, "HttpPort": self.http,
                  "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
                  "DicomAlwaysAllowStore": True, "DicomModalities": {}, "SaveJobs": False, "StableAge": 60,
                  "SyncStorageArea": True, "StorageCompression": False, "OverwriteInstances": False}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.out", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen([tool("Orthanc"), f"--logdir={folder}", str(folder / "orthanc.json")],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._up, 60, "Orthanc to start", step=0.1)

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise SystemExit("Orthanc exited at start")
        try:
            self.request("GET", "/system")
            return True
        except (urllib.error.URLError, ConnectionError):
            return False

    def request(self, method: str, path: str, body: dict | None = None):  # noqa: ANN201
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def modalities(self, study_uid: str) -> dict[str, int]:
        """Instances per modality that Orthanc holds in the study."""
        found = self.request("POST", "/tools/find", {"Level": "Series", "Query": {"StudyInstanceUID": study_uid},
                                                     "Expand": True})
        counts: dict[str, int] = {}
        for series in found:
            modality = series["MainDicomTags"].get("Modality", "")
            counts[modality] = counts.get(modality, 0) + len(series["Instances"])
        return counts

    def version(self) -> str:
        return str(self.request("GET", "/system").get("Version", "?"))

    def close(self) -> None:
        stop(self.process)
        self.log.close()


class Serve:
    def __init__(self, folder: Path, orthanc: Orthanc, idle_s: float) -> None:
        self.home = folder / "home"
        self.home.mkdir(parents=True, mode=0o700)
        self.port = free_port()
        destination = {"name": "pacs", "kind": "dimse", "ae_title": PACS_AET, "host": "127.0.0.1",
                       "port": orthanc.dicom, "timeout_s": 30}
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVICE_AI_")}
        env.update({"DEVICE_AI_HOME": str(self.home), "DEVICE_AI_NODE_PORT": str(self.port),
                    "DEVICE_AI_NODE_ALLOWED_CALLING_AETS": SENDER_AET, "DEVICE_AI_NODE_SERIES_IDLE_S": f"{idle_s:g}",
                    "DEVICE_AI_NODE_DESTINATIONS": json.dumps([destination]), "DEVICE_AI_NODE_MIN_FREE_MB": "0",
                    "PYTHONUNBUFFERED": "1"})
        self.env = env
        self.output = folder / "serve.out"
        with open(self.output, "wb") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", "device_ai.cli", "serve"], env=env,
                                            stdout=sink, stderr=subprocess.STDOUT)

        def listening() -> bool:
            if self.process.poll() is not None:
                raise SystemExit(f"serve exited at start: {self.output.read_text()}")
            return "listening on" in self.output.read_text()

        wait_for(listening, 120, "device-ai serve to listen", step=0.1)

    def markers(self) -> set[str]:
        return {p.name for p in (self.home / "node" / "ready").glob("*.json")}

    def stages(self, marker_name: str) -> dict[str, float]:
        """Epoch seconds of the series' last receipt, hand-off, analysis done and last result sent,
        from the node's state files (device_ai.node.spool, .worker and .outbound document them)."""
        root = self.home / "node"
        marker = json.loads((root / "ready" / marker_name).read_text())
        key = marker_name.removesuffix(".json")
        done = json.loads((root / "work" / key / "done.json").read_text())
        folder = root / "outbound" / "sent" / "pacs"  # written just after Orthanc answered: may lag the poll
        paths = wait_for(lambda: len(found := list(folder.glob(f"{key}.*.json"))) == 2 and found, 60,
                         f"the node to record both results of {key} as sent")
        sent = [json.loads(p.read_text()) for p in paths]
        return {"last_received": epoch(marker["last_received_utc"]), "ready": epoch(marker["ready_utc"]),
                "analysed": epoch(done["utc"]), "sent": max(epoch(s["sent_utc"]) for s in sent)}

    def model(self) -> str:
        """The model the node analysed with, as its `device-ai status --json` names it."""
        found = subprocess.run([sys.executable, "-m", "device_ai.cli", "status", "--json"], env=self.env,
                               capture_output=True, text=True, timeout=120)
        model = json.loads(found.stdout)["model"]
        return f"{model['name']} {model['version']} (manifest sha256 {model['manifest_sha256'][:16]}...)"

    def close(self) -> int:
        stop(self.process)
        return self.process.returncode


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def write_series(folder: Path, case, rep: str) -> tuple[list[Path], str, str]:  # noqa: ANN001
    """The case as Part 10 files with UIDs of its own for ``rep``; (files, study UID, series UID)."""
    folder.mkdir(parents=True)
    key = case_key(case) + "\x1f" + rep
    paths = []
    for index in range(case.hu.shape[0]):
        ds = slice_dataset(case, index, key=key)
        paths.append(folder / f"CT{index + 1:06d}.dcm")
        paths[-1].write_bytes(dataset_bytes(ds))
    first = pydicom.dcmread(paths[0], stop_before_pixels=True)
    return paths, str(first.StudyInstanceUID), str(first.SeriesInstanceUID)


def send(port: int, called: str, files: list[Path], log: Path) -> tuple[float, float]:
    """storescu, one association; (wall seconds, epoch at its end). Every instance must succeed."""
    start = time.monotonic()
    result = subprocess.run([tool("storescu"), "-v", "-aet", SENDER_AET, "-aec", called, "-to", "60",
                             "127.0.0.1", str(port), *map(str, files)], capture_output=True, text=True, timeout=600)
    elapsed, ended = time.monotonic() - start, time.time()
    log.write_text(result.stdout + result.stderr)
    successes = (result.stdout + result.stderr).count("Received Store Response (Success)")
    if result.returncode != 0 or successes != len(files):
        raise SystemExit(f"storescu to {called}: exit {result.returncode}, {successes} of {len(files)} acknowledged "
                         f"(see {log})")
    return elapsed, ended


def repetition(number: int, case, scratch: Path, serve: Serve, orthanc: Orthanc, serve_first: bool) -> dict:  # noqa: ANN001
    files, study, _series = write_series(scratch / f"rep{number}", case, f"benchmark repetition {number}")
    before = serve.markers()
    n = len(files)
    receivers = [("serve", serve.port, NODE_AET), ("orthanc", orthanc.dicom, PACS_AET)]
    timing: dict[str, tuple[float, float]] = {}
    for label, port, called in receivers if serve_first else receivers[::-1]:
        timing[label] = send(port, called, files, scratch / f"rep{number}-{label}.log")
    sent_at = timing["serve"][1]
    have = wait_for(lambda: (m := orthanc.modalities(study)).get("SEG") and m.get("SR") and m, 900,
                    "the SEG and the SR in Orthanc")
    stored_at = time.time()
    if have.get("CT") != n or have["SEG"] != 1 or have["SR"] != 1:
        raise SystemExit(f"Orthanc holds {have} for the study, expected {n} CT, 1 SEG, 1 SR")
    [marker] = serve.markers() - before  # this series' one generation
    stages = serve.stages(marker)
    shutil.rmtree(scratch / f"rep{number}")
    return {"first": "serve" if serve_first else "orthanc",
            "serve_instances_per_s": n / timing["serve"][0], "orthanc_instances_per_s": n / timing["orthanc"][0],
            "serve_send_s": timing["serve"][0], "orthanc_send_s": timing["orthanc"][0],
            "end_to_end_s": stored_at - sent_at,
            "until_ready_s": stages["ready"] - sent_at,
            "analysis_s": stages["analysed"] - stages["ready"],
            "send_results_s": stored_at - stages["analysed"],
            "node_recorded_sent_after_done_s": stages["sent"] - stages["analysed"],
            "idle_measured_by_node_s": stages["ready"] - stages["last_received"],
            "last_receipt_to_storescu_end_s": sent_at - stages["last_received"]}


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or "cpu"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "cpu")


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return 0.0


def _filesystem(path: Path) -> str:
    try:
        found = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, timeout=10).stdout.splitlines()
        return found[-1].split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def _dcmtk() -> str:
    out = subprocess.run([tool("storescu"), "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.split("storescu", 1)[-1].split("$")[0].strip() if "storescu" in out else "?"


def _r(values: list[float], digits: int = 2) -> list[float]:
    return [round(v, digits) for v in values]


def markdown(result: dict) -> str:
    s, o, e = result["serve"], result["orthanc"], result["end_to_end"]
    lines = [
        "# DICOM node: receive rate and end-to-end time",
        "",
        f"Generated by `benchmarks/node_receive.py` on {result['date_utc']} (device_ai {result['versions']['device_ai']}"
        f", commit {result['commit']}). Machine: {result['machine']}.",
        "",
        f"Series: {result['series']['slices']} synthetic CT slices, {result['series']['rows']}x"
        f"{result['series']['rows']} 16-bit, {result['series']['bytes'] / 2**20:.1f} MiB, explicit VR little endian; "
        f"sender: dcmtk storescu {result['versions']['dcmtk']}, one association; {result['repetitions']} repetitions "
        "(alternating which receiver goes first) after one warm-up.",
        "",
        "| receiver | instances/s (median) | per repetition | storescu run, s (median) |",
        "|---|---|---|---|",
        f"| device-ai serve | {s['instances_per_s_median']} | {', '.join(map(str, s['instances_per_s']))} | "
        f"{s['send_s_median']} |",
        f"| Orthanc {result['versions']['orthanc']} | {o['instances_per_s_median']} | "
        f"{', '.join(map(str, o['instances_per_s']))} | {o['send_s_median']} |",
        "",
        f"Ratio serve / Orthanc (instances/s): **{result['ratio_serve_over_orthanc']}** of the medians, "
        f"{result['ratio_per_repetition_median']} median of the ratios per repetition "
        f"({', '.join(map(str, result['ratio_per_repetition']))}); above 1: serve receives faster.",
        "",
        f"End to end, last instance acknowledged by serve to SEG and SR stored in Orthanc: **{e['seconds_median']} s** "
        f"(median; {', '.join(map(str, e['seconds']))}), of which",
        "",
        f"- until the series is handed off (the rest of node_series_idle_s = {result['node_series_idle_s']:g} s "
        f"after the last instance, and the assembly poll): {e['until_ready_s_median']} s",
        f"- analysis (worker pick-up, model verification, input contract, locked engine on {result['model']}, "
        f"SEG + SR written, audited): {e['analysis_s_median']} s",
        f"- sending SEG and SR to Orthanc by C-STORE, until this script saw both there (50 ms polling of its REST "
        f"API): {e['send_results_s_median']} s",
        "",
        "Notes: " + " ".join(result["notes"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100, help="slices of the series")
    parser.add_argument("--rows", type=int, default=512, help="rows = columns of each slice (256 to 512)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions")
    parser.add_argument("--idle", type=float, default=5.0, help="node_series_idle_s of the node, seconds")
    parser.add_argument("--quick", action="store_true", help="20 slices, 1 repetition")
    parser.add_argument("--out", default="benchmarks/results/node_receive.json", help="JSON; the .md beside it")
    args = parser.parse_args()
    if args.quick:
        args.slices, args.reps = 20, 1
    if "DEVICE_AI_MODEL_PATH" in os.environ:
        raise SystemExit("unset DEVICE_AI_MODEL_PATH: the benchmark measures the embedded model")

    case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=args.slices, rows=args.rows)
    warm_case = generate_case(split_seeds("test", 1)[0], split="test", n_slices=10, rows=args.rows)
    reps = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="node-bench-") as tmp:
        scratch = Path(tmp)
        orthanc = Orthanc(scratch / "orthanc")
        serve = None
        try:
            serve = Serve(scratch / "serve", orthanc, args.idle)
            probe, _, _ = write_series(scratch / "probe", case, "size probe")
            series_bytes = sum(p.stat().st_size for p in probe)
            shutil.rmtree(scratch / "probe")
            print(f"series: {args.slices} slices {args.rows}x{args.rows}, {series_bytes / 2**20:.1f} MiB; "
                  f"serve on {serve.port}, Orthanc on {orthanc.dicom}; warm-up ...", flush=True)
            repetition(0, warm_case, scratch, serve, orthanc, serve_first=False)
            for number in range(1, args.reps + 1):
                rep = repetition(number, case, scratch, serve, orthanc, serve_first=number % 2 == 0)
                reps.append(rep)
                print(f"rep {number} ({rep['first']} first): serve {rep['serve_instances_per_s']:6.1f} inst/s, "
                      f"Orthanc {rep['orthanc_instances_per_s']:6.1f} inst/s; end to end {rep['end_to_end_s']:6.1f} s "
                      f"(until ready {rep['until_ready_s']:.1f}, analysis {rep['analysis_s']:.1f}, "
                      f"send {rep['send_results_s']:.2f})", flush=True)
            orthanc_version, model = orthanc.version(), serve.model()
        finally:
            code = serve.close() if serve is not None else 0
            orthanc.close()
        if code not in (0, -signal.SIGTERM):
            raise SystemExit(f"serve ended with {code}: {(scratch / 'serve' / 'serve.out').read_text()[-3000:]}")
        filesystem = _filesystem(scratch)
    load_after = os.getloadavg()

    med = statistics.median
    serve_rates = [r["serve_instances_per_s"] for r in reps]
    orthanc_rates = [r["orthanc_instances_per_s"] for r in reps]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    result = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "series": {"generator": "device_ai.training.phantoms.generate_case + ct_series.slice_dataset (synthetic, "
                                "fake patient; new UIDs per repetition)",
                   "slices": args.slices, "rows": args.rows, "columns": args.rows, "bits_allocated": 16,
                   "transfer_syntax": "Explicit VR Little Endian", "bytes": series_bytes},
        "sender": "dcmtk storescu -v, one association per run, all files; the same files to both receivers",
        "repetitions": args.reps,
        "order": "sequential; alternating which receiver is sent to first; the next repetition starts after the "
                 "previous result is in Orthanc; one 10-slice warm-up repetition first, not counted",
        "node_series_idle_s": args.idle,
        "model": model,
        "serve": {"what": "device-ai serve (child process): spool write, fsync, rename, folder fsync, read back with "
                          "the device's reader, audit entry (fsynced), then Success; worker and outbound threads in "
                          "the same process",
                  "instances_per_s": _r(serve_rates, 1), "instances_per_s_median": round(med(serve_rates), 1),
                  "send_s": _r([r["serve_send_s"] for r in reps]),
                  "send_s_median": round(med(r["serve_send_s"] for r in reps), 2)},
        "orthanc": {"what": "Orthanc (Debian package, child process): SyncStorageArea true, SQLite index, no "
                            "compression",
                    "instances_per_s": _r(orthanc_rates, 1), "instances_per_s_median": round(med(orthanc_rates), 1),
                    "send_s": _r([r["orthanc_send_s"] for r in reps]),
                    "send_s_median": round(med(r["orthanc_send_s"] for r in reps), 2)},
        "ratio_serve_over_orthanc": round(med(serve_rates) / med(orthanc_rates), 2),
        "ratio_per_repetition": [round(s / o, 2) for s, o in zip(serve_rates, orthanc_rates, strict=True)],
        "ratio_per_repetition_median": round(med(s / o for s, o in zip(serve_rates, orthanc_rates, strict=True)), 2),
        "end_to_end": {
            "what": "from the end of the storescu run to serve (last instance acknowledged) until Orthanc's REST API "
                    "lists both the SEG and the SR in the study (polled every 50 ms)",
            "seconds": _r([r["end_to_end_s"] for r in reps], 1),
            "seconds_median": round(med(r["end_to_end_s"] for r in reps), 1),
            "until_ready_s_median": round(med(r["until_ready_s"] for r in reps), 1),
            "analysis_s": _r([r["analysis_s"] for r in reps], 1),
            "analysis_s_median": round(med(r["analysis_s"] for r in reps), 1),
            "send_results_s_median": round(med(r["send_results_s"] for r in reps), 2),
            "stages": "until_ready (end of the storescu run to the series' hand-off marker: the rest of "
                      "node_series_idle_s and the assembly poll), analysis (hand-off to work/<gen>/done.json: worker "
                      "pick-up, model verification, analysis, SEG and SR, audit), send_results (to this script seeing "
                      "both in Orthanc; the node records a send in outbound/sent/ after Orthanc's response and its "
                      "audit entry, so node_recorded_sent_after_done_s can be later); they add up to seconds"},
        "repetition_details": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in reps],
        "notes": [
            "Both receivers ran on the same machine as the sender, over loopback, spool and Orthanc storage on the "
            f"same {filesystem} file system.",
            "serve does more per instance than storing it: it reads each file back with the device's reader and "
            "writes an audit entry (fsynced) before answering; Orthanc indexes it in SQLite.",
            "The end-to-end time includes node_series_idle_s by design (the node cannot know that a series is "
            "complete before it has been idle that long; the default is 30 s).",
            f"Machine: {os.cpu_count()} CPU cores shared with other jobs (noisy); figures vary from run to run. "
            f"Load average (1 min) {load_before[0]:.1f} before the run and {load_after[0]:.1f} after it: above "
            f"{os.cpu_count()}, other work competed for the cores.",
        ],
        "versions": {"device_ai": device_ai.__version__, "orthanc": orthanc_version, "dcmtk": _dcmtk(),
                     "pydicom": pydicom.__version__, "python": platform.python_version()},
        "load_average_1_5_15_min": {"before": _r(list(load_before)), "after": _r(list(load_after))},
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores shared with other jobs, "
                   f"{_memory_gib()} GiB RAM, {platform.system()} {platform.release()}, temp folder on {filesystem}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(f"serve  : {med(serve_rates):7.1f} instances/s (median of {args.reps})")
    print(f"Orthanc: {med(orthanc_rates):7.1f} instances/s (median of {args.reps})")
    print(f"ratio  : serve / Orthanc = {result['ratio_serve_over_orthanc']:.2f}")
    print(f"end to end: {result['end_to_end']['seconds_median']:.1f} s (median), of which until ready "
          f"{result['end_to_end']['until_ready_s_median']:.1f} s and analysis {result['end_to_end']['analysis_s_median']:.1f} s")
    print(f"written: {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
