"""A receiver verifies an audit export against its proof bundle (SRS-224, threat THR-035): every
format passes as exported, and each alteration (an edited FHIR field, a removed ATNA line, two
records swapped, a record added, the bundle's leaf bytes edited, a checkpoint of another key,
the wrong verifier key) fails with DAI-712 naming the record or the key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, sign_note, verifier_key
from device_ai.audit.entry import ANALYSIS_RUN, AuditObject
from device_ai.audit.export import render_line
from device_ai.audit.log import AuditLog
from tests.audit.test_exports import folder  # noqa: F401 - the three-entry log of the export tests

ORIGIN = "device-ai.local/audit"  # the default audit_origin


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _device_key(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = _run(capsys, "audit", "public-key")
    assert code == 0
    return out.strip()


def _export(capsys: pytest.CaptureFixture[str], log: Path, out: Path, fmt: str, *extra: str) -> Path:
    code, _, err = _run(capsys, "audit", "export", "--dir", str(log), "--format", fmt, "--out", str(out), *extra)
    assert code == 0, err
    return out


def _verify(capsys: pytest.CaptureFixture[str], export: Path, key: str, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "audit", "verify-export", str(export), "--key", key, *extra)


def _label(vkey: str) -> str:
    """name+keyID of a verifier key (its base64 part may hold '+')."""
    return "+".join(vkey.split("+", 2)[:2])


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def _failed(result: tuple[int, str, str], *words: str) -> None:
    code, out, err = result
    assert code == 8 and out == "", (code, out, err)
    assert "DAI-712" in err and all(word in err for word in words), err


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("fmt", ["leaves", "fhir", "atna"])
def test_each_format_verifies_and_an_edited_record_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         folder: Path, fmt: str) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / f"audit.{fmt}", fmt)
    bundle = Path(f"{export}.proof.json")
    assert bundle.is_file() and len(_lines(export)) == 3
    key = _device_key(capsys)
    code, out, err = _verify(capsys, export, key)
    assert code == 0 and "OK: 3 " in out and "the whole log" in out, err
    # negative control: record 2 edited, in each format's own way
    lines = _lines(export)
    if fmt == "leaves":
        entry = json.loads(base64.b64decode(lines[1]))
        entry["details"]["lesion_count"] = "0"
        lines[1] = base64.b64encode(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).decode()
    elif fmt == "fhir":
        lines[1] = lines[1].replace('"action": "C"', '"action": "R"')
    else:
        lines[1] = lines[1].replace('EventActionCode="C"', 'EventActionCode="R"')
    assert lines != _lines(export)
    _write_lines(export, lines)
    _failed(_verify(capsys, export, key), f"{export}: record 2 (leaf 1)", "the record was edited")


@pytest.mark.req("SRS-224")
def test_an_edited_fhir_field_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    lines = _lines(export)
    event = json.loads(lines[2])
    event["outcome"] = "0"  # a refused analysis made to read as a success
    lines[2] = json.dumps(event, sort_keys=True)
    _write_lines(export, lines)
    _failed(_verify(capsys, export, key), "record 3 (leaf 2)", "field(s) outcome differ")


@pytest.mark.req("SRS-224")
def test_a_removed_atna_line_fails_naming_its_place(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.atna", "atna")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    lines = _lines(export)
    _write_lines(export, lines[:1] + lines[2:])
    _failed(_verify(capsys, export, key), "record 2 (leaf 1)", "it is the device's record 3",
            "removed, added or reordered")
    _write_lines(export, lines[:2])  # the last line removed: nothing else to compare with
    _failed(_verify(capsys, export, key), "record 3 (leaf 2) is missing")


@pytest.mark.req("SRS-224")
def test_two_swapped_records_fail(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    lines = _lines(export)
    _write_lines(export, [lines[1], lines[0], lines[2]])
    _failed(_verify(capsys, export, key), "record 1 (leaf 0)", "it is the device's record 2")
    # swapping the bundle's records as well still fails: an export lists records in log order
    _write_lines(export, [lines[1], lines[0], lines[2]])
    bundle_path = Path(f"{export}.proof.json")
    bundle = json.loads(bundle_path.read_text())
    bundle["records"][0], bundle["records"][1] = bundle["records"][1], bundle["records"][0]
    bundle_path.write_text(json.dumps(bundle))
    _failed(_verify(capsys, export, key), "record 1", "not leaf 0")
    # claimed as filtered by a filter every record meets, so the whole-log check does not apply (a filter the
    # records do not meet fails on its own since review 128 defect 2)
    bundle["selection"] = {"since": "2000-01-01T00:00:00.000000Z"}
    bundle_path.write_text(json.dumps(bundle))
    _failed(_verify(capsys, export, key), "record 2", "reordered or repeated")


@pytest.mark.req("SRS-224")
def test_an_added_record_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    lines = _lines(export)
    forged = json.loads(lines[1])
    forged["id"] = "device-ai-3"
    _write_lines(export, [*lines, json.dumps(forged, sort_keys=True)])
    _failed(_verify(capsys, export, key), "record 4 is not in the proof bundle", "a record was added")
    _write_lines(export, [lines[0], lines[0], lines[1], lines[2]])  # a record repeated
    _failed(_verify(capsys, export, key), "record 2 (leaf 1)", "it is the device's record 1")


@pytest.mark.req("SRS-224")
def test_a_bundle_whose_leaf_bytes_were_edited_fails_its_proof(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                folder: Path) -> None:  # noqa: F811
    """The export is edited consistently with the bundle's leaf, so that only the proof can tell."""
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    bundle_path = Path(f"{export}.proof.json")
    bundle = json.loads(bundle_path.read_text())
    entry = json.loads(base64.b64decode(bundle["records"][1]["leaf"]))
    entry["details"]["lesion_count"] = "0"
    leaf = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    bundle["records"][1]["leaf"] = base64.b64encode(leaf).decode()
    bundle_path.write_text(json.dumps(bundle))
    lines = _lines(export)
    lines[1] = render_line(leaf, "fhir")
    _write_lines(export, lines)
    _failed(_verify(capsys, export, key), "record 2 (leaf 1)", "inclusion proof does not lead",
            "leaf bytes or the proof were altered")


def _forged_bundle(bundle: dict, signer: Ed25519PrivateKey, edit_leaf: int) -> tuple[dict, list[str]]:
    """A bundle re-proved over altered leaves and signed by ``signer`` under the device's origin,
    and its export lines: everything consistent but the key."""
    leaves = [base64.b64decode(record["leaf"]) for record in bundle["records"]]
    entry = json.loads(leaves[edit_leaf])
    entry["outcome"] = 0
    leaves[edit_leaf] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    tree = merkle.MerkleTree(merkle.hash_leaf(leaf) for leaf in leaves)
    head = Checkpoint(ORIGIN, len(leaves), tree.root())
    forged = dict(bundle, checkpoint=sign_note(head.body(), ORIGIN, signer).decode())
    forged["records"] = [{"index": i, "leaf": base64.b64encode(leaf).decode(),
                          "proof": [base64.b64encode(node).decode() for node in tree.inclusion_proof(i)]}
                         for i, leaf in enumerate(leaves)]
    return forged, [render_line(leaf, bundle["export_format"]) for leaf in leaves]


@pytest.mark.req("SRS-224")
def test_a_checkpoint_signed_by_another_key_fails_naming_the_key(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path, folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.atna", "atna")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    bundle_path = Path(f"{export}.proof.json")
    other = Ed25519PrivateKey.generate()
    forged, lines = _forged_bundle(json.loads(bundle_path.read_text()), other, edit_leaf=2)
    bundle_path.write_text(json.dumps(forged))
    _write_lines(export, lines)
    other_key = verifier_key(ORIGIN, other.public_key())
    _failed(_verify(capsys, export, key), f"not signed by the verifier key {_label(key)}",
            f"{ORIGIN} (key ID {other_key.split('+')[1]})")
    # positive control of the forgery: it is self-consistent, only the key tells it apart
    code, out, _ = _verify(capsys, export, other_key)
    assert code == 0 and out.startswith("OK: 3 atna record(s)")
    # a checkpoint with its signature line altered fails too
    _export(capsys, folder, export, "atna")
    bundle = json.loads(bundle_path.read_text())
    body, _, signature = bundle["checkpoint"].rpartition(" ")
    flipped = base64.b64decode(signature)
    flipped = flipped[:10] + bytes([flipped[10] ^ 1]) + flipped[11:]
    bundle["checkpoint"] = f"{body} {base64.b64encode(flipped).decode()}\n"
    bundle_path.write_text(json.dumps(bundle))
    _failed(_verify(capsys, export, key), "does not verify with the verifier key", "altered")


@pytest.mark.req("SRS-224")
def test_the_wrong_verifier_key_fails_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.leaves", "leaves")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    wrong = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    _failed(_verify(capsys, export, wrong), f"not signed by the verifier key {_label(wrong)}")
    other_origin = verifier_key("site.example/ct9", Ed25519PrivateKey.generate().public_key())
    _failed(_verify(capsys, export, other_origin), "not signed by the verifier key site.example/ct9+")
    code, _, err = _verify(capsys, export, "not-a-key")
    assert code == 2 and "DAI-100" in err and "--key is not a checkpoint verifier key" in err


@pytest.mark.req("SRS-224")
def test_a_filtered_export_verifies_and_cannot_lose_a_record(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "runs.fhir", "fhir", "--event", "DAI004")
    lines = _lines(export)
    assert len(lines) == 2 and all('"code": "DAI004"' in line for line in lines)
    key = _device_key(capsys)
    code, out, _ = _verify(capsys, export, key)
    assert code == 0 and "OK: 2 fhir record(s)" in out and "event=DAI004" in out and "does not sign" in out
    study = _export(capsys, folder, tmp_path / "study.atna", "atna", "--study", "study-0123456789abcdef",
                    "--proof", str(tmp_path / "study.bundle"))
    assert len(_lines(study)) == 1 and not Path(f"{study}.proof.json").exists()
    code, out, _ = _verify(capsys, study, key, "--proof", str(tmp_path / "study.bundle"))
    assert code == 0 and "OK: 1 atna record(s)" in out
    # negative control: a record removed from the filtered export
    _write_lines(export, lines[1:])
    _failed(_verify(capsys, export, key), "record 1 (leaf 1)", "it is the device's record 2")


STATED = {"since": "2026-11-24T08:00:00.000000Z", "until": "9999-12-31T23:59:59.999999Z", "event": "analysis run",
          "study": "study-0123456789abcdef"}
MISTYPED = {"since": ["2026-11-24", "today", "0", "2026-11-24T08:00:00Z", " 2026-11-24T08:00:00.000000Z"],
            "until": ["9999", "9" + " " * 3000 + "OK", "2026-11-24T08:00:00.000000z"],
            "event": ["Analysis", "DAI999", "Analysis Run " + "x" * 200],
            "study": ["study-0123", "STUDY-0123456789ABCDEF", "1." + "2" * 70, "1..2", "study-0123456789abcdef "]}


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("key", sorted(STATED))
def test_a_stated_filter_value_must_be_of_its_type(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   folder: Path, key: str) -> None:  # noqa: F811
    """helper-135 (review 133 defect 1b): each stated value is refused unless it is one audit export writes (the
    time as parse_time writes it, an event's code or meaning, a study id), naming the key, nothing on stdout, the
    message cut short; a value of its type every remaining record meets passes and is named (the control)."""
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir", "--study", "study-0123456789abcdef")
    key_text = _device_key(capsys)
    bundle_path = Path(f"{export}.proof.json")
    bundle = json.loads(bundle_path.read_text())
    for value in MISTYPED[key]:
        bundle["selection"] = {key: value}
        bundle_path.write_text(json.dumps(bundle))
        code, out, err = _verify(capsys, export, key_text)
        _failed((code, out, err), f"{key} is not")
        assert max(len(line) for line in err.splitlines()) < 600, err  # the stated value is quoted cut short
    bundle["selection"] = {key: STATED[key]}
    bundle_path.write_text(json.dumps(bundle))
    code, out, err = _verify(capsys, export, key_text)
    assert code == 0 and f"selection: the filter {key}={STATED[key]} (" in out, err


@pytest.mark.req("SRS-224")
@pytest.mark.parametrize(("option", "value"), [("--event", "Analysis"), ("--event", ""), ("--study", "study-x"),
                                                ("--study", "study 0123456789abcdef")])
def test_export_refuses_a_filter_its_receiver_would_refuse(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           folder: Path, option: str, value: str) -> None:  # noqa: F811
    code, out, err = _run(capsys, "audit", "export", "--dir", str(folder), "--format", "fhir",
                          "--out", str(tmp_path / "x.fhir"), option, value)
    assert code == 2 and "DAI-100" in err and option in err and not (tmp_path / "x.fhir").exists(), err
    # control: the same option with a value of its type exports
    good = {"--event": "DAI004", "--study": "study-0123456789abcdef"}[option]
    assert _export(capsys, folder, tmp_path / "y.fhir", "fhir", option, good).is_file()


@pytest.mark.req("SRS-224")
def test_failure_lines_show_terminal_controls_from_the_files_as_question_marks(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path) -> None:  # noqa: F811
    """helper-135 (review 133 defect 1a): every error line the CLI prints goes through dicom.paths.printable: a key
    with escape codes added to an edited FHIR line (the genuine bundle) is named with '?' for ESC."""
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    lines = _lines(export)
    edited = json.loads(lines[1])
    edited["\x1b[2J\x1b[HOK: \x9b8m"] = 1
    lines[1] = json.dumps(edited)
    _write_lines(export, lines)
    code, out, err = _verify(capsys, export, key)
    _failed((code, out, err), "?[2J?[HOK: ?8m differ")
    assert all(c.isprintable() for c in err.replace("\n", "")), err
    # control: the same key without control characters is named as written
    edited = json.loads(lines[1])
    edited["[2J[HOK: 8m"] = edited.pop("\x1b[2J\x1b[HOK: \x9b8m")
    lines[1] = json.dumps(edited)
    _write_lines(export, lines)
    _failed(_verify(capsys, export, key), "[2J[HOK: 8m differ")


@pytest.mark.req("SRS-224")
def test_a_whole_log_export_cannot_lose_a_record_from_both_files(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path, folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    bundle_path = Path(f"{export}.proof.json")
    bundle = json.loads(bundle_path.read_text())
    lines = _lines(export)
    bundle["records"] = bundle["records"][:2]  # the last record removed from both: proofs still hold
    bundle_path.write_text(json.dumps(bundle))
    _write_lines(export, lines[:2])
    _failed(_verify(capsys, export, key), "covers 3 record(s), but it proves 2", "record 3 onwards were removed")
    _export(capsys, folder, export, "fhir")
    bundle = json.loads(bundle_path.read_text())
    del bundle["records"][1]  # a record in the middle removed from both
    bundle_path.write_text(json.dumps(bundle))
    _write_lines(export, [lines[0], lines[2]])
    _failed(_verify(capsys, export, key), "record 2", "leaf 2, not leaf 1")


@pytest.mark.req("SRS-224")
def test_verifying_needs_no_device_home_and_export_is_deterministic(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path, folder: Path,  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = _export(capsys, folder, tmp_path / "one.atna", "atna")
    second = _export(capsys, folder, tmp_path / "two.atna", "atna")
    assert first.read_bytes() == second.read_bytes()
    assert Path(f"{first}.proof.json").read_bytes() == Path(f"{second}.proof.json").read_bytes()
    key = _device_key(capsys)
    with AuditLog.open(folder) as log:  # negative control: a new entry changes the checkpoint and the bundle
        log.append(ANALYSIS_RUN, objects=(AuditObject(kind="study", id="study-fedcba9876543210"),))
    third = _export(capsys, folder, tmp_path / "three.atna", "atna")
    assert Path(f"{third}.proof.json").read_bytes() != Path(f"{first}.proof.json").read_bytes()
    receiver = tmp_path / "receiver-home"
    monkeypatch.setenv("DEVICE_AI_HOME", str(receiver))
    code, out, _ = _verify(capsys, first, key)
    assert code == 0 and "signed checkpoint of size 3" in out
    code, out, _ = _verify(capsys, third, key)
    assert code == 0 and "signed checkpoint of size 4" in out
    assert not receiver.exists()  # nothing of a device was made or needed


@pytest.mark.req("SRS-224")
def test_unreadable_bundles_and_converted_line_ends_fail_with_a_typed_error(capsys: pytest.CaptureFixture[str],
                                                                             tmp_path: Path,
                                                                             folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    key = _device_key(capsys)
    assert _verify(capsys, export, key)[0] == 0
    bundle_path = Path(f"{export}.proof.json")
    good = bundle_path.read_bytes()
    export.write_bytes(export.read_bytes().replace(b"\n", b"\r\n"))
    _failed(_verify(capsys, export, key), "record 1 (leaf 0)", "CR LF")
    _export(capsys, folder, export, "fhir")
    bundle_path.write_bytes(good[:100])
    _failed(_verify(capsys, export, key), f"{bundle_path} is not a proof bundle")
    bundle = json.loads(good)
    bundle["rendering"] = 99
    bundle_path.write_text(json.dumps(bundle))
    _failed(_verify(capsys, export, key), "export rendering 99")
    code, _, err = _verify(capsys, tmp_path / "absent.fhir", key)
    assert code == 2 and "does not exist" in err


@pytest.mark.req("SRS-224")
def test_an_export_to_standard_output_gets_a_bundle_with_proof_only(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path, folder: Path) -> None:  # noqa: F811
    export = _export(capsys, folder, tmp_path / "audit.fhir", "fhir")
    code, out, _ = _run(capsys, "audit", "export", "--dir", str(folder), "--format", "fhir")
    assert code == 0 and out == export.read_text()  # the lines are the same, and no bundle is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.fhir", "audit.fhir.proof.json", "log"]
    bundle = tmp_path / "piped.proof.json"
    code, out, _ = _run(capsys, "audit", "export", "--dir", str(folder), "--format", "fhir", "--proof", str(bundle))
    assert code == 0 and out == export.read_text()
    piped = tmp_path / "piped.fhir"
    piped.write_text(out)
    assert _verify(capsys, piped, _device_key(capsys), "--proof", str(bundle))[0] == 0
    # a home whose log holds no entry: nothing to export, nothing written
    code, out, err = _run(capsys, "audit", "export", "--format", "fhir", "--out", str(tmp_path / "none.fhir"))
    assert code == 0 and out == "" and "nothing exported" in err
    assert not (tmp_path / "none.fhir").exists() and not (tmp_path / "none.fhir.proof.json").exists()
    code, _, err = _run(capsys, "audit", "export", "--out", str(tmp_path / "x"), "--proof", str(tmp_path / "x"))
    assert code == 2 and "the same file" in err


@pytest.mark.req("SRS-224")
def test_the_tree_gives_the_reference_inclusion_proofs() -> None:
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(37)]
    tree = merkle.MerkleTree(leaves)
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == merkle.inclusion_proof(index, leaves[:size]), (index, size)
            merkle.verify_inclusion(index, size, leaves[index], proof, merkle.root(leaves[:size]))
    with pytest.raises(merkle.ProofError):  # negative control: another leaf's proof does not verify
        merkle.verify_inclusion(4, 37, leaves[4], tree.inclusion_proof(5), tree.root())
    with pytest.raises(merkle.ProofError):
        tree.inclusion_proof(37)
