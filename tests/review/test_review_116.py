"""Independent review 116 (reviewer helper-116) of SRS-211, SRS-213 and SRS-214, all draft, at HEAD bab5c35
(e50759f when the records were written: none of these files changed). helper-116 wrote none of the code or
tests reviewed. Commits read (``git show``): b6fcd06 and b2a49a5 (SRS-211, helper-111), 33980b3 and 6cc19ba
(SRS-213, helper-109), b6b31ce and 681c649 (SRS-214, helper-113).

1. SRS-211 (render/specification.py, source_design.py, item_diagram.py, revisions.py): HOLDS.
   Every requirement row of srs.html holds its full text (the author's check), its rationale and its status
   badge (srs.html.j2:14, 18; test_h10, control: a rationale changed in the graph is missing from the check).
   The architecture SVG names every item of the repository's software_items.yaml, SI-BATCH (b2a49a5) included
   (test_h11). The SDS reads source with ast only (source_design.py:137-148): a planted module whose import
   would write a file and raise is described with its public function, and the file is never written
   (test_h12); a file with a NUL byte or invalid UTF-8 is a row "not parsed", no crash (read_module, 142-147;
   test_h13). Revision history outside git, in a sub-folder and on a shallow clone: the author's test covers
   all three (test_specification_documents.py:203-232); read, not re-probed.
2. SRS-213 (submission/gspr.yaml, iec62304.yaml, device.yaml, DOC-WRAPPER gate): HOLDS for the requirement's
   text. 43 GSPR rows; the 21 not-applicable rows were read one by one: none plainly applies to stand-alone
   software (7, 9-13, 14.3, 14.7, 16, 17.3, 18.2-18.7, 19-22, 23.3), each with a justification; the label of
   23.2 (a)-(s) invents no manufacturer, representative, UDI, date or CE/MD sign (test_h20). The completeness
   checks fail on a dropped row and on an applicable row without methods (test_h21). See notes N1-N3 on the
   4.4 and 4.1 rows and an empty device.yaml: they are wrapper items (C62304-4.4, C62304-4.1), reviewed here
   but NOT given independent review records, as their content is questioned.
3. SRS-214 (approvals.py, package_signing.py, render/control.py): DEFECT 1; the rest holds.
   Replay: a valid signature whose document field is moved to another document no longer verifies there and
   is reported; one whose revision is rewritten is "signed another revision" (approvals.py:96-100, 151-154;
   test_h30). Smuggling into the excluded region: content (a paragraph, or CSS) put inside either approval
   region keeps the signed digest (control.py:210-219, by design), and check_signatures re-renders the region
   from the signatures and reports the page (package_signing.py:213-215; test_h31, control: the untouched
   signed package has no problem). A marker cannot come from item text (escaped "<"; test_h32: a requirement
   text holding both markers renders escaped and the page keeps one region each). One person in all three
   roles (one key, or two keys under one name) is "not by different people" (approvals.py:185-187, 198-205; test_h33).
   The document ID is bound in the message even over identical bytes (test_h35).
   Defect 1: the manifest's approval block is compared by its state only (package_signing.py:216-218).

Defect (a strict xfail beside a passing pin and a control):

1. (SRS-214) check_signatures compares a manifest entry's approval with the signatures by ``state`` alone. In
   an unsealed package (a draft, verify_package's normal case) manifest.json's approval block for srs.html can
   list a signature that approvals.json does not hold - "qa-ra Quentin QA ... valid" - or drop a real one, and
   `report package --verify` (verify_package with trusted signers) reports nothing, while SRS-214 says the
   manifest "shall show every signature with its role, name, date, key ID and status" and --verify "shall
   report ... a page or manifest that shows another approval than its signatures give". Pages are compared
   whole (213-215); the manifest is not. Pin test_d1_a_manifest_listing_a_forged_signature_is_not_reported;
   control: a changed state is reported (test_h34). Strict xfail
   test_d1_a_manifest_listing_a_forged_signature_is_reported. Fix: compare the whole approval block
   (``entry["approval"] != approval``).

Lead, 2026-12-06: defect 1 fixed (package_signing compares the manifest's whole approval block, signatures
included, after the state); the pin asserts the report and the xfail is a plain test. Not re-reviewed.

Notes (no xfail):
N1 (SRS-213) C62304-4.4 is status "conforms" while its note says "Does not apply, with nothing to conform to";
   the conformity page's state counts therefore count one conforming clause that is really not applicable. The
   note discloses it and review 101 defect 2 made a needed clause marked not_applicable fail the gate, so the
   author chose "conforms"; the honest form is a not-applicable state the gate accepts for 4.4 (legacy software
   is an alternative route, 4.4.1) - a product decision for the lead. C62304-4.4 gets no independent record here.
N2 (SRS-213) C62304-4.1's note still says "document approval (no signed approvals, issue 19 item 3)"; since
   b6b31ce the package has signed approvals (none made yet). Stale wording; status not_conforming stays right.
N3 (SRS-213) The DOC-WRAPPER gap is for a missing file only: an empty submission/device.yaml (a comment) passes
   --release (test_h22). It matches the text ("when ... is missing"); the repository's completeness is the
   test file's job. uncovered_clauses lets a row "5" stand for the whole of clause 5 (test_h21); no such row
   exists.
N4 (SRS-214) Distinct people are distinct printed names (approvals.py:198-205): "Alice Author" and
   "alice author" under two trusted keys count as two people; the trusted list is the control. The seal may be
   made in any role (package_signing.py:113-118; the text names no role).
N5 (SRS-214) PDFs are not signed: their approval header is refreshed at signing and covered only by the
   manifest's file digests, so before the seal a reprinted PDF with other content passes --verify once the
   manifest digest is updated. The text signs "the document's bytes" (the HTML); a reader of the PDF relies on
   the seal.

Mutation check (one edit of a key line per mutant in a copy /tmp/h116/mut/<name>/src of src/, by
/tmp/h116/mutate.py; this file run with the copy first on PYTHONPATH; M00 null copy: 19 passed, 1 xfailed).
A1 page not compared (package_signing.py:213): h30, h31[html], h31[css]; A2 revision unchecked (approvals.py:153):
h30; A3 distinct people ignored (187): h33 (2); A4 document left out of the signed message (98): h35 (h30 alone
did not kill it: the moved signature's digest changed too); S2 rationale dropped (srs.html.j2:18): h10; S3 the
SDS also runs each file (source_design.py:141): h12. Survivor: S1 ``except SyntaxError`` only (142) - equivalent
on this CPython 3.11.7, where NUL bytes and bad UTF-8 raise SyntaxError. FIX_d1 (216: the whole approval block
compared): the d1 pin fails and the d1 xfail XPASSes. 7 behaviour mutants, 6 killed, 1 equivalent.

NOT checked: the CLI's --verify exit codes and printing (the author's CLI test); PDF reprinting after signing;
the external-tool header beyond reading external_tools.py (its list matches the tools tests/ call); SI-BATCH's
class and rationale; Annex I and IEC 62304 numbering against a licensed text (read from memory: it agrees).

Verdict: SRS-211 and SRS-213 hold: independent review records written (the wrapper items C62304-4.4 and
C62304-4.1 not: N1, N2). SRS-214 is NOT approved: defect 1.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from markupsafe import escape

from device_ai.regulatory import approvals
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.package import build_package, package_files, verify_package
from device_ai.regulatory.package_signing import check_signatures, sign_document
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render import control
from device_ai.regulatory.render.view import TraceView
from device_ai.regulatory.submission_items import GsprRow
from tests import fast_yaml
from tests.regulatory.miniproject import gap_lines
from tests.regulatory.test_submission_wrapper import _report, write_wrapper_project
from tests.regulatory.test_wrapper_completeness import GSPR_NUMBERS, missing_gsprs, uncovered_clauses
from tests.regulatory_render.conftest import build_graph, copy_items, sample_results, write_run
from tests.regulatory_render.test_specification_documents import missing_requirement_texts, unnamed_items

REPO = Path(__file__).resolve().parents[2]
DATE = "2026-12-06T10:00:00Z"
PEOPLE = {"author": "Alice Author", "reviewer": "Rita Reviewer", "qa-ra": "Quentin QA"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_items(tmp_path_factory.mktemp("h116-project"))
    write_run(root / "results.json", root, sample_results())
    return root


@pytest.fixture(scope="module")
def graph(project: Path) -> dict[str, Any]:
    return build_graph(project, project / "results.json")


@pytest.fixture(scope="module")
def built(graph: dict[str, Any], project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("h116-packages") / "package"
    build_package(graph, root=project, out=out)
    return out


@pytest.fixture
def package(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "package"
    shutil.copytree(built, target)
    return target


def _render(graph: dict[str, Any], root: Path, name: str) -> str:
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file == name])[name]


# === SRS-211 ================================================================================================

def rows_without_rationale_or_status(page: str, requirements: list[dict[str, Any]]) -> list[str]:
    """IDs whose srs.html row lacks its escaped rationale or its status badge."""
    missing = []
    for r in requirements:
        row = re.search(rf'<tr id="{re.escape(r["id"])}">(.*?)</tr>', page, re.S)
        text = row.group(1) if row else ""
        rationale = " ".join(str(r.get("rationale") or "").split())
        if (rationale and str(escape(rationale)) not in " ".join(text.split())) or f">{r['status']}<" not in text:
            missing.append(r["id"])
    return missing


@pytest.mark.req("SRS-211")
def test_h10_every_srs_row_holds_its_rationale_and_status(graph: dict[str, Any], project: Path,
                                                          built: Path) -> None:
    requirements = fast_yaml.safe_load((project / "traceability/requirements.yaml").read_text())["software_requirements"]
    page = (built / "srs.html").read_text(encoding="utf-8")
    assert len(requirements) > 180
    assert missing_requirement_texts(page, requirements) == []
    assert rows_without_rationale_or_status(page, requirements) == []
    # control: a rationale changed in the graph is missed by the check
    changed = copy.deepcopy(graph)
    node = next(n for n in changed["nodes"] if n["id"] == "SRS-213")
    node["fields"]["rationale"] = "Something else entirely."
    assert rows_without_rationale_or_status(_render(changed, project, "srs.html"), requirements) == ["SRS-213"]


@pytest.mark.req("SRS-211")
def test_h11_the_svg_names_si_batch_and_every_repository_item(built: Path) -> None:
    items = fast_yaml.safe_load((REPO / "traceability/software_items.yaml").read_text())["software_items"]
    assert "SI-BATCH" in [i["id"] for i in items]
    for name in ("architecture.html", "sds.html"):
        page = (built / name).read_text(encoding="utf-8")
        assert unnamed_items(page, items) == [], name
    # control: an item that is not in the YAML is not drawn
    assert unnamed_items(page, [*items, {"id": "SI-NOT-THERE"}]) == ["SI-NOT-THERE"]


TRAP = '''"""A module whose import has a side effect."""
from pathlib import Path
Path({marker!r}).write_text("imported")
raise SystemExit("imported at render time")


def trap_public_entry(x):
    """Public entry of the trap."""
'''


@pytest.mark.req("SRS-211")
def test_h12_the_sds_never_imports_the_source(graph: dict[str, Any], project: Path, tmp_path: Path) -> None:
    root = copy_items(tmp_path / "trap")
    (root / "results.json").write_bytes((project / "results.json").read_bytes())
    marker = tmp_path / "imported.txt"
    module = root / "src" / "device_ai" / "regulatory" / "trap_design.py"
    module.parent.mkdir(parents=True)
    module.write_text(TRAP.format(marker=str(marker)), encoding="utf-8")
    page = package_files(graph, root=root)["sds.html"].decode("utf-8")
    assert not marker.exists()
    row = re.search(r'<tr id="mod-device_ai.regulatory.trap_design">(.*?)</tr>', page, re.S)
    assert row and "<code>trap_public_entry(x)</code>: Public entry of the trap." in row.group(1)


@pytest.mark.req("SRS-211")
@pytest.mark.parametrize("content", [b"x = 1\x00\n", b"x = '\xff\xfe'\n", b"def (:\n"], ids=["nul", "latin", "syntax"])
def test_h13_a_file_that_does_not_parse_is_a_row_not_a_crash(graph: dict[str, Any], project: Path, tmp_path: Path,
                                                             content: bytes) -> None:
    root = copy_items(tmp_path / "bad")
    (root / "results.json").write_bytes((project / "results.json").read_bytes())
    (root / "src" / "device_ai").mkdir(parents=True)
    (root / "src" / "device_ai" / "odd_file.py").write_bytes(content)
    (root / "src" / "device_ai" / "fine_file.py").write_text('"""Fine."""\n\ndef fine_entry():\n    pass\n')
    page = package_files(graph, root=root)["sds.html"].decode("utf-8")
    row = re.search(r'<tr id="mod-device_ai.odd_file">(.*?)</tr>', page, re.S)
    assert row and "not parsed" in row.group(1)
    # control: the file beside it is read
    assert "<code>fine_entry()</code>" in page


# === SRS-213 ================================================================================================

@pytest.fixture(scope="module")
def repository() -> Any:
    return load_project(REPO)


NOT_APPLICABLE = {"7", "9", "10", "11", "12", "13", "14.3", "14.7", "16", "17.3", "18.2", "18.3", "18.4", "18.5",
                  "18.6", "18.7", "19", "20", "21", "22", "23.3"}


@pytest.mark.req("SRS-213")
def test_h20_the_statuses_read_as_reviewed_and_nothing_is_invented(repository: Any) -> None:
    rows = {x.item.id.removeprefix("GSPR-"): x.item for x in repository.of(GsprRow)}
    assert len(rows) == 43 == len(GSPR_NUMBERS)
    assert {n for n, r in rows.items() if not r.applicable} == NOT_APPLICABLE  # the 21 read one by one
    # the software GSPRs apply
    for number in ("1", "3", "5", "14.2", "14.5", "15.1", "17.1", "17.2", "17.4", "18.8", "23.1", "23.4"):
        assert rows[number].applicable and rows[number].methods and rows[number].evidence, number
    label = {p.point: p for p in repository.device.item.label}
    for point, particular in label.items():
        forms = [f for f in ("value", "value_from", "not_defined", "not_applicable") if getattr(particular, f)]
        assert len(forms) == 1, point
    # nothing a manufacturer would supply carries a value: manufacturer, representative, UDI, date, CE/MD sign
    for point in ("23.2 (c)", "23.2 (d)", "23.2 (h)", "23.2 (j)", "23.2 (q)"):
        assert label[point].value is None and label[point].not_defined, point


@pytest.mark.req("SRS-213")
def test_h21_the_completeness_checks_fail_on_a_dropped_or_an_empty_row(repository: Any) -> None:
    numbers = [x.item.id.removeprefix("GSPR-") for x in repository.of(GsprRow)]
    assert missing_gsprs(numbers) == []
    assert missing_gsprs([n for n in numbers if n != "17.2"]) == ["17.2"]
    rows = {x.item.id: x.item for x in repository.of(GsprRow)}
    emptied = rows["GSPR-17.2"].model_copy(update={"methods": ""})
    assert not ((emptied.applicable and emptied.evidence and emptied.methods)
                or (not emptied.applicable and emptied.justification))
    # N3: a whole-clause row would cover every sub-clause of clause 5
    assert uncovered_clauses(["4", "5", "6", "7", "8", "9"]) == []
    assert uncovered_clauses(["4", "6", "7", "8", "9"])  # control


@pytest.mark.req("SRS-213")
def test_h22_an_empty_device_description_passes_the_release_gate(tmp_path: Path) -> None:
    """N3: the gate needs the files, not their rows."""
    root = write_wrapper_project(tmp_path)  # device.yaml is an empty stub
    assert "label" not in (root / "submission/device.yaml").read_text()
    assert _report(root, release=True).passed
    (root / "submission/device.yaml").unlink()  # control
    assert any("submission/device.yaml" in line for line in gap_lines(_report(root, release=True)))


@pytest.mark.req("SRS-213")
def test_h23_clause_4_4_is_conforms_with_a_does_not_apply_note(repository: Any) -> None:
    """N1 pinned: C62304-4.4 is counted as conforming while its note says it does not apply."""
    from device_ai.regulatory.submission_items import ConformityRow

    rows = {x.item.clause: x.item for x in repository.of(ConformityRow)}
    assert rows["4.4"].status == "conforms" and rows["4.4"].note.startswith("Does not apply")
    # N2 (stale since b6b31ce) fixed by the lead in 5bcd986: the note now says what review sign leaves undone
    assert "no signed approvals" not in rows["4.1"].note and "no trusted signers are listed" in rows["4.1"].note


# === SRS-214 ================================================================================================

@pytest.fixture
def keys() -> dict[str, Ed25519PrivateKey]:
    return {role: Ed25519PrivateKey.generate() for role in PEOPLE}


def _trusted(keys: dict[str, Ed25519PrivateKey], tmp_path: Path, entries: list[dict] | None = None) -> dict:
    signers = entries or [{"name": PEOPLE[role], "roles": [role],
                           "public_key": approvals.public_key_b64(key.public_key())} for role, key in keys.items()]
    path = tmp_path / "signers.yaml"
    path.write_text(yaml.safe_dump({"signers": signers}), encoding="utf-8")
    return approvals.load_trusted(path)


def _sign_all(package: Path, keys: dict, trusted: dict, doc: str = "DAI-DOC-SRS", names: dict | None = None) -> None:
    for role, key in keys.items():
        sign_document(package, doc, role=role, name=(names or PEOPLE)[role], key=key, date=DATE, trusted=trusted)


def _manifest(package: Path) -> dict[str, Any]:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(package: Path, manifest: dict[str, Any]) -> None:
    from device_ai.regulatory.package import manifest_bytes

    (package / "manifest.json").write_bytes(manifest_bytes(manifest))


def _rewrite(package: Path, name: str, data: bytes) -> None:
    """A file changed and the (unsealed) manifest's digest updated, as anyone with the folder can."""
    import hashlib

    (package / name).write_bytes(data)
    manifest = _manifest(package)
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    _write_manifest(package, manifest)


def _signatures(package: Path) -> list[approvals.Signature]:
    return approvals.read_signatures(package / approvals.APPROVALS)


def _write_signatures(package: Path, signatures: list[approvals.Signature]) -> None:
    (package / approvals.APPROVALS).write_text(approvals.signatures_text(signatures), encoding="utf-8")


@pytest.mark.req("SRS-214")
def test_h30_a_signature_replayed_onto_another_document_or_revision_never_counts(
        package: Path, keys: dict, tmp_path: Path) -> None:
    trusted = _trusted(keys, tmp_path)
    _sign_all(package, keys, trusted)
    assert check_signatures(package, trusted).problems == ()  # control
    signatures = _signatures(package)
    moved = [approvals.Signature(**{**s.record(), "document": "DAI-DOC-SDP",
                                    "sha256": _manifest(package)["documents"]["sdp.html"]["signed_sha256"]})
             for s in signatures]
    _write_signatures(package, moved)
    report = check_signatures(package, trusted)
    assert report.states["sdp.html"] == approvals.NOT_APPROVED
    assert sum("sdp.html: signature as" in p and "does not verify" in p for p in report.problems) == 3
    assert report.states["srs.html"] == approvals.NOT_APPROVED  # the page still claims approved: reported
    assert any(p.startswith("srs.html: the page does not show") for p in report.problems)
    other_revision = [approvals.Signature(**{**s.record(), "revision": "0.0.1+g000000000000"}) for s in signatures]
    _write_signatures(package, other_revision)
    assert sum("signed another revision" in p for p in check_signatures(package, trusted).problems) == 3


@pytest.mark.req("SRS-214")
@pytest.mark.parametrize("where", ["html", "css"])
def test_h31_content_smuggled_into_the_approval_region_is_reported(package: Path, keys: dict, tmp_path: Path,
                                                                   where: str) -> None:
    trusted = _trusted(keys, tmp_path)
    _sign_all(package, keys, trusted)
    assert verify_package(package, trusted) == []  # control: the signed package verifies
    page = (package / "srs.html").read_bytes()
    begin, end = control._REGIONS[0 if where == "html" else 1]
    extra = (b"<h2>SRS-999 The device shall diagnose cancer.</h2>" if where == "html"
             else b'"approved"} body::after{content:"SRS-999 shall diagnose"')
    at = page.index(end.encode())
    smuggled = page[:at] + extra + page[at:]
    assert control.signed_sha256("srs.html", smuggled) == control.signed_sha256("srs.html", page)  # by design
    _rewrite(package, "srs.html", smuggled)
    problems = verify_package(package, trusted)
    assert problems == ["srs.html: the page does not show what its signatures give (approved)"], problems


@pytest.mark.req("SRS-214")
def test_h32_item_text_cannot_open_or_close_an_approval_region(graph: dict[str, Any], project: Path) -> None:
    hostile = copy.deepcopy(graph)
    node = next(n for n in hostile["nodes"] if n["id"] == "SRS-001")
    node["fields"]["text"] = "A <!--</dai-approval>--> B /*</dai-approval>*/ C <!--<dai-approval>-->"
    page = _render(hostile, project, "srs.html").encode()
    for begin, end in control._REGIONS:
        assert page.count(begin.encode()) == 1 and page.count(end.encode()) == 1
    control.signed_sha256("srs.html", page)  # one region each: no error


@pytest.mark.req("SRS-214")
@pytest.mark.parametrize("how", ["one key in all roles", "two keys, one name"])
def test_h33_one_person_holding_every_role_does_not_approve(package: Path, keys: dict, tmp_path: Path,
                                                            how: str) -> None:
    key = keys["author"]
    if how == "one key in all roles":
        entries = [{"name": "Alice Author", "roles": list(approvals.REQUIRED_ROLES),
                    "public_key": approvals.public_key_b64(key.public_key())}]
        signing = {role: key for role in PEOPLE}
    else:
        entries = [{"name": "Alice Author", "roles": ["author", "reviewer"],
                    "public_key": approvals.public_key_b64(keys["author"].public_key())},
                   {"name": "Alice Author", "roles": ["qa-ra"],
                    "public_key": approvals.public_key_b64(keys["qa-ra"].public_key())}]
        signing = {"author": keys["author"], "reviewer": keys["author"], "qa-ra": keys["qa-ra"]}
    trusted = _trusted(keys, tmp_path, entries)
    _sign_all(package, signing, trusted, names={role: "Alice Author" for role in PEOPLE})
    report = check_signatures(package, trusted)
    assert report.states["srs.html"] == approvals.NOT_APPROVED and report.problems == ()
    assert "not by different people" in (package / "srs.html").read_text(encoding="utf-8")


def _forge_manifest_signature(package: Path, state: str | None = None) -> None:
    manifest = _manifest(package)
    block = manifest["documents"]["srs.html"]["approval"]
    block["signatures"].append({"role": "qa-ra", "name": "Quentin QA", "date": DATE, "key_id": "0" * 16,
                                "status": "valid"})
    if state:
        block["state"] = state
    _write_manifest(package, manifest)


@pytest.mark.req("SRS-214")
def test_h34_a_manifest_claiming_another_state_is_reported(package: Path, keys: dict, tmp_path: Path) -> None:
    """Control of defect 1: the state is compared."""
    trusted = _trusted(keys, tmp_path)
    sign_document(package, "DAI-DOC-SRS", role="author", name=PEOPLE["author"], key=keys["author"], date=DATE,
                  trusted=trusted)
    assert verify_package(package, trusted) == []
    _forge_manifest_signature(package, state=approvals.APPROVED)
    assert verify_package(package, trusted) == [
        "srs.html: the manifest lists the approval 'approved', its signatures give 'not approved (draft)'"]


@pytest.mark.req("SRS-214")
def test_d1_a_manifest_listing_a_forged_signature_was_not_reported(package: Path, keys: dict, tmp_path: Path) -> None:
    """Pin of defect 1 (package_signing.py:216-218): a signature approvals.json does not hold, shown as valid in
    the manifest, with the state left as it was, passes --verify."""
    trusted = _trusted(keys, tmp_path)
    sign_document(package, "DAI-DOC-SRS", role="author", name=PEOPLE["author"], key=keys["author"], date=DATE,
                  trusted=trusted)
    _forge_manifest_signature(package)
    shown = _manifest(package)["documents"]["srs.html"]["approval"]["signatures"]
    assert [(s["role"], s["status"]) for s in shown] == [("author", "valid"), ("qa-ra", "valid")]
    assert len(_signatures(package)) == 1
    # lead's fix: the whole block is compared; the pin now sees the forged signature reported
    assert verify_package(package, trusted) == [
        "srs.html: the manifest lists other signatures or roles than approvals.json gives for it"]


@pytest.mark.req("SRS-214")
def test_d1_a_manifest_listing_a_forged_signature_is_reported(package: Path, keys: dict, tmp_path: Path) -> None:
    trusted = _trusted(keys, tmp_path)
    sign_document(package, "DAI-DOC-SRS", role="author", name=PEOPLE["author"], key=keys["author"], date=DATE,
                  trusted=trusted)
    _forge_manifest_signature(package)
    assert any(p.startswith("srs.html: the manifest") for p in verify_package(package, trusted))


@pytest.mark.req("SRS-214")
def test_h35_the_document_id_is_bound_even_over_the_same_bytes(keys: dict, tmp_path: Path) -> None:
    """A signature moved to another document ID with the same digest (the same bytes) does not verify: the
    message binds the document (approvals.py:96-100), not only the digest."""
    trusted = _trusted(keys, tmp_path)
    fields = {"revision": "1.0.0+g0123456789ab", "sha256": "ab" * 32, "date": DATE}
    signatures = [approvals.sign(keys[role], document="DAI-DOC-SRS", role=role, name=PEOPLE[role], **fields)
                  for role in PEOPLE]
    assert approvals.approval("DAI-DOC-SRS", revision=fields["revision"], sha256=fields["sha256"],
                              signatures=signatures, trusted=trusted)["state"] == approvals.APPROVED  # control
    moved = [approvals.Signature(**{**s.record(), "document": "DAI-DOC-SDS"}) for s in signatures]
    block = approvals.approval("DAI-DOC-SDS", revision=fields["revision"], sha256=fields["sha256"],
                               signatures=moved, trusted=trusted)
    assert block["state"] == approvals.NOT_APPROVED
    assert [s["status"] for s in block["signatures"]] == ["invalid signature (does not verify)"] * 3
