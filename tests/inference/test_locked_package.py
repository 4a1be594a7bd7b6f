"""The locked package and engine: every changed byte is refused before ORT parses anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.errors import ModelIntegrityError
from device_ai.inference import engine as engine_module
from device_ai.inference import onnx_guard
from device_ai.inference.engine import EngineOptions, LockedEngine
from device_ai.model.package import pinned, signing
from device_ai.model.package.manifest import PACKAGE_FILES
from device_ai.model.package.verify import sha256_hex, verify_package
from tests.package_factory import SIZE, make_package, tiny_onnx


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(key: Ed25519PrivateKey) -> dict:
    return {signing.key_id(key.public_key()): key.public_key()}


@pytest.fixture
def package(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    return make_package(tmp_path / "pkg", key)


class _ParserCalled(AssertionError):
    pass


@pytest.fixture
def no_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to hand bytes to ONNX or ORT parsing fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise _ParserCalled("a parser saw bytes of a package that should have been refused")

    monkeypatch.setattr(engine_module.ort, "InferenceSession", forbidden)
    monkeypatch.setattr(onnx_guard.onnx, "load_model_from_string", forbidden)


@pytest.mark.req("SRS-007")
def test_valid_package_verifies_and_reports_digests(package: Path, trusted: dict) -> None:
    verified = verify_package(package, trusted)
    assert verified.manifest_sha256 == sha256_hex((package / "manifest.json").read_bytes())
    for name, digest in verified.manifest.files.items():
        assert digest == sha256_hex((package / name).read_bytes())
    assert not verified.pinned_release


def _offsets(size: int, count: int) -> list[int]:
    spread = np.linspace(0, size - 1, num=min(count, size)).astype(int).tolist()
    return sorted(set(spread + [0, 1, size // 2, size - 2, size - 1]) - {-1})


@pytest.mark.req("SRS-007")
@pytest.mark.parametrize("name", PACKAGE_FILES)
def test_any_flipped_byte_is_refused_before_parsing(
    package: Path, trusted: dict, name: str, tmp_path: Path, no_parsers: None
) -> None:
    original = (package / name).read_bytes()
    for offset in _offsets(len(original), 40):
        for mask in (0x01, 0x80):
            corrupted = bytearray(original)
            corrupted[offset] ^= mask
            (package / name).write_bytes(bytes(corrupted))
            with pytest.raises(ModelIntegrityError):
                LockedEngine.load(package, trusted_keys=trusted)
    (package / name).write_bytes(original)


@pytest.mark.req("SRS-007")
def test_truncated_extra_missing_and_symlinked_files_are_refused(
    package: Path, trusted: dict, tmp_path: Path, no_parsers: None
) -> None:
    onnx_path = package / "model.onnx"
    original = onnx_path.read_bytes()
    onnx_path.write_bytes(original[:-1])
    with pytest.raises(ModelIntegrityError, match="does not match its signed digest"):
        LockedEngine.load(package, trusted_keys=trusted)
    onnx_path.write_bytes(original + b"\0")
    with pytest.raises(ModelIntegrityError):
        LockedEngine.load(package, trusted_keys=trusted)
    onnx_path.write_bytes(original)
    (package / "notes.txt").write_text("extra")
    with pytest.raises(ModelIntegrityError, match="unexpected notes.txt"):
        LockedEngine.load(package, trusted_keys=trusted)
    (package / "notes.txt").unlink()
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(original)
    onnx_path.unlink()
    with pytest.raises(ModelIntegrityError, match="missing model.onnx"):
        LockedEngine.load(package, trusted_keys=trusted)
    os.symlink(outside, onnx_path)
    with pytest.raises(ModelIntegrityError, match="model.onnx"):
        LockedEngine.load(package, trusted_keys=trusted)


@pytest.mark.req("SRS-007", "SRS-082")
def test_signer_must_be_trusted_and_release_keys_need_a_pinned_digest(
    package: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelIntegrityError, match="not trusted"):
        verify_package(package, {})
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ModelIntegrityError, match="not trusted"):
        verify_package(package, {signing.key_id(other.public_key()): other.public_key()})
    kid = signing.key_id(key.public_key())
    monkeypatch.setattr(pinned, "RELEASE_KEYS", {kid: signing.public_key_to_b64(key.public_key())})
    monkeypatch.setattr(pinned, "RELEASED_MANIFESTS", {})
    with pytest.raises(ModelIntegrityError, match="not a release pinned"):
        verify_package(package, {})
    digest = sha256_hex((package / "manifest.json").read_bytes())
    monkeypatch.setattr(pinned, "RELEASED_MANIFESTS", {digest: "test-tiny 0.0.1"})
    verified = verify_package(package, {})
    assert verified.pinned_release and verified.signer_key_id == kid


@pytest.mark.req("SRS-007", "SRS-082")
def test_signature_by_wrong_key_with_same_id_is_refused(package: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    other = Ed25519PrivateKey.generate()
    forged = signing.sign((package / "manifest.json").read_bytes(), other)
    kid = signing.key_id(key.public_key())
    (package / "manifest.sig").write_bytes(kid.encode() + b" " + forged.split(b" ")[1])
    with pytest.raises(ModelIntegrityError, match="altered"):
        verify_package(package, trusted)


@pytest.mark.req("SRS-008")
def test_external_data_tensor_is_refused(tmp_path: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    package = make_package(tmp_path / "ext", key, onnx_bytes=tiny_onnx(external=True))
    with pytest.raises(ModelIntegrityError, match="external data"):
        LockedEngine.load(package, trusted_keys=trusted)


def _external(name: str):  # noqa: ANN202 - an onnx.TensorProto
    import numpy as np
    import onnx
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(np.zeros(3, np.float32), name)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    tensor.ClearField("raw_data")
    return tensor


def _with_hidden_external(where: str) -> bytes:
    import onnx
    from onnx import helper

    model = onnx.load_model_from_string(tiny_onnx())
    if where == "model-local function":
        node = helper.make_node("Constant", [], ["c"], value=_external("in_function"))
        model.functions.append(helper.make_function("local.test", "Hidden", [], ["c"], [node],
                                                    [helper.make_opsetid("", 17)]))
    elif where == "function default attribute":  # found by the independent review of 09abfc8
        node = helper.make_node("Constant", [], ["c"])
        node.attribute.append(onnx.AttributeProto(name="value", ref_attr_name="v", type=onnx.AttributeProto.TENSOR))
        function = helper.make_function("local.test", "Hidden", [], ["c"], [node], [helper.make_opsetid("", 17)])
        function.attribute_proto.append(helper.make_attribute("v", _external("default_value")))
        model.functions.append(function)
    elif where == "training info":
        info = onnx.TrainingInfoProto()
        info.initialization.initializer.append(_external("training_init"))
        model.training_info.append(info)
    else:  # a node attribute holding a list of sparse tensors
        sparse = helper.make_sparse_tensor(_external("sparse_values"), _external("sparse_indices"), [3])
        attribute = helper.make_attribute("hidden", [sparse])
        model.graph.node[0].attribute.append(attribute)
    return model.SerializeToString()


@pytest.mark.req("SRS-008")
@pytest.mark.parametrize("where", ["model-local function", "list of sparse tensors", "function default attribute",
                                   "training info"])
def test_external_data_hidden_in_functions_or_sparse_tensor_lists_is_refused(
        where: str, tmp_path: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    package = make_package(tmp_path / "hidden", key, onnx_bytes=_with_hidden_external(where))
    with pytest.raises(ModelIntegrityError, match="external data"):
        LockedEngine.load(package, trusted_keys=trusted)


@pytest.mark.req("SRS-008")
def test_negative_control_the_guard_sees_every_tensor_of_a_clean_model() -> None:
    import onnx

    names = [t.name for t in onnx_guard.model_tensors(onnx.load_model_from_string(tiny_onnx()))]
    assert names == ["w", "b"]


@pytest.mark.req("SRS-007")
def test_onnx_shape_or_opset_not_matching_the_manifest_is_refused(tmp_path: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    with pytest.raises(ModelIntegrityError, match="shape"):
        LockedEngine.load(make_package(tmp_path / "shape", key, onnx_bytes=tiny_onnx(size=SIZE + 2)), trusted_keys=trusted)
    with pytest.raises(ModelIntegrityError, match="opset"):
        LockedEngine.load(make_package(tmp_path / "opset", key, onnx_bytes=tiny_onnx(opset=18)), trusted_keys=trusted)


@pytest.mark.req("SRS-009")
def test_engine_runs_the_verified_bytes_deterministically(package: Path, trusted: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    real = onnxruntime.InferenceSession

    def spy(model: object, *args: object, **kwargs: object) -> object:
        seen.append(model)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(engine_module.ort, "InferenceSession", spy)
    engine = LockedEngine.load(package, trusted_keys=trusted, options=EngineOptions(threads=2))
    assert seen == [(package / "model.onnx").read_bytes()], "ORT must get the verified bytes, not a path"
    image = np.random.default_rng(1).normal(size=(1, 3, SIZE, SIZE)).astype(np.float32)
    first = engine.run(image)
    for _ in range(20):
        assert engine.run(image).tobytes() == first.tobytes()
    # the expected values of a 1x1 conv, computed independently
    from onnx import numpy_helper
    import onnx

    graph = onnx.load_model_from_string(seen[0]).graph
    weight = numpy_helper.to_array(graph.initializer[0])[:, :, 0, 0]
    bias = numpy_helper.to_array(graph.initializer[1])
    expected = np.einsum("oc,bchw->bohw", weight, image) + bias[None, :, None, None]
    np.testing.assert_allclose(first, expected, atol=1e-5)


@pytest.mark.req("SRS-022")
def test_inference_and_dicom_import_without_torch() -> None:
    code = (
        "import sys; import device_ai.inference.engine, device_ai.inference.analyze, device_ai.dicom.reader, "
        "device_ai.dicom.series, device_ai.dicom.contract, device_ai.dicom.seg, device_ai.model.package, "
        "device_ai.training.evaluate, device_ai.cli; "
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')); "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.req("SRS-007")
def test_a_site_signed_package_with_a_malformed_input_contract_fails_verification(
        tmp_path: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    from tests.package_factory import manifest_fields

    fields = manifest_fields()
    fields["input_contract"] = {**fields["input_contract"], "max_slices": "many"}
    package = make_package(tmp_path / "bad-contract", key, fields=fields)
    with pytest.raises(ModelIntegrityError, match=r"input contract is malformed \(max_slices"):
        verify_package(package, trusted)
    good = make_package(tmp_path / "good-contract", key)  # negative control: the same package, contract intact
    assert verify_package(good, trusted).manifest.input_contract == manifest_fields()["input_contract"]


@pytest.mark.req("SRS-007")
def test_a_fifo_in_place_of_a_package_file_is_refused_without_waiting(
        tmp_path: Path, key: Ed25519PrivateKey, trusted: dict) -> None:
    import os
    import threading

    package = make_package(tmp_path / "fifo", key)
    (package / "model.onnx").unlink()
    os.mkfifo(package / "model.onnx")
    outcome: list[BaseException | None] = []

    def verify() -> None:
        try:
            verify_package(package, trusted)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            outcome.append(exc)

    worker = threading.Thread(target=verify, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the stuck open so the test process can exit
        with open(package / "model.onnx", "wb"):
            pass
        pytest.fail("verify_package waited on a FIFO")
    assert isinstance(outcome[0], ModelIntegrityError) and "not a regular file" in outcome[0].message
