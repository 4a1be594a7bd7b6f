"""``analyze``, ``demo``, ``explain``, ``validate``, ``phantom`` and ``train``."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from device_ai import app
from device_ai.cli.common import SCHEDULER_HELP, context, optional_path
from device_ai.cli.progress import Progress
from device_ai.errors import AcceptanceNotMet, ConfigError, DependencyMissing


def print_summary(summary: dict, out_dir: Path) -> None:
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
    if args.batch:
        return cmd_analyze_batch(args)
    if args.workers is not None or args.scheduler:
        raise ConfigError("--workers and --scheduler apply to --batch only", hint="add --batch, or leave them out")
    if args.batch_out is not None or args.out is None:
        raise ConfigError("analyze takes one input and --out FOLDER (IN OUT without --out is analyze --batch)",
                          hint="device-ai analyze INPUT --out FOLDER, or device-ai analyze --batch IN OUT")
    result = app.analyze(context(args), app.AnalysisRequest(
        input=Path(args.input), out=Path(args.out), model=optional_path(args.model), threads=args.threads,
        explain=args.explain))
    print_summary(result.summary, result.out_dir)
    return 0


def cmd_analyze_batch(args: argparse.Namespace) -> int:
    """A job over the CT series under one folder (device_ai.batch.analyze_job); the exit code is
    the job's (0, 3 when a unit's input was refused, or a failed unit's error exit code)."""
    from device_ai.batch.analyze_job import BatchAnalyzeRequest, analyze_batch

    out = args.batch_out or args.out
    if out is None or (args.batch_out and args.out):
        raise ConfigError("analyze --batch takes IN and OUT", hint="device-ai analyze --batch IN OUT")
    if args.explain or args.threads is not None:
        raise ConfigError("--explain and --threads apply to one analysis, not to --batch",
                          hint="leave them out; each worker process runs one inference thread")
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        raise ConfigError(f"--workers {args.workers}: give a number of local worker processes from 1, "
                          "and not with --scheduler (the cluster has its own)", hint="e.g. --workers 2")
    result = analyze_batch(context(args), BatchAnalyzeRequest(
        input=Path(args.input), out=Path(out), model=optional_path(args.model), workers=args.workers or 0,
        scheduler=args.scheduler))
    print(f"batch job {result.job}: {result.units} unit(s) (series) under {args.input}; "
          f"{result.published} published now, {result.already_published} published before (skipped), "
          f"{len(result.failed)} failed" + (f", {result.resumed} completed after an interrupted run" if result.resumed
                                            else "") + (f"; ran on {result.engine}" if result.engine else ""))
    print(f"results in {out}/<series pseudonym>/ (each folder's summary.json names its series)")
    for unit, code in sorted(result.failed.items()):
        print(f"  unit {unit} [{code}]: not published; the ledger keeps it for the next run", file=sys.stderr)
    return result.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    result = app.demo(context(args), Path(args.out), seed=args.seed, slices=args.slices,
                      model=optional_path(args.model), announce=print)
    print_summary(result.analysis.summary, result.analysis.out_dir)
    print(f"ground truth of the synthetic study: {result.placed_lesions} lesion(s) placed")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    result = app.explain(context(args), app.ExplainRequest(
        input=Path(args.input), out=Path(args.out), label=args.label, slices=args.slices,
        model=optional_path(args.model)))
    if not result.files:
        print(f"'{args.label}' was not found in any slice: nothing to explain; nothing was written")
        return 0
    print(f"explanations of '{args.label}' in {result.out_dir}:")
    for name in result.files:
        print(f"  {result.out_dir / name}")
    print("Derived explanations of the locked result: not for diagnosis.")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    if args.workers is not None or args.scheduler:  # the cases on Dask worker processes (device_ai.batch)
        from device_ai.batch.validation_job import validate_batch

        if args.workers is not None and (args.workers < 1 or args.scheduler):
            raise ConfigError(f"--workers {args.workers}: give a number of local worker processes from 1, and not "
                              "with --scheduler (the cluster has its own)", hint="e.g. --workers 2")
        report = validate_batch(context(args), patients=args.patients, seed=args.seed, out=optional_path(args.out),
                                model=optional_path(args.model), workers=args.workers or 0, scheduler=args.scheduler)
    else:
        report = app.validate(context(args), patients=args.patients, seed=args.seed, out=optional_path(args.out),
                              model=optional_path(args.model))
    print(json.dumps(report["summary"], indent=2, sort_keys=True))
    if not report["summary"]["acceptance"]["passed"]:
        raise AcceptanceNotMet("the validation study's acceptance criteria were not met (see 'acceptance' above)",
                               hint="the model must not be released; see validation/PROTOCOL.md")
    return 0


def cmd_phantom(args: argparse.Namespace) -> int:
    from device_ai.app.preconditions import check_output_place
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    check_output_place(Path(args.out), "--out")  # before any work (SRS-109); it may hold earlier phantoms
    for seed in split_seeds(args.split, args.count, base_seed=args.seed):
        case = generate_case(seed, split=args.split, n_slices=args.slices)
        paths = write_ct_series(case, Path(args.out) / case.patient_id)
        print(f"{case.patient_id}: {len(paths)} slices, {len(case.lesions)} lesion(s) -> {paths[0].parent}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from device_ai.model.segmenter import PHANTOM_ARCHITECTURES
        from device_ai.training.train import TrainingPlan, train_and_release
    except ImportError as exc:
        raise DependencyMissing(
            f"training needs the [train] extra ({exc.name} is missing)",
            hint="install torch==2.13.0 first, then `pip install -e .[train]` (the Makefile does this)",
        ) from exc
    if args.data is not None:
        return _train_on_dicom(args)
    _refuse_data_options(args)
    if args.generator_version == 1 and args.domain is not None:
        from device_ai.errors import ConfigError

        raise ConfigError("--domain applies to --generator-version 2 only",
                            hint="phantoms/1 has one domain; leave --domain out or use --generator-version 2")
    defaults = TrainingPlan()
    plan = TrainingPlan(
        segmenter=PHANTOM_ARCHITECTURES[args.architecture or "demo"],
        seed=args.seed, steps=args.steps, train_patients=args.train_patients,
        slices_per_patient=args.slices_per_patient or defaults.slices_per_patient,
        batch_size=args.batch_size or defaults.batch_size,
        generator_version=args.generator_version, domain=args.domain,
        package_version=args.package_version or "1.0.0",
    )
    path = train_and_release(plan, Path(args.out), Path(args.signing_key), progress=Progress("training steps"))
    print(f"model package written: {path}")
    return 0


# The parser stays free of torch: these are device_ai.model.segmenter's PHANTOM_ARCHITECTURES and
# HEADS (tests/model/test_lite_segmenter.py checks that they agree).
PHANTOM_ARCHITECTURE_NAMES = ("demo", "lite")
HEAD_NAMES = ("linear", "light_decoder", "lite_decoder")
_DATA_ONLY = ("split_file", "test_fraction", "backbone", "backbone_weights", "backbone_sha256", "mode", "head",
              "input_size", "learning_rate", "name", "intended_use", "absent_means_empty")
_PHANTOM_ONLY = ("train_patients", "slices_per_patient", "domain", "architecture")


def _refuse_data_options(args: argparse.Namespace) -> None:
    from device_ai.errors import ConfigError

    given = [name for name in _DATA_ONLY if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"--{given[0].replace('_', '-')} applies to training on labelled DICOM (--data DIR) only",
                          hint="pass --data DIR, or leave the option out to train the demo model on phantoms")


def _train_on_dicom(args: argparse.Namespace) -> int:
    from device_ai.errors import ConfigError
    from device_ai.training.dicom_train import request_from_options, train_on_dicom

    given = [name for name in _PHANTOM_ONLY if getattr(args, name) is not None] + (
        ["generator_version"] if args.generator_version != 1 else [])
    if given:
        raise ConfigError(f"--{given[0].replace('_', '-')} applies to phantom training, not to --data",
                          hint="leave it out when training on labelled DICOM")
    request = request_from_options(
        data=Path(args.data), out=Path(args.out), signing_key=Path(args.signing_key), seed=args.seed,
        steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, backbone=args.backbone,
        backbone_weights=optional_path(args.backbone_weights), backbone_sha256=args.backbone_sha256, mode=args.mode,
        head=args.head, input_size=args.input_size, split_file=optional_path(args.split_file),
        test_fraction=args.test_fraction, name=args.name, version=args.package_version,
        intended_use=args.intended_use, absent_means_empty=tuple(args.absent_means_empty or ()))
    path = train_on_dicom(request, progress=Progress("training steps"))
    print(f"model package written: {path}")
    print("  not for clinical use: validate it on data it was not trained on before any use "
          "(device-ai model info shows its metrics)")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    analyze = add("analyze", cmd_analyze, "analyze one CT series (file or folder) into DICOM SEG, JSON and PNG")
    analyze.add_argument("input", help="a DICOM file, or a folder holding one CT series (--batch: many series)")
    analyze.add_argument("batch_out", nargs="?", metavar="OUT", help="--batch: the job's output folder")
    analyze.add_argument("--out", help="output folder (must not exist or be empty)")
    analyze.add_argument("--model", help="model package folder (default: the embedded demo model)")
    analyze.add_argument("--threads", type=int, help="inference threads (default from config)")
    analyze.add_argument("--explain", metavar="LABEL", help="also write Grad-CAM explanations of LABEL (e.g. Lesion)")
    analyze.add_argument("--batch", action="store_true",
                         help="IN is a folder of CT series: analyze them as a resumable job (one unit per series) on "
                              "a local Dask cluster; re-run the same command to resume")
    analyze.add_argument("--workers", type=int, metavar="N", help="--batch: local worker processes (default: cores)")
    analyze.add_argument("--scheduler", metavar="ADDR", help=SCHEDULER_HELP)

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

    train = add("train", cmd_train, "train, export, parity-check and sign the demo model (needs [train])")
    train.add_argument("--out", required=True, help="package folder to create")
    train.add_argument("--signing-key", required=True, help="Ed25519 private key (PEM) that signs the package")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the release plan)")
    train.add_argument("--train-patients", type=int, default=None, help="synthetic training patients")
    train.add_argument("--slices-per-patient", type=int, default=None, help="training slices per patient (default 8)")
    train.add_argument("--batch-size", type=int, default=None, help="slices per optimizer step (default 8)")
    train.add_argument("--generator-version", type=int, default=1, choices=(1, 2),
                       help="phantom generator (1 reproduces the 1.0.0 package; 2: the stated phantom world)")
    train.add_argument("--domain", default=None, choices=("training", "intended-use"),
                       help="generator-2 domain of the training pool (default: training); "
                       "verification always uses the intended use")
    train.add_argument("--architecture", default=None, choices=PHANTOM_ARCHITECTURE_NAMES,
                       help="phantom training: demo (the 1.0.0 design, default) or lite (3 blocks and the lite "
                       "decoder, 1.7-2.2x faster per slice)")
    train.add_argument("--package-version", default=None,
                       help="version written into the manifest (default 1.0.0; with --data 0.1.0)")
    data = train.add_argument_group("training on labelled DICOM (CT series + DICOM SEG ground truth)")
    data.add_argument("--data", metavar="DIR", help="folder of CT series and the SEG of each (e.g. from 3D Slicer, "
                      "OHIF); segments mapped by their property type codes, split by PatientID")
    data.add_argument("--split-file", metavar="FILE", help='JSON {"train": [PatientID, ...], "test": [...]} '
                      "(default: patients held out by seed)")
    data.add_argument("--test-fraction", type=float, default=None, help="patients held out when no split file "
                      "is given (default 0.25, at least one)")
    data.add_argument("--backbone-weights", metavar="FILE", help="official DINOv2 *_pretrain.pth state dict "
                      "(local file; nothing is downloaded)")
    data.add_argument("--backbone-sha256", metavar="HEX", help="the SHA-256 you pinned for --backbone-weights; "
                      "checked before the file is read")
    data.add_argument("--backbone", default=None, help="ViT configuration of the checkpoint (default "
                      "dinov2_vits14_reg4 with weights, else the demo backbone)")
    data.add_argument("--mode", choices=("scratch", "frozen", "finetune"), default=None,
                      help="frozen: train the head only; finetune: the backbone too (default: frozen with "
                      "weights, scratch without)")
    data.add_argument("--head", choices=HEAD_NAMES, default=None,
                      help="segmentation head (default: linear when frozen, else light_decoder)")
    data.add_argument("--input-size", type=int, default=None, help="model input size in pixels, a multiple of "
                      "14 (default 224)")
    data.add_argument("--learning-rate", type=float, default=None, help="head learning rate (default 1.5e-3)")
    data.add_argument("--name", default=None, help="package name (default site-dinov2-seg)")
    data.add_argument("--intended-use", default=None, help="intended use statement written into the manifest")
    data.add_argument("--absent-means-empty", action="append", metavar="LABEL",
                      help="a SEG without a segment of LABEL (e.g. Lesion) means none is present; without this "
                      "option every SEG must describe every label (repeatable)")

    validate = add("validate", cmd_validate, "standalone performance study on held-out phantoms")
    validate.add_argument("--model", help="model package folder (default: the embedded demo model)")
    validate.add_argument("--patients", type=int, default=40, help="held-out synthetic patients (>= 20)")
    validate.add_argument("--seed", type=int, default=0, help="base seed of the test split")
    validate.add_argument("--out", help="write the full report (JSON) here")
    validate.add_argument("--workers", type=int, metavar="N",
                          help="evaluate the cases on N local Dask worker processes (same figures as one process)")
    validate.add_argument("--scheduler", metavar="ADDR", help="evaluate the cases on an existing Dask scheduler, "
                          "tls://HOST:PORT (mutual TLS only; tcp:// is refused; the device's client certificate, its "
                          "key and the scheduler's CA are the settings batch_tls_cert_file, batch_tls_key_file, "
                          "batch_tls_ca_file)")

    phantom = add("phantom", cmd_phantom, "write synthetic CT phantom series (fake patients) as DICOM")
    phantom.add_argument("--out", required=True)
    phantom.add_argument("--split", default="test", choices=("train", "verification", "test"))
    phantom.add_argument("--count", type=int, default=1)
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--slices", type=int, default=None)
