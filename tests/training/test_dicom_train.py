"""``device-ai train --data DIR`` end to end on a phantom CT + SEG folder written as a user brings it
(issue 14 item 6): trains, exports with parity, validates on the held-out patient, signs; refusals
print one typed line, no traceback, and leave no package. Tiny step counts: this checks the path,
not the model's quality."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from device_ai import cli
from device_ai.app.model import create_signing_key
from device_ai.model.package import signing
from device_ai.model.package.verify import verify_package
from device_ai.training.dicom_dataset import read_labelled_folder
from device_ai.training.dicom_manifest import data_manifest, data_manifest_sha256
from device_ai.training.dicom_splits import seeded_split
from device_ai.training.labels import DEMO_ORGAN
from tests.training.labelled_dicom import LESION, LIVER_CODE, ORGAN, Segment, write_folder, write_seg

FAST = ["--steps", "1", "--batch-size", "2"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder(tmp_path_factory.mktemp("labelled") / "data", patients=4)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("key") / "signing.pem"
    key_id, public = create_signing_key(path)
    return path, {key_id: signing.public_key_from_b64(public)}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.req("SRS-084")
def test_train_data_trains_exports_validates_and_signs_a_package(folder: Path, key, tmp_path: Path,  # noqa: ANN001
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    key_path, trusted = key
    out = tmp_path / "package"
    code, stdout, err = _run(capsys, "train", "--data", str(folder), "--out", str(out), "--signing-key",
                             str(key_path), *FAST, "--name", "site-test-seg")
    assert code == 0, err
    assert f"model package written: {out}" in stdout and "parity on 3 verification slices" in stdout
    package = verify_package(out, trusted)  # every byte and the signature
    manifest = package.manifest
    assert (manifest.name, manifest.version, manifest.clinical_use) == ("site-test-seg", "0.1.0", False)
    training = manifest.training
    dataset = read_labelled_folder(folder)
    split = seeded_split(dataset.patients(), seed=0, test_fraction=0.25)
    assert training.data_manifest_sha256 == data_manifest_sha256(data_manifest(dataset, split, 224))
    assert training.split["method"] == {"kind": "seeded", "seed": 0, "test_fraction": 0.25}
    assert (training.split["train"]["patients"], training.split["test"]["patients"]) == (3, 1)
    assert training.data_source["slices"] == 12 and training.backbone_init["mode"] == "scratch"
    assert manifest.export.parity_cases == 3 and manifest.export.parity_max_abs_logit_diff <= 1e-4
    assert manifest.metrics["patients"] == 1 and manifest.metrics["organ_dice"]["n"] == 1
    assert "acceptance" in manifest.metrics
    raw = (out / "manifest.json").read_text()
    assert "FAKE" not in raw  # no Patient ID or name of the training data in the package
    public = signing.public_key_to_b64(next(iter(trusted.values())))
    (tmp_path / "config.yaml").write_text(f'trusted_model_keys: ["{public}"]\n')
    code, stdout, err = _run(capsys, "model", "info", str(out), "--config", str(tmp_path / "config.yaml"))
    assert code == 0, err
    assert "3 labelled DICOM patients" in stdout and "split       : 3 patients trained on, 1 held out (seeded)" in stdout


@pytest.mark.req("SRS-086")
@pytest.mark.req("SRS-084")
def test_a_refused_folder_prints_one_typed_error_and_leaves_no_package(folder: Path, key, tmp_path: Path,  # noqa: ANN001
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(folder, data)
    paths = sorted((data / "FAKE-PAT-003" / "ct").glob("CT*.dcm"))
    from tests.training.labelled_dicom import phantom

    liver = Segment("Liver", LIVER_CODE, DEMO_ORGAN.value)
    write_seg(paths, phantom(2, "FAKE-PAT-003"), data / "FAKE-PAT-003" / "seg.dcm", (LESION, ORGAN, liver))
    out = tmp_path / "package"
    code, _, err = _run(capsys, "train", "--data", str(data), "--out", str(out), "--signing-key", str(key[0]), *FAST)
    assert code == 3
    assert err.startswith("error DAI-263: FAKE-PAT-003/seg.dcm: segment 3 ('Liver') is coded SCT 10200004")
    assert "what to do:" in err
    assert not out.exists() and not list(tmp_path.glob(".package.*"))


@pytest.mark.req("SRS-089")
def test_a_wrong_backbone_sha256_stops_before_any_data_is_read(folder: Path, key, tmp_path: Path,  # noqa: ANN001
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save({"cls_token": torch.zeros(1, 1, 384)}, weights)
    out = tmp_path / "package"
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "absent"), "--out", str(out), "--signing-key",
                        str(key[0]), "--backbone-weights", str(weights), "--backbone-sha256", "ab" * 32, *FAST)
    assert code == 4 and err.startswith("error DAI-300: checkpoint dinov2_vits14_reg4_pretrain.pth has SHA-256")
    assert not out.exists()
    code, _, err = _run(capsys, "train", "--out", str(out), "--signing-key", str(key[0]), "--backbone-weights",
                        str(weights))
    assert code == 2 and "--backbone-weights applies to training on labelled DICOM (--data DIR) only" in err
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "absent"), "--out", str(out), "--signing-key",
                        str(key[0]), "--absent-means-empty", "Spleen")
    assert code == 2 and "error DAI-100: --absent-means-empty 'Spleen' is not a label of this model" in err


@pytest.mark.slow
@pytest.mark.req("SRS-089")
@pytest.mark.req("SRS-084")
def test_train_data_from_an_official_format_checkpoint_keeps_the_frozen_backbone(folder: Path, key,  # noqa: ANN001
                                                                                 tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import load_file

    from tests.training.test_backbone_weights import _official_state

    state = _official_state()
    weights = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(state, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    out = tmp_path / "package"
    code, stdout, err = _run(capsys, "train", "--data", str(folder), "--out", str(out), "--signing-key",
                             str(key[0]), "--backbone-weights", str(weights), "--backbone-sha256", digest,
                             "--steps", "1", "--batch-size", "2", "--input-size", "112")
    assert code == 0, err
    manifest = verify_package(out, key[1]).manifest
    assert manifest.training.backbone_init == {"mode": "frozen", "source": "official DINOv2 checkpoint",
                                               "config": "dinov2_vits14_reg4", "sha256": digest}
    assert manifest.backbone_config.name == "dinov2_vits14_reg4" and manifest.head_config.type == "linear"
    twin = load_file(str(out / "twin.safetensors"))
    for name in ("blocks.0.attn.qkv.weight", "blocks.11.mlp.fc2.weight", "register_tokens", "norm.weight"):
        assert torch.equal(twin[f"backbone.{name}"], state[name]), name  # frozen: exactly the checkpoint's
    assert json.loads((out / "manifest.json").read_text())["input"]["shape"] == [1, 3, 112, 112]


@pytest.mark.req("SRS-087")
def test_a_split_file_with_a_patient_in_both_splits_is_refused_by_the_command(folder: Path, key,  # noqa: ANN001
                                                                             tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["FAKE-PAT-001", "FAKE-PAT-002", "FAKE-PAT-003"],
                                 "test": ["FAKE-PAT-004", "FAKE-PAT-002"]}))
    out = tmp_path / "package"
    code, _, err = _run(capsys, "train", "--data", str(folder), "--out", str(out), "--signing-key", str(key[0]),
                        "--split-file", str(split), *FAST)
    assert code == 3 and err.startswith("error DAI-264: split file split.json: patient FAKE-PAT-002 is in both")
    assert not out.exists()
