"""``model verify | info | keygen``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from device_ai import app
from device_ai.app.model import create_signing_key, model_path
from device_ai.cli.common import context, optional_path


def cmd_model_verify(args: argparse.Namespace) -> int:
    ctx = context(args)
    package = app.verify_model(ctx, optional_path(args.path))
    print(f"OK: {package.manifest.identity} at {model_path(ctx, optional_path(args.path))}")
    print(f"  manifest sha256 {package.manifest_sha256}")
    print(f"  signed by key {package.signer_key_id} "
          f"({'pinned release' if package.pinned_release else 'site-trusted signer'})")
    for name, digest in sorted(package.manifest.files.items()):
        print(f"  {name}: sha256 {digest} verified")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    package = app.model_info(context(args), optional_path(args.path))
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
    kind = "synthetic" if manifest.training.data_source is None else "labelled DICOM"
    print(f"training    : seed {manifest.training.seed}, {manifest.training.train_patients} {kind} patients, "
          f"data manifest sha256 {manifest.training.data_manifest_sha256[:16]}...")
    if manifest.training.split is not None:
        print(f"split       : {manifest.training.split['train']['patients']} patients trained on, "
              f"{manifest.training.split['test']['patients']} held out ({manifest.training.split['method']['kind']})")
    if manifest.training.backbone_init is not None:
        init = manifest.training.backbone_init
        print(f"backbone    : {init['mode']}" + (f", {init['config']} sha256 {init['sha256'][:16]}..."
                                                  if "sha256" in init else ""))
    for name, value in sorted(manifest.metrics.items()):
        print(f"metric      : {name} = {json.dumps(value, sort_keys=True)}")
    print(f"manifest sha256: {package.manifest_sha256} (signer {package.signer_key_id})")
    return 0


def cmd_model_keygen(args: argparse.Namespace) -> int:
    key_id, public = create_signing_key(Path(args.out))
    print(f"private key: {args.out} (keep it secret)")
    print(f"key id     : {key_id}")
    print(f"public key : {public}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    model = add("model", None, "locked model package commands")
    sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    verify = add("verify", cmd_model_verify, "verify every byte and the signature of a model package", sub)
    verify.add_argument("path", nargs="?", help="package folder (default: configured model)")
    info = add("info", cmd_model_info, "show identity, intended use, contract, digests and metrics", sub)
    info.add_argument("path", nargs="?", help="package folder (default: configured model)")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    keygen = add("keygen", cmd_model_keygen, "create an Ed25519 model-signing key pair", sub)
    keygen.add_argument("--out", required=True, help="private key file to create (PEM)")
