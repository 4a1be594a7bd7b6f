"""Signed approvals of package documents, the manifest seal and the reviews line of every page
(issue 19 item 3; SRS-214): a signature counts only over the exact bytes it signed, by a trusted
key of the name it carries, and a document is approved only with every required role signed by
different people."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.errors import ConfigError, TraceabilityError
from device_ai.regulatory import approvals
from device_ai.regulatory.external_tools import TOOLS
from device_ai.regulatory.package import verify_package
from device_ai.regulatory.package_signing import check_signatures, sign_document
from device_ai.regulatory.render import DIFF, DOCUMENTS, control
from device_ai.regulatory.render.view import TraceView

DATE = "2026-12-06T10:00:00Z"
PEOPLE = {"author": "Alice Author", "reviewer": "Rita Reviewer", "qa-ra": "Quentin QA"}


@pytest.fixture
def keys() -> dict[str, Ed25519PrivateKey]:
    return {role: Ed25519PrivateKey.generate() for role in PEOPLE}


def _trusted(keys: dict[str, Ed25519PrivateKey], tmp_path: Path, roles: dict[str, list[str]] | None = None) -> Path:
    """A trusted signers file: each person may sign in their own role (``roles`` overrides)."""
    signers = [{"name": PEOPLE[role], "roles": (roles or {}).get(role, [role]),
                "public_key": approvals.public_key_b64(key.public_key())} for role, key in keys.items()]
    path = tmp_path / "signers.yaml"
    path.write_text(yaml.safe_dump({"signers": signers}), encoding="utf-8")
    return path


@pytest.fixture
def package(package_dir: Path, tmp_path: Path) -> Path:
    copy_dir = tmp_path / "package"
    shutil.copytree(package_dir, copy_dir)
    return copy_dir


def _sign(package: Path, doc: str, role: str, key: Ed25519PrivateKey, trusted: dict, name: str | None = None):  # noqa: ANN202
    return sign_document(package, doc, role=role, name=name or PEOPLE[role], key=key, date=DATE, trusted=trusted)


def _sign_all(package: Path, keys: dict[str, Ed25519PrivateKey], trusted: dict, doc: str = "DAI-DOC-SRS") -> None:
    for role, key in keys.items():
        _sign(package, doc, role, key, trusted)


def _manifest(package: Path) -> dict[str, Any]:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))


def _shown_state(page: str) -> str:
    return re.search(r'<!--<dai-approval>--><strong data-field="approval">([^<]*)</strong>', page).group(1)


@pytest.mark.req("SRS-214")
def test_signed_by_every_role_the_document_is_approved_and_the_package_verifies(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    before, before_file = _manifest(package)["documents"]["srs.html"], _manifest(package)["files"]["srs.html"]
    _sign(package, "DAI-DOC-SRS", "author", keys["author"], trusted)
    _sign(package, "DAI-DOC-SRS", "reviewer", keys["reviewer"], trusted)
    partial = (package / "srs.html").read_text(encoding="utf-8")
    assert _shown_state(partial) == "not approved (draft)" and "missing a valid signature as qa-ra" in partial
    outcome = _sign(package, "DAI-DOC-SRS", "qa-ra", keys["qa-ra"], trusted)
    assert (outcome.status, outcome.state, outcome.missing_roles) == ("valid", "approved", ())

    page = (package / "srs.html").read_text(encoding="utf-8")
    manifest = _manifest(package)
    entry = manifest["documents"]["srs.html"]
    assert _shown_state(page) == "approved" and 'content: /*<dai-approval>*/"approved"/*</dai-approval>*/' in page
    for role, person in PEOPLE.items():
        assert f"{role} {person}, {DATE}, key {approvals.key_id(keys[role].public_key())} (valid)" in page
    # the signed digest is unchanged (what was signed), the file's digest follows the shown region
    assert entry["signed_sha256"] == before["signed_sha256"] == control.signed_sha256("srs.html", page.encode())
    assert manifest["files"]["srs.html"]["sha256"] != before_file["sha256"]
    assert entry["approval"]["state"] == "approved" and [s["status"] for s in entry["approval"]["signatures"]] == ["valid"] * 3
    assert verify_package(package) == [] and verify_package(package, trusted) == []
    report = check_signatures(package, trusted)
    assert report.states["srs.html"] == "approved" and report.states["sdp.html"] == "not approved (draft)"
    assert report.seal == "unsigned" and "manifest.json: unsigned (no manifest.sig): the package is not sealed" in report.notes

    seal = _sign(package, "DAI-DOC-MANIFEST", "qa-ra", keys["qa-ra"], trusted)
    assert seal.state == "sealed" and check_signatures(package, trusted).seal == "sealed"
    assert verify_package(package, trusted) == []
    with pytest.raises(TraceabilityError, match="is sealed"):  # nothing changes under the seal
        _sign(package, "DAI-DOC-SDP", "author", keys["author"], trusted)


@pytest.mark.req("SRS-214")
def test_one_changed_byte_makes_the_signature_invalid_and_the_document_not_approved(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    _sign_all(package, keys, trusted)
    assert check_signatures(package, trusted).problems == ()
    page = (package / "srs.html").read_bytes()
    at = page.index(b"software requirements specification")  # one byte of the content, outside the region
    (package / "srs.html").write_bytes(page[:at] + b"S" + page[at + 1:])
    report = check_signatures(package, trusted)
    assert report.states["srs.html"] == "not approved (draft)"
    assert sum("signed other content" in line for line in report.problems) == 3
    assert "srs.html: SHA-256 differs from the manifest" in verify_package(package, trusted)
    with pytest.raises(TraceabilityError, match="differs from its manifest"):
        _sign(package, "DAI-DOC-SRS", "author", keys["author"], trusted, name="Another Author")


@pytest.mark.req("SRS-214")
def test_a_page_that_claims_an_approval_its_signatures_do_not_give_is_reported(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    _sign(package, "DAI-DOC-SDP", "author", keys["author"], trusted)
    page = (package / "sdp.html").read_text(encoding="utf-8")
    forged = page.replace('<strong data-field="approval">not approved (draft)</strong>',
                          '<strong data-field="approval">approved</strong>', 1)
    assert forged != page and control.signed_sha256("sdp.html", forged.encode()) == control.signed_sha256(
        "sdp.html", page.encode())  # the region is outside the signed digest ...
    (package / "sdp.html").write_text(forged, encoding="utf-8")
    problems = check_signatures(package, trusted).problems  # ... so what it shows is checked against the signatures
    assert problems == ("sdp.html: the page does not show what its signatures give (not approved (draft), missing "
                        "reviewer, qa-ra)",)


@pytest.mark.req("SRS-214")
def test_an_untrusted_key_a_borrowed_name_or_a_missing_role_never_counts(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    stranger = Ed25519PrivateKey.generate()
    _sign(package, "DAI-DOC-SRS", "author", keys["author"], trusted)
    _sign(package, "DAI-DOC-SRS", "reviewer", keys["reviewer"], trusted)
    outcome = _sign(package, "DAI-DOC-SRS", "qa-ra", stranger, trusted)  # the right name, a key nobody trusts
    assert outcome.status == f"untrusted key {approvals.key_id(stranger.public_key())}"
    assert (outcome.state, outcome.missing_roles) == ("not approved (draft)", ("qa-ra",))
    borrowed = _sign(package, "DAI-DOC-SRS", "qa-ra", keys["reviewer"], trusted)  # Rita's key, Quentin's name
    assert borrowed.status == f"key {approvals.key_id(keys['reviewer'].public_key())} is Rita Reviewer's, not Quentin QA's"
    own_name = _sign(package, "DAI-DOC-SRS", "qa-ra", keys["reviewer"], trusted, name="Rita Reviewer")
    assert own_name.status == "Rita Reviewer may not sign as qa-ra" and own_name.state == "not approved (draft)"
    report = check_signatures(package, trusted)
    assert report.problems == () and report.states["srs.html"] == "not approved (draft)"
    assert sum(line.endswith("not counted") for line in report.notes) == 3
    assert "NOT COUNTED: untrusted key" in (package / "srs.html").read_text(encoding="utf-8")
    # the same valid signatures, judged by a verifier who trusts nobody: nothing counts
    assert check_signatures(package, {}).states["srs.html"] == "not approved (draft)"
    # control: the missing role signed by its holder approves the document
    assert _sign(package, "DAI-DOC-SRS", "qa-ra", keys["qa-ra"], trusted).state == "approved"


@pytest.mark.req("SRS-214")
def test_one_person_in_every_role_does_not_approve() -> None:
    key = Ed25519PrivateKey.generate()
    trusted = {approvals.key_id(key.public_key()): approvals.TrustedSigner("Solo", frozenset(approvals.ROLES),
                                                                            key.public_key())}
    signed = [approvals.sign(key, document="DAI-DOC-X", revision="r", sha256="a" * 64, role=role, name="Solo",
                             date=DATE) for role in approvals.REQUIRED_ROLES]
    state = approvals.approval("DAI-DOC-X", revision="r", sha256="a" * 64, signatures=signed, trusted=trusted)
    assert state["state"] == "not approved (draft)" and state["missing_roles"] == []
    assert state["note"] == "the required roles are signed, but not by different people"
    # a signature moved to another revision or another role does not verify there
    moved = approvals.Signature(**{**signed[0].record(), "role": "qa-ra"})
    assert approvals.judge(moved, revision="r", sha256="a" * 64, trusted=trusted) == "invalid signature (does not verify)"
    assert approvals.judge(signed[0], revision="r2", sha256="a" * 64, trusted=trusted) == "signed another revision (r)"


@pytest.mark.req("SRS-214")
def test_a_tampered_or_foreign_manifest_signature_is_reported(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    assert check_signatures(package, trusted).seal == "unsigned" and verify_package(package, trusted) == []
    _sign(package, "DAI-DOC-MANIFEST", "qa-ra", keys["qa-ra"], trusted)
    seal_path = package / approvals.SEAL
    good = json.loads(seal_path.read_text())
    flipped = good["signature"][:10] + ("A" if good["signature"][10] != "A" else "B") + good["signature"][11:]
    seal_path.write_text(json.dumps({**good, "signature": flipped}))
    problems = verify_package(package, trusted)
    assert len(problems) == 1 and problems[0].startswith("manifest.json: seal by Quentin QA as qa-ra")
    assert problems[0].endswith(("invalid signature (does not verify)", "malformed signature"))
    seal_path.write_text(json.dumps(good))  # restored: verifies again
    assert verify_package(package, trusted) == []
    manifest = package / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:-1] + b" \n")  # one byte more under the seal
    assert any("signed other content" in line for line in verify_package(package, trusted))
    assert check_signatures(package, {}).seal.startswith("not sealed")


@pytest.mark.req("SRS-214")
def test_the_cli_signs_with_a_passphrase_protected_key_and_verifies(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trusted = _trusted(keys, tmp_path)
    files = {}
    for role, key in keys.items():
        phrase = tmp_path / f"{role}.pass"
        phrase.write_text(f"passphrase of {role}\n")
        pem = tmp_path / f"{role}.pem"
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(f"passphrase of {role}".encode())))
        for path in (phrase, pem):
            path.chmod(0o600)
        files[role] = (pem, phrase)
    for role in ("author", "reviewer", "qa-ra"):
        pem, phrase = files[role]
        assert cli.main(["review", "sign", "DAI-DOC-RMR", "--role", role, "--name", PEOPLE[role], "--key", str(pem),
                         "--passphrase-file", str(phrase), "--package", str(package), "--trusted", str(trusted)]) == 0
    out = capsys.readouterr().out
    assert "as qa-ra by Quentin QA" in out and "DAI-DOC-RMR: approved" in out
    assert cli.main(["report", "package", "--verify", str(package), "--trusted", str(trusted)]) == 0
    out = capsys.readouterr().out
    assert "1 of " in out and "documents approved: risk-report.html; manifest: unsigned" in out
    # a wrong passphrase and an open key file are refused with the file named, nothing signed
    pem, _ = files["author"]
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not it")
    wrong.chmod(0o600)
    assert cli.main(["review", "sign", "DAI-DOC-SDP", "--role", "author", "--name", PEOPLE["author"], "--key",
                     str(pem), "--passphrase-file", str(wrong), "--package", str(package)]) == ConfigError.exit_code
    assert "cannot be read as a PEM private key" in capsys.readouterr().err
    pem.chmod(0o644)
    assert cli.main(["review", "sign", "DAI-DOC-SDP", "--role", "author", "--name", PEOPLE["author"], "--key",
                     str(pem), "--package", str(package)]) == ConfigError.exit_code
    assert "others can read it" in capsys.readouterr().err
    # an altered page fails --verify with every problem listed
    page = package / "risk-report.html"
    page.write_bytes(page.read_bytes().replace(b"<main>", b"<main> ", 1))
    assert cli.main(["report", "package", "--verify", str(package), "--trusted", str(trusted)]) == TraceabilityError.exit_code
    err = capsys.readouterr().err
    assert "risk-report.html: SHA-256 differs from the manifest" in err and "signed other content" in err


@pytest.mark.req("SRS-214")
def test_signing_refuses_an_unknown_document_or_role_and_a_malformed_trust_list(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    with pytest.raises(TraceabilityError, match="holds no document DAI-DOC-NOPE"):
        _sign(package, "DAI-DOC-NOPE", "author", keys["author"], {})
    with pytest.raises(ConfigError, match="'approver' is not a signing role"):
        sign_document(package, "DAI-DOC-SRS", role="approver", name="X", key=keys["author"], date=DATE, trusted={})
    assert not (package / approvals.APPROVALS).exists()  # nothing written
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"signers": [{"name": "X", "roles": ["boss"], "public_key": "AAAA"}]}))
    with pytest.raises(ConfigError, match="signer 1: roles must be"):
        approvals.load_trusted(bad)
    assert approvals.load_trusted(tmp_path / "none.yaml") == {}  # no list: nobody is trusted


@pytest.mark.req("SRS-214")
def test_every_page_says_whose_reviews_it_rests_on(graph: dict[str, Any], package_dir: Path) -> None:
    assert set(control.DOCUMENT_ITEMS) == set(control.DOCUMENT_IDS)  # every document says which items it shows
    view = TraceView.from_graph(graph)
    counts = control.reviews(view, "srs.html")
    shown = [n for kind in control.DOCUMENT_ITEMS["srs.html"] for n in view.of(kind)]
    assert counts["items"] == len(shown) > 0
    assert counts["independent"] + counts["author_only"] + counts["not_reviewed"] == counts["items"]
    page = (package_dir / "srs.html").read_text(encoding="utf-8")
    assert control.reviews_text(counts) in page
    for doc in [*DOCUMENTS, DIFF]:
        assert control.reviews(view, doc.file)["items"] >= 0
    # control: one more item reviewed independently moves one count from author-only to independent
    changed = copy.deepcopy(graph)
    node = next(n for n in changed["nodes"] if n["kind"] == "requirement" and not n.get("independent_reviews")
                and n.get("review_state") == "reviewed")
    node["independent_reviews"] = [{"by": "Ivy Independent", "date": DATE, "commit": None, "independent": True}]
    after = control.reviews(TraceView.from_graph(changed), "srs.html")
    assert (after["independent"], after["author_only"]) == (counts["independent"] + 1, counts["author_only"] - 1)
    with pytest.raises(TraceabilityError, match="does not say which items it shows"):
        control.reviews(view, "new.html")


@pytest.mark.req("SRS-214")
def test_the_vv_report_shows_each_runs_external_tool_versions(graph: dict[str, Any], package_dir: Path) -> None:
    assert set(graph["runs"][0]["header"]["external_tools"]) == set(TOOLS)
    page = (package_dir / "vv-report.html").read_text(encoding="utf-8")
    assert "(e) external tools" in page
    for name in TOOLS:
        assert f"{name}: " in page


@pytest.mark.req("SRS-214")
def test_a_signed_page_is_printed_again_with_its_approval_on_every_page(
        package: Path, keys: dict[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    """A package with PDFs: the PDF of a page whose approval changed is printed again (the printed
    header shows the approval state); the other PDFs stay as they were."""
    from conftest import require_tool

    from device_ai.regulatory import pdf as pdf_module
    from device_ai.regulatory.package import manifest_bytes

    from . import pdf_checks

    printer = pdf_module.Printer.find(require_tool("chromium"))
    name = "security-plan.html"  # a short document: printed a few times in this test
    manifest = _manifest(package)
    printed = pdf_module.print_documents({name: (package / name).read_text(encoding="utf-8")}, binary=printer.binary,
                                         recorded_utc=manifest["documents"][name]["date"])
    pdf = package / "security-plan.pdf"
    pdf.write_bytes(printed["security-plan.pdf"])
    manifest["documents"][name]["pdf"] = pdf.name
    manifest["pdf_printer"] = printer.version
    manifest["files"][pdf.name] = {"sha256": hashlib.sha256(pdf.read_bytes()).hexdigest(),
                                   "bytes": pdf.stat().st_size}
    (package / "manifest.json").write_bytes(manifest_bytes(manifest))
    assert verify_package(package) == []
    assert all("not approved (draft)" in text for text in pdf_checks.page_texts(pdf))
    trusted = approvals.load_trusted(_trusted(keys, tmp_path))
    _sign_all(package, keys, trusted, doc="DAI-DOC-SEC-PLAN")
    texts = pdf_checks.page_texts(pdf)
    headers = [" ".join(text.split("\n")[0].split()) for text in texts]
    assert headers and all(h.startswith("DAI-DOC-SEC-PLAN") and h.endswith(" approved") for h in headers), headers
    assert verify_package(package, trusted) == []
