"""The DICOM Conformance Statement (issue 15 item 6; SRS-140, SRS-141, SRS-142): generated from
the configuration and the code's own tables, checked against a running node (pynetdicom as the
peer), the audit code table and SEG/SR objects made by the writers; with negative controls (a
statement made from a doctored table fails the same checks) and the committed copy in docs/
checked against the generator."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from pydicom.uid import UID_dictionary

from device_ai.node import conformance, services
from device_ai.node.conformance import reference_settings, statement_text
from tests.node.conftest import SCU_AET, TIMEOUT, associate, context, events, series_slices, store_all

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "dicom-conformance-statement.md"
KNOWN_SOP_CLASSES = sorted(uid for uid, entry in UID_dictionary.items() if entry[1] == "SOP Class")
KNOWN_SYNTAXES = sorted(uid for uid, entry in UID_dictionary.items() if entry[1] == "Transfer Syntax")
_CELL = re.compile(r"(?<!\\)\|")


# --- reading the statement --------------------------------------------------------------------

def _unescape(cell: str) -> str:
    return re.sub(r"\\(.)", r"\1", cell.strip()).strip("`")


def table(text: str, caption: str) -> list[list[str]]:
    """The body rows of the Markdown table after the line starting with ``caption`` (or after
    the heading ``caption``), each as its unescaped cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(caption))
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("|"))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        rows.append([_unescape(cell) for cell in _CELL.split(line.strip())[1:-1]])
    return rows


def policy(text: str, name: str, caption: str = "##### 4.2.1.2") -> str:
    return next(row[1] for row in table(text, caption) if row[0] == name)


def listed_contexts(text: str) -> set[tuple[str, str]]:
    """(SOP class UID, transfer syntax UID) of Table 4.2-2, the acceptable presentation contexts."""
    return {(row[1], row[3]) for row in table(text, "Table 4.2-2.")}


# --- asking the running node ------------------------------------------------------------------

def negotiated(port: int) -> set[tuple[str, str]]:
    """Every (SOP class, transfer syntax) the node at ``port`` accepts, found by proposing every
    SOP class pydicom knows (each with every transfer syntax), then, for each accepted class,
    every transfer syntax alone."""
    accepted_classes: set[str] = set()
    for start in range(0, len(KNOWN_SOP_CLASSES), 120):  # a requestor proposes at most 128 contexts
        batch = KNOWN_SOP_CLASSES[start:start + 120]
        assoc = associate(port, contexts=[(uid, KNOWN_SYNTAXES) for uid in batch])
        if not assoc.is_established:  # accepted with no context: pynetdicom, as requestor, aborts it
            assert not assoc.is_rejected
            continue
        try:
            accepted_classes |= {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        finally:
            assoc.release()
    pairs = set()
    for sop_class in sorted(accepted_classes):
        for start in range(0, len(KNOWN_SYNTAXES), 120):
            assoc = associate(port, contexts=[(sop_class, [ts]) for ts in KNOWN_SYNTAXES[start:start + 120]])
            if not assoc.is_established:
                assert not assoc.is_rejected
                continue
            try:
                pairs |= {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
            finally:
                assoc.release()
    return pairs


def network_problems(text: str, probed: set[tuple[str, str]]) -> list[str]:
    """What the statement says about the SCP's contexts that the running node contradicts."""
    problems = []
    listed = listed_contexts(text)
    problems += [f"listed but not accepted: {pair}" for pair in sorted(listed - probed)]
    problems += [f"accepted but not listed: {pair}" for pair in sorted(probed - listed)]
    scp_classes = {row[1] for row in table(text, "##### 4.2.1.1")}
    if scp_classes != {sop for sop, _ in probed}:
        problems.append(f"SOP classes as SCP {sorted(scp_classes)} != accepted {sorted({s for s, _ in probed})}")
    overview_scp = {row[1] for row in table(text, "Table 1-1.") if row[1] and row[3] == "Yes"}
    if overview_scp != {sop for sop, _ in probed}:
        problems.append(f"overview SCP rows {sorted(overview_scp)} differ")
    return problems


def audit_problems(text: str) -> list[str]:
    """Differences between the statement's audit code tables and the audit code's own table."""
    from device_ai.audit import entry

    private = {(c.code, c.scheme, c.meaning) for c in entry.EVENTS.values() if c.scheme == "99DEVAI"}
    standard = {(c.code, c.scheme, c.meaning) for c in entry.EVENTS.values() if c.scheme != "99DEVAI"}
    listed_private = {tuple(row) for row in table(text, "Table 7.3-1.")}
    listed_standard = {tuple(row) for row in table(text, "`device-ai audit export")}
    problems = [f"private code {c} not in the code's table" for c in sorted(listed_private - private)]
    problems += [f"private code {c} missing from the statement" for c in sorted(private - listed_private)]
    problems += [f"DCM event {c} differs" for c in sorted(listed_standard ^ standard)]
    return problems


@pytest.fixture(scope="module")
def created():  # noqa: ANN201 - CreatedObjects, made once for the module (about 3 s)
    return conformance.create_sample_objects(reference_settings())


def _statement(settings=None, created=None, **kwargs) -> str:  # noqa: ANN001
    return statement_text(settings or context().settings, created=created, **kwargs)


# --- SRS-140: the networking sections are the running node's ---------------------------------

@pytest.mark.req("SRS-140")
def test_statement_lists_exactly_what_the_running_scp_negotiates(node, created) -> None:
    text = _statement(created=created)
    probed = negotiated(node.port)
    assert ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1") in probed  # the probe found the CT contexts
    assert network_problems(text, probed) == []
    # identification and limits as the node sends them in its A-ASSOCIATE-AC
    assoc = associate(node.port)
    assert assoc.is_established
    try:
        acceptor = assoc.acceptor
        assert policy(text, "Implementation Class UID") == str(acceptor.implementation_class_uid)
        assert policy(text, "Implementation Version Name") == acceptor.implementation_version_name
        assert policy(text, "Maximum PDU size received") == f"{acceptor.maximum_length} bytes"
    finally:
        assoc.release()
    assert policy(text, "Maximum number of simultaneous associations accepted") == str(
        node.settings.node_max_associations)


@pytest.mark.req("SRS-140")
def test_transfer_syntax_preference_is_the_listed_order(node, created) -> None:
    text = _statement(created=created)
    ct = [row[3] for row in table(text, "Table 4.2-2.") if row[1] == "1.2.840.10008.5.1.4.1.1.2"]
    for proposed in ([ct[-1], ct[1]], [ct[1], ct[-1]], list(reversed(ct))):
        assoc = associate(node.port, contexts=[("1.2.840.10008.5.1.4.1.1.2", proposed)])
        try:
            [accepted] = assoc.accepted_contexts
            assert accepted.transfer_syntax[0] == min(proposed, key=ct.index)
        finally:
            assoc.release()


@pytest.mark.req("SRS-140")
def test_negative_control_a_doctored_transfer_syntax_table_fails_the_check(node, created, monkeypatch) -> None:
    probed = negotiated(node.port)  # the node runs with the real table
    monkeypatch.setattr(services, "ACCEPTED_TRANSFER_SYNTAXES",
                        (*services.ACCEPTED_TRANSFER_SYNTAXES, "1.2.840.10008.1.2.4.50"))  # + JPEG Baseline
    doctored = _statement(created=created)
    monkeypatch.undo()
    assert any("1.2.840.10008.1.2.4.50" in p for p in network_problems(doctored, probed))
    monkeypatch.setattr(services, "ACCEPTED_SOP_CLASSES", ())  # a statement without CT Image Storage
    assert network_problems(_statement(created=created), probed) != []


@pytest.mark.req("SRS-140")
def test_rejections_and_statuses_are_those_the_server_gives(node, created) -> None:
    from device_ai.node import server

    text = _statement(created=created)
    rejections = {tuple(int(cell, 16) for cell in row[:3]): row[3] for row in table(text, "Table 4.2-1.")}
    assert rejections == server.REJECT_REASONS
    for calling, called in (("INTRUDER", "DEVICEAI"), (SCU_AET, "SOMEONEELSE")):
        refused = associate(node.port, calling=calling, called=called)
        assert refused.is_rejected
        primitive = refused.acceptor.primitive
        key = (primitive.result, primitive.result_source, primitive.diagnostic)
        assert key in rejections
    logged = {e["details"]["reason"] for e in events("DICOM Association") if e["details"]["result"] == "rejected"}
    assert logged <= set(rejections.values())
    # C-STORE statuses: those the server's code returns (every services.<status> it names), all listed
    tree = ast.parse(inspect.getsource(server))
    named = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and isinstance(n.value, ast.Name) and n.value.id == "services"}
    returned = {getattr(services, name) for name in named if isinstance(getattr(services, name), int)}
    listed = {int(row[0], 16) for row in table(text, "Table 4.2-3.")}
    assert returned == listed == set(services.STATUS_MEANINGS)
    assert store_all(node.port, series_slices(count=1)) == [0x0000]


@pytest.mark.req("SRS-140")
def test_a_change_in_configuration_changes_the_statement(created, tmp_path) -> None:
    from device_ai.config import Destination
    from device_ai.errors import ConfigError
    from tests.node.test_tls import _certificate

    base = statement_text(reference_settings(), created=created, reference=True)
    ca = _certificate(tmp_path, "ca", ca=True)
    _certificate(tmp_path, "server", ca)
    site = reference_settings(
        node_ae_title="HOSPAI", node_port=4242, node_bind_address="0.0.0.0", node_allowed_calling_aets=("PACS", "CT1"),
        node_max_associations=3, node_tls_cert_file=tmp_path / "server.pem", node_tls_key_file=tmp_path / "server.key",
        node_tls_ca_file=tmp_path / "ca.pem",
        node_destinations=(Destination(name="pacs", kind="dimse", ae_title="ORTHANC", host="10.0.0.5", port=4243,
                                       cleartext_reason="results VLAN 30, isolated, no route out"),
                           Destination(name="web", kind="stow", url="https://user:secret@pacs.example/dicom-web/studies")))
    text = statement_text(site, created=created)
    assert text != base
    assert ["Storage SCP AE (local)", "HOSPAI", "0.0.0.0", "4242"] in table(text, "#### 4.4.1")
    assert ["Storage SCP AE (local)", "DEVICEAI", "127.0.0.1", "11112"] in table(base, "#### 4.4.1")
    assert policy(text, "Maximum number of simultaneous associations accepted") == "3"
    assert "calling AE title is in the allow-list (`node_allowed_calling_aets`):\nCT1, PACS." in text
    assert "accepted over TLS only" in text and "TLS 1.2 or later" in text and "(mutual TLS)" in text
    assert "TLS is not configured" in base and "accepted over TLS only" not in base
    destinations = table(text, "Table 4.2-5.")
    assert ["pacs", "C-STORE (DIMSE)", "ORTHANC@10.0.0.5:4243", "30"] in destinations
    assert ["web", "STOW-RS (DICOMweb)", "https://pacs.example/dicom-web/studies", "30"] in destinations
    assert "secret" not in text
    settings_rows = {row[0]: row[1] for row in table(text, "Table 4.4-1.")}
    assert settings_rows["node_ae_title"] == "HOSPAI" and settings_rows["node_tls_ca_file"] == str(tmp_path / "ca.pem")
    # TLS files that do not load: no statement (it would describe a node that cannot start)
    (tmp_path / "server.key").write_text("not a key\n")
    with pytest.raises(ConfigError):
        statement_text(site, created=created)


# --- SRS-141: the audit codes are the code's ---------------------------------------------------

@pytest.mark.req("SRS-141")
def test_audit_code_tables_equal_the_code(created) -> None:
    from device_ai.audit import entry
    from device_ai.audit.export import atna_message, fhir_audit_event

    text = statement_text(reference_settings(), created=created, reference=True)
    assert audit_problems(text) == []
    private = table(text, "Table 7.3-1.")
    assert len(private) == len([c for c in entry.EVENTS.values() if c.scheme == "99DEVAI"]) >= 11
    assert {row[0] for row in private} >= {f"DAI{n:03d}" for n in range(1, 12)}
    assert {tuple(row) for row in table(text, "Event type codes:")} == {
        (c.code, c.scheme, c.meaning) for c in (entry.APPLICATION_START, entry.APPLICATION_STOP)}
    # the scheme as the exports write it, from a real entry of a private event
    record = {"seq": 0, "time_utc": "2026-01-01T00:00:00Z", "event": entry.SERIES_READY.model_dump(), "action": "E",
              "outcome": 0, "actor": {"user": "u", "process": "p", "host": "h"}, "objects": [], "details": {}}
    assert f'`codeSystemName="{entry.SERIES_READY.scheme}"`' in text
    assert f'codeSystemName="{entry.SERIES_READY.scheme}"' in atna_message(record)
    assert f"system `{fhir_audit_event(record)['type']['system']}`" in text


@pytest.mark.req("SRS-141")
def test_negative_control_a_doctored_audit_table_fails_the_check(created, monkeypatch) -> None:
    from device_ai.audit import entry

    fake = entry.Code(code="DAI099", scheme="99DEVAI", meaning="Not An Event")
    monkeypatch.setitem(entry.EVENTS, fake.code, fake)
    doctored = statement_text(reference_settings(), created=created)
    monkeypatch.undo()
    assert "DAI099" in doctored
    assert audit_problems(doctored) == ["private code ('DAI099', '99DEVAI', 'Not An Event') not in the code's table"]
    renamed = entry.Code(code="DAI004", scheme="99DEVAI", meaning="Analysis Performed")
    monkeypatch.setitem(entry.EVENTS, "DAI004", renamed)
    doctored = statement_text(reference_settings(), created=created)
    monkeypatch.undo()
    assert len(audit_problems(doctored)) == 2  # the renamed one listed, the real one missing


# --- SRS-142: the annexes are read from the writers; docs/ is the generator's output ----------

@pytest.mark.req("SRS-142")
def test_committed_statement_is_up_to_date() -> None:
    from device_ai.cli.conformance import commands

    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == statement_text(reference_settings(), hot_folder="watch" in commands(), reference=True), (
        f"regenerate: {conformance.REFERENCE_COMMAND}")
    assert "dicom-conformance-statement" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


@pytest.mark.req("SRS-142")
def test_annexes_describe_the_objects_the_writers_make(created) -> None:
    text = statement_text(reference_settings(), created=created, reference=True)
    for kind, title, obj in (("seg", "Segmentation", created.a.seg), ("sr", "Comprehensive 3D SR", created.a.sr)):
        attributes = table(text, f"Table 8.1-{3 if kind == 'seg' else 5}.")
        top = [row for row in attributes if not row[0].startswith(">")]
        assert [row[1] for row in top] == [f"({e.tag.group:04X},{e.tag.element:04X})" for e in obj], title
        assert all(row[3] != "not in this IOD" for row in attributes), title  # only attributes of the IOD
        modules = table(text, f"Table 8.1-{2 if kind == 'seg' else 4}.")
        assert all(row[3] == "Yes" for row in modules if row[2] == "M"), title  # every mandatory module present
    seg_rows = {row[0]: row[4] for row in table(text, "Table 8.1-3.")}
    assert seg_rows["Content Label"] == '"DEVICE_AI"' and seg_rows["Segmentation Type"] == '"BINARY"'
    assert seg_rows["Patient's Name"] == seg_rows["Study Instance UID"] == "same as the source images"
    assert seg_rows["Specific Character Set"] == "same as the source images"
    sr_rows = {row[0]: row[4] for row in table(text, "Table 8.1-5.")}
    assert (sr_rows["Completion Flag"], sr_rows["Verification Flag"], sr_rows["Preliminary Flag"]) == (
        '"COMPLETE"', '"UNVERIFIED"', '"PRELIMINARY"')
    assert sr_rows["SOP Instance UID"].startswith("UID created by the device")
    # every concept of the SR's content tree and every code of both objects is in the annex
    outline = text.split("#### 8.1.4", 1)[1].split("### 8.2", 1)[0]
    codes = {(row[0], row[1]) for row in table(text, "Table 8.3-1.")}

    def visit(ds) -> None:  # noqa: ANN001
        for item in ds.get("ContentSequence", []):
            name = item.ConceptNameCodeSequence[0]
            assert f"{name.CodeMeaning} ({name.CodingSchemeDesignator} {name.CodeValue})" in _unescape(outline)
            visit(item)
        if "CodeValue" in ds:
            assert (str(ds.CodingSchemeDesignator), str(ds.CodeValue)) in codes
        for element in ds:
            if element.VR == "SQ":
                for item in element.value:
                    visit(item)

    visit(created.a.sr)
    visit(created.a.seg)
    assert "DCMR TID 1500" in text and "The created objects hold no private attributes." in text


@pytest.mark.req("SRS-142")
def test_negative_control_a_doctored_writer_changes_the_annex(monkeypatch) -> None:
    from device_ai.dicom import seg

    monkeypatch.setattr(seg, "CONTENT_LABEL", "DOCTORED")
    doctored = statement_text(reference_settings(), reference=True)  # objects made again, by the doctored writer
    assert '| Content Label | (0070,0080) | CS | Segmentation Image | \\"DOCTORED" |' in doctored
    assert doctored != COMMITTED.read_text(encoding="utf-8")  # the up-to-date test would fail


@pytest.mark.req("SRS-140", "SRS-142")
def test_cli_writes_the_statement_of_the_effective_configuration(tmp_path, monkeypatch, capsys) -> None:
    from device_ai.cli import main

    config = tmp_path / "node.yaml"
    config.write_text("node_ae_title: YAMLAE\nnode_port: 5105\n", encoding="utf-8")
    monkeypatch.setenv("DEVICE_AI_NODE_PORT", "5106")  # the environment wins over the file
    assert main(["conformance", "--config", str(config), "--out", str(tmp_path / "dcs.html")]) == 0
    assert "(html, effective configuration)" in capsys.readouterr().out
    page = (tmp_path / "dcs.html").read_text(encoding="utf-8")
    assert "<td>YAMLAE</td>" in page and "<td>5106</td>" in page and "<table>" in page
    assert '<meta name="generator" content="device-ai conformance' in page
    assert main(["conformance", "--reference", "--config", str(config)]) == 0
    reference = capsys.readouterr().out
    assert reference == COMMITTED.read_text(encoding="utf-8")  # no file, no environment
    with pytest.raises(SystemExit):  # argparse refuses an unknown format
        main(["conformance", "--format", "pdf"])


@pytest.mark.req("SRS-142")
def test_no_statement_when_the_sample_objects_cannot_be_made(monkeypatch, capsys) -> None:
    from device_ai.cli import main
    from device_ai.dicom import series
    from device_ai.errors import ContractViolation

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a model whose contract refuses the phantoms
        raise ContractViolation("Rows is 256; this model accepts 512 only")

    monkeypatch.setattr(series, "load_series", refuse)
    assert main(["conformance", "--reference"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error DAI-730: the sample objects of the annexes could not be made")


@pytest.mark.req("SRS-142")
@pytest.mark.filterwarnings("ignore:Failed to encode value")  # pydicom writing ASCII under ISO 2022 IR 87 alone
def test_character_sets_listed_are_what_the_analysis_accepts(created, released_engine, tmp_path) -> None:
    from device_ai.dicom.contract import InputContract
    from device_ai.dicom.series import load_series
    from device_ai.errors import ContractViolation
    from device_ai.inference.analyze import analyze, preflight_outputs
    from tests.dicom.synthetic import ct_slice, phantom_hu, write

    text = statement_text(reference_settings(), created=created, reference=True)
    section = _unescape(text.split("## 6 Support of Character Sets", 1)[1].split("## 7", 1)[0])
    single, extensions, refused = (re.search(rf"{label}\n(.*?)[.;]\n", section, re.S)[1].split(", ")
                                   for label in ("single values:", "ISO 2022 IR 6:", "no result:"))
    assert "ISO_IR 192" in single and "ISO 2022 IR 87" in refused and "ISO 2022 IR 87" in extensions
    contract = InputContract.model_validate(released_engine.manifest.input_contract)
    hu = phantom_hu(2)
    for value, expected in (("ISO_IR 192", True), ("ISO 2022 IR 87", False), (["ISO 2022 IR 6", "ISO 2022 IR 87"], True),
                            ("ISO_IR 6", False)):
        folder = tmp_path / re.sub(r"\W", "_", str(value))
        folder.mkdir()
        paths = []
        for index in range(2):
            ds = ct_slice(index, hu, series=str(value))
            ds.SpecificCharacterSet = value
            paths.append(write(ds, folder / f"{index}.dcm"))
        if expected:  # what the real analysis checks before inference
            preflight_outputs(released_engine, load_series(paths, contract))
        else:
            with pytest.raises(ContractViolation):
                analyze(folder, tmp_path / f"out-{folder.name}", released_engine)  # refused before inference
