"""``device-ai``: the one entry point. The only module that wires capabilities together.

Expected errors print ``error DAI-xxx: reason`` and a hint on stderr and exit with the
error's code (SRS-017); unexpected ones print one line and exit 70, with the traceback
only under ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import device_ai
from device_ai.config import Settings, load_settings, masked
from device_ai.errors import DependencyMissing, DeviceAIError

EXIT_INTERNAL = 70


class _Progress:
    """A one-line progress display on stderr for long steps."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        percent = int(100 * done / max(total, 1))
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {done}/{total} ({percent}%)")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif percent // 25 != self._last // 25 or done == total:
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)
        self._last = percent


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def _trusted_keys(settings: Settings) -> dict:
    from device_ai.model.package import signing

    keys = [signing.public_key_from_b64(text) for text in settings.trusted_model_keys]
    return {signing.key_id(key): key for key in keys}


def _engine(args: argparse.Namespace, settings: Settings, log):  # noqa: ANN001, ANN202 - lazily imported types
    """Load and verify the model; the verification and any refusal are audited."""
    from device_ai.audit.entry import MODEL_REFUSED, MODEL_VERIFIED, AuditObject, Outcome
    from device_ai.errors import ModelIntegrityError
    from device_ai.inference.engine import EngineOptions, LockedEngine

    path = Path(args.model) if getattr(args, "model", None) else settings.model_path
    threads = getattr(args, "threads", None) or settings.inference_threads
    try:
        engine = LockedEngine.load(path, trusted_keys=_trusted_keys(settings), options=EngineOptions(threads=threads))
    except ModelIntegrityError as exc:
        log.append(MODEL_REFUSED, outcome=Outcome.SERIOUS_FAILURE, action="R", details={"error": exc.code})
        raise
    package = engine.package
    log.append(MODEL_VERIFIED, action="R", objects=(AuditObject(kind="model", id=package.manifest_sha256,
                                                                  role=package.manifest.identity),),
               details={"signer": package.signer_key_id, "pinned_release": str(package.pinned_release)})
    return engine


def _audit_log():  # noqa: ANN202 - AuditLog
    from device_ai.audit.log import AuditLog

    return AuditLog.open()


def _series_objects(series, engine) -> tuple:  # noqa: ANN001
    from device_ai.audit.entry import AuditObject
    from device_ai.pseudonyms import pseudonym

    return (AuditObject(kind="study", id=pseudonym("study", series.study_instance_uid)),
            AuditObject(kind="series", id=pseudonym("series", series.series_instance_uid)),
            AuditObject(kind="model", id=engine.package.manifest_sha256))


def _explain_into(folder: Path, log, engine, series, label_name: str, max_slices: int,  # noqa: ANN001
                  recorded=None) -> list[str]:  # noqa: ANN001
    """Explanations of ``label_name`` written into ``folder`` and audited; [] when the label is absent.
    ``recorded``: the analysis's engine outputs (``analyze --explain``), so no slice is inferred twice."""
    try:
        from device_ai.explain.outputs import write_explanations
        from device_ai.explain.pipeline import METHOD, explain_series, label_value
        from device_ai.model.twin import load_twin
    except ImportError as exc:
        raise DependencyMissing(
            f"explanations need PyTorch ({exc.name} is missing)",
            hint="install torch==2.13.0 and the [train] extra (the Makefile does this)",
        ) from exc
    from device_ai.audit.entry import EXPLANATION
    from device_ai.errors import ConfigError

    try:
        label = label_value(engine, label_name)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pass a label name of the model, e.g. Lesion or Organ") from exc
    explanations = explain_series(engine, load_twin(engine.package), series, label, max_slices=max_slices,
                                  recorded=recorded)
    if not explanations:
        return []
    written = write_explanations(folder, engine, series, explanations, label_name)
    log.append(EXPLANATION, action="C", objects=_series_objects(series, engine),
               details={"method": METHOD, "label": label_name, "slices": str(len(explanations))})
    return written


def _audited_analysis(args: argparse.Namespace, log, engine, recorded=None):  # noqa: ANN001, ANN202
    """The hook that adds requested explanations and makes a finished analysis visible only
    once its audit entries are durable."""
    from device_ai.audit.entry import ANALYSIS_RUN

    def before_commit(stage: Path, series, summary) -> list[str]:  # noqa: ANN001
        log.append(ANALYSIS_RUN, action="C", objects=_series_objects(series, engine),
                   details={"slices": str(summary["input"]["slices"]), "lesion_count": str(summary["lesion_count"])})
        label = getattr(args, "explain", None)
        return _explain_into(stage, log, engine, series, label, 3, recorded) if label else []

    return before_commit


def _run_analysis(args: argparse.Namespace, settings: Settings, log, engine, input_path: Path, out: Path):  # noqa: ANN001, ANN202
    from device_ai.audit.entry import ANALYSIS_RUN, Outcome
    from device_ai.errors import InputRefused
    from device_ai.inference.analyze import analyze

    recorded = None
    if getattr(args, "explain", None):  # keep the engine outputs the explanations need (no second inference)
        from device_ai.explain.recorded import RecordingEngine

        recorded = RecordingEngine(engine, keep=3)
    try:
        return analyze(input_path, out, engine if recorded is None else recorded, limits=_read_limits(settings),
                       progress=_Progress("analyzing slices"),
                       before_commit=_audited_analysis(args, log, engine, recorded))
    except InputRefused as exc:
        # The reason code only: file names and messages may carry identifiers.
        log.append(ANALYSIS_RUN, action="C", outcome=Outcome.MINOR_FAILURE, details={"refused": exc.code})
        raise


def _read_limits(settings: Settings):  # noqa: ANN202
    from device_ai.dicom.reader import ReadLimits

    return ReadLimits(max_file_bytes=settings.max_file_mb * 1024 * 1024, max_files=settings.max_files)


def _print_summary(summary: dict, out_dir: Path) -> None:
    volumes = ", ".join(f"{name} {value:.1f} mL" for name, value in summary["volumes_ml"].items())
    print(f"model     : {summary['model']['name']} {summary['model']['version']} "
          f"(manifest sha256 {summary['model']['manifest_sha256'][:16]}...)")
    print(f"series    : {summary['input']['slices']} slices, "
          f"{summary['input']['rows']}x{summary['input']['columns']}")
    print(f"volumes   : {volumes}")
    print(f"lesions   : {summary['lesion_count']}")
    print(f"outputs in: {out_dir}")
    for name in summary["outputs"]:
        print(f"            {out_dir / name}")
    print(summary["statement"])


def cmd_analyze(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _audit_log() as log:
        engine = _engine(args, settings, log)
        result = _run_analysis(args, settings, log, engine, Path(args.input), Path(args.out))
    _print_summary(result.summary, result.out_dir)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    settings = _settings(args)
    out = Path(args.out)
    with _audit_log() as log:
        engine = _engine(args, settings, log)
        print(f"model {engine.manifest.identity} verified (manifest sha256 {engine.package.manifest_sha256[:16]}...)")
        case = generate_case(split_seeds("test", 1, base_seed=args.seed)[0], split="test", n_slices=args.slices)
        study_dir = out / "input-series"
        print(f"generating synthetic study {case.patient_id}: {case.hu.shape[0]} slices "
              f"{case.hu.shape[1]}x{case.hu.shape[2]}, {len(case.lesions)} lesion(s) -> {study_dir}")
        write_ct_series(case, study_dir)
        result = _run_analysis(args, settings, log, engine, study_dir, out / "result")
    _print_summary(result.summary, result.out_dir)
    print(f"ground truth of the synthetic study: {len(case.lesions)} lesion(s) placed")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from device_ai.atomic_io import staged_directory
    from device_ai.dicom.contract import InputContract
    from device_ai.dicom.reader import collect_input_files
    from device_ai.dicom.series import load_series

    settings = _settings(args)
    out = Path(args.out)
    with _audit_log() as log:
        engine = _engine(args, settings, log)
        limits = _read_limits(settings)
        contract = InputContract.model_validate(engine.manifest.input_contract)
        series = load_series(collect_input_files(Path(args.input), limits), contract, limits)
        try:
            with staged_directory(out) as stage:
                written = _explain_into(stage, log, engine, series, args.label, args.slices)
                if not written:
                    raise _NothingToExplain  # discards the empty staging folder
        except _NothingToExplain:
            print(f"'{args.label}' was not found in any slice: nothing to explain; nothing was written")
            return 0
    print(f"explanations of '{args.label}' in {out}:")
    for name in written:
        print(f"  {out / name}")
    print("Derived explanations of the locked result: not for diagnosis.")
    return 0


class _NothingToExplain(Exception):
    """Internal: the label was predicted nowhere."""


def cmd_model_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = Path(args.path) if args.path else settings.model_path
    args.model, args.threads = str(path), 1
    with _audit_log() as log:
        package = _engine(args, settings, log).package
    print(f"OK: {package.manifest.identity} at {path}")
    print(f"  manifest sha256 {package.manifest_sha256}")
    print(f"  signed by key {package.signer_key_id} "
          f"({'pinned release' if package.pinned_release else 'site-trusted signer'})")
    for name, digest in sorted(package.manifest.files.items()):
        print(f"  {name}: sha256 {digest} verified")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    from device_ai.model.package.verify import verify_package

    settings = _settings(args)
    path = Path(args.path) if args.path else settings.model_path
    package = verify_package(path, _trusted_keys(settings))
    manifest = package.manifest
    if args.json:
        print(json.dumps({"manifest_sha256": package.manifest_sha256, **manifest.model_dump(mode="json")},
                         indent=2, sort_keys=True))
        return 0
    print(f"{manifest.identity}  ({'CLINICAL' if manifest.clinical_use else 'NOT FOR CLINICAL USE'})")
    print(f"description : {manifest.description}")
    print(f"intended use: {manifest.intended_use}")
    print(f"input       : {manifest.input.name} {list(manifest.input.shape)} {manifest.input.dtype}")
    print("labels      : " + ", ".join(f"{label.value}={label.name}" for label in manifest.labels))
    print("contract    : " + json.dumps(manifest.input_contract, sort_keys=True))
    print(f"preprocess  : {manifest.preprocessing.version}; postprocess: {manifest.postprocessing.version}")
    print(f"export      : opset {manifest.export.opset}, {manifest.export.exporter}, torch "
          f"{manifest.export.torch_version}, onnxruntime {manifest.export.onnxruntime_version}; parity max-abs "
          f"{manifest.export.parity_max_abs_logit_diff:.2e}, mask agreement {manifest.export.parity_mask_agreement:.5f}")
    print(f"training    : seed {manifest.training.seed}, {manifest.training.train_patients} synthetic patients, "
          f"data manifest sha256 {manifest.training.data_manifest_sha256[:16]}...")
    for name, value in sorted(manifest.metrics.items()):
        print(f"metric      : {name} = {json.dumps(value, sort_keys=True)}")
    print(f"manifest sha256: {package.manifest_sha256} (signer {package.signer_key_id})")
    return 0


def cmd_model_keygen(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device_ai.atomic_io import atomic_write_bytes
    from device_ai.model.package import signing

    out = Path(args.out)
    if out.exists():
        raise DeviceAIError(f"{out} exists; refusing to overwrite a signing key", hint="choose another path")
    key = Ed25519PrivateKey.generate()
    atomic_write_bytes(out, signing.private_key_pem(key))
    out.chmod(0o600)
    print(f"private key: {out} (keep it secret)")
    print(f"key id     : {signing.key_id(key.public_key())}")
    print(f"public key : {signing.public_key_to_b64(key.public_key())}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from device_ai.training.train import TrainingPlan, train_and_release
    except ImportError as exc:
        raise DependencyMissing(
            f"training needs the [train] extra ({exc.name} is missing)",
            hint="install torch==2.13.0 first, then `pip install -e .[train]` (the Makefile does this)",
        ) from exc
    plan = TrainingPlan(seed=args.seed, steps=args.steps, train_patients=args.train_patients)
    path = train_and_release(plan, Path(args.out), Path(args.signing_key), progress=_Progress("training steps"))
    print(f"model package written: {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from device_ai.training.evaluate import run_validation

    settings = _settings(args)
    with _audit_log() as log:
        engine = _engine(args, settings, log)
    report = run_validation(engine, patients=args.patients, base_seed=args.seed,
                            out=Path(args.out) if args.out else None, progress=_Progress("validation cases"))
    print(json.dumps(report["summary"], indent=2, sort_keys=True))
    return 0 if report["summary"]["acceptance"]["passed"] else 1


def cmd_phantom(args: argparse.Namespace) -> int:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    seeds = split_seeds(args.split, args.count, base_seed=args.seed)
    for seed in seeds:
        case = generate_case(seed, split=args.split, n_slices=args.slices)
        paths = write_ct_series(case, Path(args.out) / case.patient_id)
        print(f"{case.patient_id}: {len(paths)} slices, {len(case.lesions)} lesion(s) -> {paths[0].parent}")
    return 0


def _audit_folder(args: argparse.Namespace) -> Path:
    from device_ai.audit.log import default_folder

    return Path(args.dir) if getattr(args, "dir", None) else default_folder()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from device_ai.audit.checkpoint import verifier_key
    from device_ai.audit.log import KEY_NAME, origin_name
    from device_ai.audit.verify import verify_log
    from device_ai.keystore import ed25519_key

    key = args.key or verifier_key(origin_name(), ed25519_key(KEY_NAME).public_key())
    report = verify_log(_audit_folder(args), key, [Path(p) for p in args.checkpoint])
    for problem in report.problems:
        print(f"FAIL: {problem}")
    if report.ok:
        print(f"OK: {report.records} records, root {report.root.hex()}, {len(report.checkpoints)} checkpoint(s) "
              "verified and consistent")
        return 0
    return 8


def cmd_audit_show(args: argparse.Namespace) -> int:
    from device_ai.audit.log import LOG_NAME
    from device_ai.audit.store import scan

    result = scan((_audit_folder(args) / LOG_NAME).read_bytes())
    for record in result.records:
        entry = json.loads(record.payload)
        if args.event and args.event not in (entry["event"]["code"], entry["event"]["meaning"]):
            continue
        if args.since and entry["time_utc"] < args.since:
            continue
        if args.until and entry["time_utc"] > args.until:
            continue
        if args.study and not any(o["id"] == args.study for o in entry["objects"]):
            continue
        objects = " ".join(f"{o['kind']}={o['id'][:24]}" for o in entry["objects"])
        print(f"{entry['seq']:6d} {entry['time_utc']} {entry['event']['meaning']:<28} outcome={entry['outcome']:<2} "
              f"{entry['actor']['user']} {objects} {json.dumps(entry['details'], sort_keys=True)}")
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from device_ai.audit.export import export_lines

    for line in export_lines(_audit_folder(args), args.format):
        print(line)
    return 0


def cmd_audit_public_key(args: argparse.Namespace) -> int:
    from device_ai.audit.checkpoint import verifier_key
    from device_ai.audit.log import KEY_NAME, origin_name
    from device_ai.keystore import ed25519_key

    print(verifier_key(origin_name(), ed25519_key(KEY_NAME).public_key()))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(masked(_settings(args)), indent=2, sort_keys=True))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"device_ai {device_ai.__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="device-ai",
        description="DINOv2 segmentation of CT series with a locked ONNX Runtime core. "
        "Demonstration software: not for clinical use.",
    )
    parser.add_argument("--config", help="YAML configuration file (default: $DEVICE_AI_CONFIG)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str, parent=sub):  # noqa: ANN001, ANN202
        command = parent.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        return command

    analyze = add("analyze", cmd_analyze, "analyze one CT series (file or folder) into DICOM SEG, JSON and PNG")
    analyze.add_argument("input", help="a DICOM file, or a folder holding one CT series")
    analyze.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    analyze.add_argument("--model", help="model package folder (default: the embedded demo model)")
    analyze.add_argument("--threads", type=int, help="inference threads (default from config)")
    analyze.add_argument("--explain", metavar="LABEL", help="also write Grad-CAM explanations of LABEL (e.g. Lesion)")

    demo = add("demo", cmd_demo, "generate a synthetic CT study and analyze it with the embedded model")
    demo.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "device-ai-demo"),
                      help="folder for the synthetic study and the result (must not hold a previous result)")
    demo.add_argument("--seed", type=int, default=6, help="seed of the synthetic patient")
    demo.add_argument("--slices", type=int, default=12, help="number of slices")
    demo.add_argument("--model", help="model package folder (default: the embedded demo model)")

    explain = add("explain", cmd_explain, "Grad-CAM explanation of a label (PNG + DICOM Secondary Capture)")
    explain.add_argument("input", help="a DICOM file, or a folder holding one CT series")
    explain.add_argument("--label", required=True, help="label to explain, e.g. Lesion or Organ")
    explain.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    explain.add_argument("--model", help="model package folder (default: the embedded demo model)")
    explain.add_argument("--slices", type=int, default=3, help="explain at most this many slices")

    model = add("model", lambda a: 2, "locked model package commands")
    model_sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    verify = add("verify", cmd_model_verify, "verify every byte and the signature of a model package", model_sub)
    verify.add_argument("path", nargs="?", help="package folder (default: configured model)")
    info = add("info", cmd_model_info, "show identity, intended use, contract, digests and metrics", model_sub)
    info.add_argument("path", nargs="?", help="package folder (default: configured model)")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    keygen = add("keygen", cmd_model_keygen, "create an Ed25519 model-signing key pair", model_sub)
    keygen.add_argument("--out", required=True, help="private key file to create (PEM)")

    train = add("train", cmd_train, "train, export, parity-check and sign the demo model (needs [train])")
    train.add_argument("--out", required=True, help="package folder to create")
    train.add_argument("--signing-key", required=True, help="Ed25519 private key (PEM) that signs the package")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the release plan)")
    train.add_argument("--train-patients", type=int, default=None, help="synthetic training patients")

    validate = add("validate", cmd_validate, "standalone performance study on held-out phantoms")
    validate.add_argument("--model", help="model package folder (default: the embedded demo model)")
    validate.add_argument("--patients", type=int, default=40, help="held-out synthetic patients (>= 20)")
    validate.add_argument("--seed", type=int, default=0, help="base seed of the test split")
    validate.add_argument("--out", help="write the full report (JSON) here")

    phantom = add("phantom", cmd_phantom, "write synthetic CT phantom series (fake patients) as DICOM")
    phantom.add_argument("--out", required=True)
    phantom.add_argument("--split", default="test", choices=("train", "verification", "test"))
    phantom.add_argument("--count", type=int, default=1)
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--slices", type=int, default=None)

    audit = add("audit", lambda a: 2, "tamper-evident audit trail commands")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    a_verify = add("verify", cmd_audit_verify, "verify every record, the tree and the signed checkpoints", audit_sub)
    a_verify.add_argument("--checkpoint", action="append", default=[], help="a checkpoint kept elsewhere (repeatable)")
    a_verify.add_argument("--key", help="checkpoint verifier key (default: this device's)")
    a_verify.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    a_show = add("show", cmd_audit_show, "list entries, filtered by time, event or study pseudonym", audit_sub)
    a_show.add_argument("--since", help="UTC time, e.g. 2026-11-24T00:00:00")
    a_show.add_argument("--until", help="UTC time")
    a_show.add_argument("--event", help="event code or meaning, e.g. DAI004 or 'Analysis Run'")
    a_show.add_argument("--study", help="study pseudonym")
    a_show.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    a_export = add("export", cmd_audit_export, "export entries: leaves (base64 leaf bytes), fhir, atna", audit_sub)
    a_export.add_argument("--format", choices=("leaves", "fhir", "atna"), default="leaves")
    a_export.add_argument("--dir", help="audit folder (default: $DEVICE_AI_HOME/audit)")
    add("public-key", cmd_audit_public_key, "print the checkpoint verifier key (C2SP signed-note vkey)", audit_sub)

    config = add("config", lambda a: 2, "configuration commands")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    add("show", cmd_config_show, "print the effective configuration (secrets masked)", config_sub)

    from device_ai.cli_anonymize import register as register_anonymize

    register_anonymize(add, _Progress)

    from device_ai.cli_trace import register as register_trace

    register_trace(add)

    from device_ai.cli_report import register as register_report

    register_report(add)

    add("version", cmd_version, "print the software version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        # Library warnings (pydicom, highdicom) about odd input are not for the operator's screen;
        # every refusal is reported as one typed line instead.
        warnings.simplefilter("ignore")
    try:
        return int(args.func(args))
    except DeviceAIError as exc:
        print(f"error {exc.one_line()}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing partial was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # the last line of defence: one line, no traceback
        if args.debug:
            traceback.print_exc()
        print(f"error DAI-999: internal error ({type(exc).__name__}: {exc}); please report it with --debug output",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
