"""Independent review 134 (reviewer helper-134) of the cybersecurity file, part 1 (issue 19), at 4b201a3: every
ASSET-* (10), the IF-* not yet independently reviewed (13), every SUC-* (7) and THR-001, 002, 005, 006, 008, 009,
012, 013, 016, 017, 018, 019, 020, 021, 022. helper-134 wrote none of these items, their controls or their tests.
Read: security/plan.yaml (scales, matrix), assets/interfaces/use_cases/threats.yaml, the RC-* and SRS-* the threats
name (all approved) and their verifying tests (grep ``req("SRS-``), and the code each claim points at: config.py,
cleartext.py, node/server.py, node/outbound.py, node/trail.py, node/hot_folder.py, node/runtime.py, atomic_io.py,
dicom/deidentify/run.py, burned_in.py, keyed.py, dates.py, model/twin.py, app/explanation.py,
model/dinov2/checkpoint.py, pynetdicom 3.0.4 transport.py. Scratch probes (not kept) under /tmp/h134. Line numbers:
4b201a3's.

ASSETS (assets.yaml)
  HOLDS: ASSET-PATIENT-DATA, ASSET-RESULTS, ASSET-DEID-DATA, ASSET-MODEL, ASSET-KEYS, ASSET-AUDIT, ASSET-CONFIG,
    ASSET-SERVICE, ASSET-HOST (each objective is assessed by a threat of that STRIDE class; N1).
  DEFECT A1 ASSET-SOFTWARE (assets.yaml:39-43): no interface and no threat names it (only plan.yaml update paths,
    :92, :101), so its one objective, integrity, is assessed nowhere - though plan.yaml:96 and :105 record an
    unsigned wheel and a runtime closure not pinned by hashes. A supply-chain / installed-package tampering threat
    is missing (test_a1).

INTERFACES (interfaces.yaml): every module named exists under src/.
  HOLDS: IF-CLI-INPUT, IF-HOT-FOLDER, IF-DICOM-SCP (127.0.0.1 default, TLS 1.2 minimum, CERT_REQUIRED with the CA:
    server.py:88-104), IF-STOW-RS (Authorization by add_unredirected_header, outbound.py:374-375), IF-EXPLAIN-OUT
    (the twin is built from the verified package bytes, twin.py:16-21), IF-DEID-OUT, IF-MODEL-PACKAGE, IF-AUDIT-LOG,
    IF-CONFIG, IF-OPERATOR-CONSOLE, IF-NODE-SPOOL, IF-TRAINING-INPUT (N2).
  DEFECT I1 IF-DICOM-SCU (interfaces.yaml:47-48, 51): "without TLS as deployed (TLS with a destination's transport
    security, SRS-216, is not yet configurable)" and "authentication: none of the destination by the device" are
    untrue since SRS-216 (approved): Destination.transport (config.py:91) takes tls, ca_bundle, client
    certificate/key, and a dimse destination with transport tls sends over verified TLS (THR-010/011 say so);
    IF-STOW-RS already says it (test_i1).
  Missing interfaces: none of the site's workflows; N3 lists inputs the file does not name.

SECURITY USE CASES (use_cases.yaml)
  HOLDS: SUC-002, SUC-004, SUC-005, SUC-006, SUC-007.
  DEFECT U1 SUC-001 (use_cases.yaml:5-12) and DEFECT U2 SUC-003 (:20-26): the node's workflows omit IF-KEY-STORE,
    which SUC-002 lists for the same reason: NodeRuntime.open (runtime.py:65-66) creates/reads the site's pseudonym
    key and opens the audit log with the checkpoint key; serve also reads the node's TLS key files. The security
    architecture view of these workflows therefore hides THR-028..030 (test_u1). SUC-001 also omits IF-RESULT-FILES
    for folder destinations (N4).

THREATS
  HOLDS: THR-001 (E2 is conservative: what remains is E1's "new defect" wording; I2 x E2 acceptable), THR-002 (E3
    kept, ALARA stated), THR-009 (N5), THR-017 (staged_directory fails closed on a link made after the check:
    atomic_io.py:213-217 rmdir/replace of a link raise; mkdtemp), THR-019, THR-020, THR-021 (N6).
  DEFECT T1 THR-005 (threats.yaml:87-101), behavioural: candidates() stops after MAX_FILES_PER_PASS (10,000) files
    in name order and counts files that have not settled (hot_folder.py:286-290); an account that may write IN
    (E3 on the plan's scale: "write access to a folder the device reads") keeps 10,000 files changing (or growing)
    under names that sort first, and no other file is ever looked at - "flooded or blocked with files that never
    complete" is exactly the title, and none of SRS-136/139/110, RC-003 stops it. Residual E2 is not justified
    (E3; I2 x E3 is still acceptable, so only the rating and rationale are wrong). Pin test_t1_pin (cap 3),
    control in it (2 flooding files: the real file is refused), strict xfail test_t1_xfail.
  DEFECT T2 THR-006 (threats.yaml:113-118), rating: residual E3 rests on the 127.0.0.1 default, which a node that
    receives from modalities (SUC-001) cannot keep. On a network address with TLS but without node_tls_ca_file -
    accepted with no stated reason (cleartext.py:84-85) - the attacker is "anyone who can ... reach its ports on
    the hospital network, without credentials" (E4; AE titles "are not secrets", interfaces.yaml:38), not a host
    "between the device and its peers" (E3). I3 x E4 is unacceptable on the matrix; the rationale calls the
    network case ALARA. Rate the residual for the configured node, or state it for loopback only as THR-007 does
    (test_t2).
  DEFECT T3 THR-008 (threats.yaml:152-154), behavioural: "silent ones end after node_idle_timeout_s" is untrue
    before an association exists. (a) With TLS, pynetdicom's AssociationServer.get_request does the TLS handshake
    in the accepting thread without a timeout (pynetdicom/transport.py:967-971): one TCP connection that sends
    nothing stops every further handshake until it closes - no certificate, AE title or slot needed; measured with
    node_idle_timeout_s=0.5: handshakes time out for as long as it stays open, succeed before and after
    (test_t3_pin, strict xfail test_t3_xfail). (b) Without TLS, a TCP connection that sends nothing takes an
    association slot until the idle timeout (node_max_associations=1: a real peer is rejected), with no AE title
    needed, and reconnecting renews it (test_t3_pin). The rationale's attacker is "a peer that holds every slot";
    in fact anyone who reaches the port (E4 when listening on the network; I3 x E4 unacceptable).
  DEFECT T4 THR-012 (threats.yaml:224-226), behavioural: "Every send attempt ... is an audit entry" is untrue when
    the entry cannot be written: _attempt sends first and records after (outbound.py:191-205); if result_sent
    raises (disk full, log not writable - THR-032's causes), the entry stays pending with its due time unchanged
    and the next pass (0.2 s) sends again: 3 passes, 3 sends, no entry (test_t4_pin; control: a working trail gets
    one entry per send). Residual E1 is not justified (I2: acceptable at any level up to E3). Strict xfail
    test_t4_xfail: at most one send while the trail cannot be written.
  DEFECT T5 THR-013 (threats.yaml:237-242), rating: the password lives in the configuration file, and a file
    every account can read is accepted (config.py:383-394: only write bits and owner are checked; SRS-218's
    acceptance reads 0644). "Written nowhere under DEVICE_AI_HOME nor printed" is true, but another account reading
    a 0644 configuration file is E3 on the plan's scale; I3 x E3 is ALARA, not the acceptable I3 x E2 the rating
    gives (test_t5; control: the password is masked by config show and a group-writable file is refused).
  DEFECT T6 THR-016 (threats.yaml:304-306), text: "an input's preamble is never copied" is untrue. anonymize copies
    quarantined originals byte for byte, preamble included (run.py:1043-1046; 0600 files in a folder made with the
    umask), and watch moves a refused file, its bytes and its name, into the rejected folder, by default OUT/rejected
    (hot_folder.py:389-411; the authors' test_junk_is_rejected... asserts "the file as dropped"), where readers of
    OUT find it with the umask's modes - an IN writer (E3) can place "setup.exe" in OUT. I4 x E3 is unacceptable by
    the threat's own impact; the residual E1 holds only for files the device writes (test_t6_quarantine,
    test_t6_relay; control: the de-identified output of the same polyglot has a zero preamble).
  DEFECT T7 THR-018 (threats.yaml:333-339), rating and text: the rationale itself says the node's OUT and folder
    destinations keep the umask's modes - 0644 under the usual umask 022 (outbound.py:279-282), readable by every
    account: E3 for the node's results (THR-015 applies the same umask logic and says so), I4 x E3 unacceptable, not
    I4 x E2 ALARA. "SRS-217 is draft ... stays open until it is approved" (:338-339) is stale: SRS-217 is approved
    (test_t7).
  DEFECT T8 THR-022 (threats.yaml:392-400), rating: the attack has two halves; the rationale answers only the
    first ("nothing can be recomputed without the key"). The second - matching shifted dates and intervals against
    other data - needs no key: RC-025 keeps every interval of a patient and the time of day (keyed.py:9-12,
    dates.py:3-5), the whole shift lies in 1..10 years (keyed.py:29-30). A recipient holding other data with a
    patient's visit pattern links them with public techniques (E3): I4 x E3 unacceptable; E1 is not justified for
    that half (test_t8; control: a different secret gives another offset, the half that holds).

Lead, 2026-12-07 (not re-reviewed): I1 fixed (IF-DICOM-SCU's channel and authentication state SRS-216's TLS and
SRS-226's rule), U1/U2 fixed (SUC-001 and SUC-003 list IF-KEY-STORE; SUC-001 also IF-RESULT-FILES, N4), T8 fixed
as text (THR-022's rationale: the residual is rated for the shipped Basic Profile, which removes dates; the dates
options keep intervals by design, E3 at I4, the data release's choice; a new IFU precaution says so); plan.yaml's
configuration update path names SRS-218. test_i1, test_u1 and test_t8 assert the fixed texts.

helper-136, 2026-12-07 (fixer, not re-reviewed): T1, T3 and T4 fixed; their pins are inverted and their strict
xfails are plain tests. T1: once a pass reaches MAX_FILES_PER_PASS, IN is looked at in turns (hot_folder.py: each
turn the next MAX_FILES_PER_PASS files after where the last one ended, wrapping round, for one settle interval), so
files that never settle delay the others by one turn each and hide none; a file seen changing for
max(60 s, 12 settle intervals) is left in IN and reported once (log warning, audit entry "Hot Folder Files Not
Settling", DAI019, no file name; at most one per that interval). Control: with the scan always starting at IN's
start (the old order) the settled file is never looked at. T3: node/accepted_connections.py: the server's
SSLContext defers the handshake to the association's thread (wrap_socket with do_handshake_on_connect=False on the
server side) and an EVT_CONN_OPEN handler gives every accepted socket node_idle_timeout_s as its timeout (a
handshake or PDU that stalls ends the connection); control: with a plain ssl.SSLContext the silent connection
still stops handshakes. A connection that sends nothing still holds a slot until the ACSE timeout,
min(30 s, node_idle_timeout_s), TLS or not (pinned below; THR-008 says so). T4: outbound.py writes a "Result Send
Started" entry (DAI018) before each attempt; if it cannot be written nothing is sent, the entry stays pending and
the queue raises SendsHeld (DAI-700) until the trail works; if the outcome's entry cannot be written the queue
still records the outcome in sent/, pending/ or dead/ (a stored result is not sent again) and holds the same way.

helper-137, 2026-12-07 (fixer, not re-reviewed): T5, T6 and T7 fixed; their tests are inverted, each with its
control. T5: config.load_settings refuses a configuration file that holds a secret (a destination url's user name,
password or query value, what config show masks) when its group or other accounts can read it, naming the file, the
destination, the mode and chmod 600 (new draft SRS-231; THR-013's rationale says why E2 now holds); the same file at
0600 loads, a 0644 file without a secret loads. T6: anonymize's quarantine folders are created 0700 (its copies and
index were 0600 already) and watch's rejected folder and the folders below it 0700, its reason files 0600 and the
moved files this account owns 0600, whatever the umask; an existing rejected folder open to group or others is
refused at start (SRS-077 and RC-028 now say that refused inputs are kept as they came, owner-only, and go back to
draft; THR-016's rationale). T7: the node's folder destinations and watch's OUT are written with the results' modes
(outbound.write_to_folder takes result_access(results_group_readable); make_dirs_durably sets the fixed mode after
mkdir, so 0750 holds under umask 077), OUT with the results' folder mode when watch creates it; SRS-217's text and
acceptance cover the node (back to draft), THR-018's rationale no longer says the node keeps umask modes.

helper-139, 2026-12-07 (fixer, not re-reviewed): T2 and A1 fixed; their tests are inverted, each with its
control. T2: serve refuses to start on an address other than loopback unless every peer must present a certificate
of node_tls_ca_file's CA (mutual TLS) or node_unauthenticated_peers_reason states why peers known only by their AE
title are acceptable there (new draft SRS-229, device_ai/peer_authentication.py; checked like a cleartext reason,
in the start's audit entry and banner, config show's transport.peers); clear text on the network needs both
reasons. THR-006 is rated for the device as shipped without that reason (E3 on loopback, E2 with mutual TLS; E4 on
a network where a site states one, which the IFU says it accepts). A1: IF-INSTALLED-SOFTWARE and THR-046 (I4,
tampering of ASSET-SOFTWARE; E3 -> E2, ALARA) with a new command, device-ai self-check (new draft SRS-230,
device_ai/installed_software.py): the SHA-256 of every file of device-ai and its runtime closure against each
RECORD, each altered, missing or unreadable file and each file or folder other accounts could write reported by
distribution and path, exit 14 (DAI-330) unless all match; an editable install is reported as not verifiable.
RECORD is not signed, so it finds accidental change, not a deliberate one by an account that can write the
environment (THR-046 and SRS-230 say so). The seven SUC-* list the new interface; two IFU precautions.

Notes (no defect):
N1 ASSET-KEYS' description omits the batch TLS key (batch_tls_key_file), the model-signing private key of model
   keygen and the backup passphrase files, all of which IF-KEY-STORE/IF-BATCH-SCHEDULER handle.
N2 IF-TRAINING-INPUT "the checkpoint's SHA-256 pinned": pinned by the operator per run (--backbone-sha256), not in
   code (checkpoint.py:24 pins none); the file is hashed, then opened again to load (checkpoint.py:56, 63), a
   swap between the two is loaded (weights_only=True limits it to tensors).
N3 Inputs no interface names: anonymize --pixel-rules FILE (JSON deciding which pixels are blanked); the
   manufacturer's commands in the installed package (trace, report, review sign with a document-signing key,
   conformance, train) - the plan's scope could say they are out of the site's threat model.
N4 SUC-001 says results go "by C-STORE or STOW-RS"; folder destinations (IF-RESULT-FILES) are also the node's.
N5 THR-009: the entries record calling AE and peer address, but without mutual TLS the AE is not authenticated,
   so a sender can still deny *that it was the sender* (THR-006's spoofing); the record itself needs E2 to remove.
N6 THR-021: burned-in text is found from header flags only (burned_in.py:28-55); a CT or MR image with text in its
   pixels and no Burned In Annotation passes by design (PS3.15's own approach), not by "a defect that both the
   engine and the self-check miss".
N7 A polyglot accepted by watch (a valid CT) goes into the owner-only spool with its preamble (not an output).

Records: `device-ai trace review ID --by "helper-134 (independent review 134)" --independent` for each HOLDS item
above (9 assets, 12 interfaces, 5 use cases, 7 threats); none for ASSET-SOFTWARE, IF-DICOM-SCU, SUC-001, SUC-003,
THR-005, THR-006, THR-008, THR-012, THR-013, THR-016, THR-018, THR-022.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest
import yaml

from tests import fast_yaml
from tests.node.conftest import associate, context, node_env, wait_for
from tests.node.test_hot_folder import drop, hot_folder, settle  # noqa: F401 - hot_folder: the fixture

ROOT = Path(__file__).resolve().parents[2]


def _items(name: str, key: str) -> dict[str, dict]:
    return {item["id"]: item for item in fast_yaml.safe_load((ROOT / "security" / name).read_text())[key]}


def _flat(text: str) -> str:
    return " ".join(text.split())


# === assets, interfaces, use cases ===========================================================================

@pytest.mark.req("SRS-194", "SRS-230")
def test_a1_pin_inverted_asset_software_is_assessed_by_a_threat_on_an_interface_with_a_control(
        tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from device_ai.installed_software import ALTERED, check_installed
    from tests.test_installed_software import _distribution

    assets = _items("assets.yaml", "assets")
    threats = _items("threats.yaml", "threats")
    interfaces = _items("interfaces.yaml", "interfaces")
    named = {a for t in threats.values() for a in t["assets"]} | {a for i in interfaces.values() for a in i["assets"]}
    assert set(assets) - named == set()  # helper-139's fix: ASSET-SOFTWARE too
    threat = threats["THR-046"]
    assert (threat["interface"], threat["stride"], threat["assets"]) == ("IF-INSTALLED-SOFTWARE", "tampering",
                                                                        ["ASSET-SOFTWARE"])
    assert threat["controls"] == ["SRS-230"] and "RECORD is not signed" in _flat(threat["rationale"])
    cases = _items("use_cases.yaml", "security_use_cases")
    assert all("IF-INSTALLED-SOFTWARE" in case["interfaces"] for case in cases.values())
    # the control: a fake installed distribution whose file is edited after installation is reported
    monkeypatch.syspath_prepend(str(tmp_path))
    _distribution(tmp_path, "fake-review-134-a1", {"fake_review_134_a1/__init__.py": b"LIMIT = 5\n"})
    assert check_installed("fake-review-134-a1").ok  # control: as installed
    (tmp_path / "fake_review_134_a1" / "__init__.py").write_bytes(b"LIMIT = 50\n")
    [finding] = check_installed("fake-review-134-a1").findings
    assert (finding.path, finding.state) == ("fake_review_134_a1/__init__.py", ALTERED)
    plan = _flat((ROOT / "security" / "plan.yaml").read_text())  # what remains: an unsigned wheel and RECORD
    assert "the wheel itself is not code-signed yet" in plan and "not yet pinned by a hash-locked file" in plan


@pytest.mark.req("SRS-216", "SRS-226")
def test_i1_a_dimse_destination_can_be_configured_with_tls() -> None:
    from pydantic import ValidationError

    from device_ai.config import Destination

    scu = _items("interfaces.yaml", "interfaces")["IF-DICOM-SCU"]
    # lead's fix: the interface says TLS is configurable and what it authenticates
    assert "is not yet configurable" not in _flat(scu["channel"]) and "SRS-216" in _flat(scu["channel"])
    assert "certificate is verified" in _flat(scu["authentication"])
    tls = Destination(name="pacs", kind="dimse", ae_title="PACS", host="10.0.0.5", port=104,
                      transport={"tls": True, "check_hostname": True})
    assert tls.transport.tls and tls.cleartext_host() is None  # configurable, and sent encrypted
    with pytest.raises(ValidationError, match="in clear"):  # control: the same destination without tls is refused
        Destination(name="pacs", kind="dimse", ae_title="PACS", host="10.0.0.5", port=104)


@pytest.mark.req("SRS-194", "SRS-098")
def test_u1_the_node_workflows_list_the_key_store_they_use() -> None:
    cases = _items("use_cases.yaml", "security_use_cases")
    assert "IF-KEY-STORE" in cases["SUC-002"]["interfaces"]  # control: analyze's workflow lists it
    # lead's fix: the node's workflows list it too (and SUC-001 its folder destinations, N4)
    assert "IF-KEY-STORE" in cases["SUC-001"]["interfaces"] and "IF-KEY-STORE" in cases["SUC-003"]["interfaces"]
    assert "IF-RESULT-FILES" in cases["SUC-001"]["interfaces"]
    runtime = (ROOT / "src/device_ai/node/runtime.py").read_text()
    assert 'pseudonym("series", "0")' in runtime and "open_audit_log()" in runtime  # the node uses both keys


# === THR-005: never-settling files hide the rest of IN ========================================================

def _flood(folder, monkeypatch: pytest.MonkeyPatch, flooding: int, passes: int = 4) -> Path:  # noqa: ANN001
    """IN holds ``flooding`` files that change before every pass (names sorting first) and one junk file that
    never changes; ``passes`` passes, each a settle interval apart. Returns the junk file's path in IN."""
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)
    for n in range(flooding):
        drop(b"growing", folder.inbox / f"a{n}.dcm")
    real = drop(b"not DICOM, refused once looked at\n", folder.inbox / "z.txt")
    for step in range(passes):
        for n in range(flooding):
            with open(folder.inbox / f"a{n}.dcm", "ab") as handle:
                handle.write(b".")  # still being written
        folder.scan_once(now=step * folder.settle_s)
    return real


@pytest.mark.req("SRS-136", "SRS-139")
@pytest.mark.parametrize("order", ["in turns (the fix)", "always from IN's start (control: the old order)"])
def test_t1_pin_inverted_files_that_never_settle_no_longer_keep_the_other_files_from_being_looked_at(
        hot_folder, monkeypatch, order) -> None:  # noqa: ANN001
    folder = hot_folder(settle_s=1.0)
    if order.startswith("always"):
        from device_ai.node.hot_folder import HotFolder  # helper-145: turns by name only (was candidates(after=))

        monkeypatch.setattr(HotFolder, "queued_since", lambda self, path: 0.0)  # every turn starts at IN's start
    real = _flood(folder, monkeypatch, flooding=7, passes=8)  # more than twice the cap: three turns
    if order.startswith("always"):
        assert real.exists() and not (folder.rejected / "z.txt").exists()
    else:
        assert not real.exists() and (folder.rejected / "z.txt").exists()


@pytest.mark.req("SRS-136")
def test_t1_control_below_the_cap_the_other_files_go_on(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    folder = hot_folder(settle_s=1.0)
    real = _flood(folder, monkeypatch, flooding=2)
    assert not real.exists() and (folder.rejected / "z.txt").exists()


@pytest.mark.req("SRS-136")
def test_t1_files_that_never_settle_do_not_hide_a_settled_file(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    folder = hot_folder(settle_s=1.0)
    real = _flood(folder, monkeypatch, flooding=3)
    assert not real.exists() and (folder.rejected / "z.txt").exists()


# === THR-006: a network listener without client authentication needs no stated reason ======================

@pytest.mark.req("SRS-229", "SRS-226", "SRS-099")
def test_t2_pin_inverted_tls_without_a_ca_needs_a_statement_to_listen_on_the_network() -> None:
    from device_ai import cleartext
    from device_ai.errors import ConfigError
    from device_ai.peer_authentication import check_peers

    assert cleartext.check_listener("0.0.0.0", tls=True, reason=None) is None  # clear text: not the question
    with pytest.raises(ConfigError, match="does not authenticate its peers") as refused:  # helper-139's fix
        check_peers("0.0.0.0", 11112, tls=True, client_certificates=False, reason=None)
    assert "node_unauthenticated_peers_reason" in refused.value.hint and "node_tls_ca_file" in refused.value.hint
    assert check_peers("0.0.0.0", 11112, tls=True, client_certificates=True, reason=None) is None  # control: mTLS
    assert check_peers("127.0.0.1", 11112, tls=False, client_certificates=False, reason=None) is None  # loopback
    threat = _items("threats.yaml", "threats")["THR-006"]
    rationale = _flat(threat["rationale"])
    assert "spoofed by a host on the network, so the residual is ALARA" not in rationale
    assert "SRS-229" in threat["controls"] and "as shipped" in rationale and "helper-139" in rationale


# === THR-008: connections that never associate =============================================================

def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "client", ca)
    return folder


def _handshake(port: int, pki: Path, timeout: float) -> bool:
    from tests.node.test_tls import _client

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
                _client(pki, certificate=True).wrap_socket(raw, server_hostname="127.0.0.1"):
            return True
    except OSError:  # TimeoutError, SSLError
        return False


def _tls_node(monkeypatch: pytest.MonkeyPatch, pki: Path):  # noqa: ANN202 - NodeServer
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "server.key",
             node_tls_ca_file=pki / "ca.pem", node_idle_timeout_s=0.3)
    server = NodeServer(context())
    server.port = server.start()[1]
    return server


@pytest.mark.req("SRS-092", "SRS-099")
@pytest.mark.parametrize("context", ["deferred handshake (the fix)", "plain SSLContext (control: the old one)"])
def test_t3_pin_inverted_a_silent_connection_no_longer_stops_tls_handshakes(monkeypatch, tmp_path, context) -> None:  # noqa: ANN001
    import ssl

    from device_ai.node import server as module

    if context.startswith("plain"):
        monkeypatch.setattr(module, "DeferredHandshakeContext", ssl.SSLContext)
    server = _tls_node(monkeypatch, _pki(tmp_path))
    try:
        assert _handshake(server.port, tmp_path, 2.0)  # the node answers
        silent = socket.create_connection(("127.0.0.1", server.port))
        try:
            time.sleep(0.6)  # twice node_idle_timeout_s
            assert _handshake(server.port, tmp_path, 0.6) is context.startswith("deferred")
        finally:
            silent.close()
    finally:
        server.stop()


@pytest.mark.req("SRS-092", "SRS-099")
def test_t3_a_plain_silent_connection_holds_a_slot_until_the_acse_timeout(monkeypatch) -> None:  # noqa: ANN001
    """Unchanged by the fix, and what THR-008 now says: no AE title is needed to hold a slot until
    min(30 s, node_idle_timeout_s); reconnecting renews it."""
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, node_max_associations=1, node_idle_timeout_s=1)
    plain = NodeServer(context())
    plain.port = plain.start()[1]
    try:
        assert plain._ae.acse_timeout == 1
        with socket.create_connection(("127.0.0.1", plain.port)):  # no A-ASSOCIATE-RQ, no AE title
            time.sleep(0.2)
            assert associate(plain.port).is_rejected  # the allowed peer is kept out
        wait_for(lambda: not plain._ae.active_associations, timeout=5)  # the slot is held until the ACSE timeout
        first = associate(plain.port)  # control: then the allowed peer gets it
        assert first.is_established
        first.release()
    finally:
        plain.stop()


@pytest.mark.req("SRS-092", "SRS-099")
def test_t3_a_silent_connection_does_not_keep_tls_peers_out_past_the_idle_timeout(
        monkeypatch, tmp_path) -> None:  # noqa: ANN001
    server = _tls_node(monkeypatch, _pki(tmp_path))
    silent = socket.create_connection(("127.0.0.1", server.port))
    try:
        time.sleep(0.6)  # twice node_idle_timeout_s
        assert _handshake(server.port, tmp_path, 0.6)
    finally:
        silent.close()
        server.stop()


# === THR-012: sends made while the trail cannot be written ==================================================

class _Trail:
    """A trail whose methods named in ``failing`` raise as a full disk does; ``entries`` the others wrote."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.failing, self.entries = failing, []

    def _write(self, name: str) -> None:
        if name in self.failing:
            raise OSError(28, "No space left on device")
        self.entries.append(name)

    def result_sending(self, *args: object, **kwargs: object) -> None:
        self._write("start")

    def result_sent(self, *args: object, **kwargs: object) -> None:
        self._write("outcome")

    def result_dead_lettered(self, *args: object, **kwargs: object) -> None:
        self._write("dead")


def _sends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
           failing: tuple[str, ...] = ()) -> tuple[list[str], list[str], int]:
    """Three passes of the outbound queue over one pending result: (what was sent and written, in order: "send"
    and the trail's entries; the entries written; results recorded in sent/)."""
    from device_ai.config import Destination, Settings
    from device_ai.node import outbound
    from device_ai.node.outbound import Outbound, ResultFile, SendsHeld

    (tmp_path / "share").mkdir(parents=True)
    settings = Settings(node_destinations=[Destination(name="share", kind="folder", path=tmp_path / "share")])
    result = tmp_path / "node" / "work" / "segmentation.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"result")
    trail = _Trail(failing)
    monkeypatch.setattr(outbound, "send", lambda dest, *args, **kwargs: trail.entries.append("send") or "stored")
    queue = Outbound(tmp_path / "node", settings, trail=trail)
    queue.enqueue("k", study="s", series="r", generation=1, files=[ResultFile("seg", result, "1.2", "2.25.1")])
    for _ in range(3):
        try:
            queue.send_due()
        except SendsHeld as exc:  # Outbound.run logs it once and polls again 0.2 s later
            assert exc.code == "DAI-700" and "not sent until it can" in exc.message
    return trail.entries, [e for e in trail.entries if e != "send"], len(queue.pending("share"))


@pytest.mark.req("SRS-132")
def test_t4_pin_inverted_nothing_is_sent_while_the_start_of_a_send_cannot_be_written(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    order, entries, pending = _sends(tmp_path / "failing", monkeypatch, failing=("start", "outcome"))
    assert order == [] and pending == 1  # no send, no entry; the result stays queued
    order, entries, pending = _sends(tmp_path / "working", monkeypatch)
    assert order == ["start", "send", "outcome"] and pending == 0  # control: each send between its two entries


@pytest.mark.req("SRS-132")
def test_t4_an_outcome_that_cannot_be_written_stops_the_sends_and_is_not_sent_again(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    order, entries, pending = _sends(tmp_path, monkeypatch, failing=("outcome",))
    assert order == ["start", "send"] and pending == 0  # its start is in the trail; stored, recorded in sent/
    assert (tmp_path / "node" / "outbound" / "sent" / "share").is_dir()
    assert len(list((tmp_path / "node" / "outbound" / "sent" / "share").iterdir())) == 1


@pytest.mark.req("SRS-132")
def test_t4_no_further_send_while_the_trail_cannot_be_written(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    assert _sends(tmp_path, monkeypatch, failing=("start", "outcome", "dead"))[0].count("send") <= 1


# === THR-013: the password in a configuration file every account can read ===================================

@pytest.mark.req("SRS-231", "SRS-218", "SRS-131")
def test_t5_pin_inverted_a_configuration_file_every_account_can_read_is_refused_when_it_holds_a_password(
        tmp_path) -> None:  # noqa: ANN001
    from device_ai.config import load_settings, masked
    from device_ai.errors import ConfigError

    config = tmp_path / "device-ai.yaml"
    config.write_text("node_destinations:\n- {name: pacs, kind: stow, url: 'https://fake-user:FAKE-PASSWORD-1@"
                      "pacs.example.test/dicom-web/studies'}\n")
    for mode in (0o644, 0o640):
        config.chmod(mode)
        with pytest.raises(ConfigError, match=f"holds a secret.*mode {mode:04o}") as refused:  # helper-137's fix
            load_settings(config)
        assert str(config) in refused.value.message and "chmod 600" in (refused.value.hint or "")
    config.chmod(0o600)  # control: owner-only, it loads, and config show still masks the password
    settings = load_settings(config)
    assert settings.node_destinations[0].credentials == ("fake-user", "FAKE-PASSWORD-1")
    assert "FAKE-PASSWORD-1" not in str(masked(settings))
    plain = tmp_path / "plain.yaml"  # control: a 0644 file without a secret loads (SRS-218)
    plain.write_text("node_destinations:\n- {name: pacs, kind: stow, url: 'https://pacs.example.test/studies'}\n")
    plain.chmod(0o644)
    assert load_settings(plain).node_destinations[0].credentials is None
    config.chmod(0o664)
    with pytest.raises(ConfigError, match="writable by other accounts"):  # the write check still comes first
        load_settings(config)
    threat = _items("threats.yaml", "threats")["THR-013"]
    # the rationale names the defect, not its fixer (re-review 144 D7 removed the stale review statuses)
    assert "SRS-231" in threat["controls"] and "Review 134 (defect T5)" in _flat(threat["rationale"])


# === THR-016: input bytes, preamble included, in the device's outputs =======================================

MZ = b"MZ\x90\x00\x03\x00\x00\x00"


def _polyglot(index: int, **changes: object) -> bytes:
    from device_ai.dicom.writer import part10_bytes
    from tests.dicom.deid_corpus import ct_slice

    ds = ct_slice(index)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return MZ + part10_bytes(ds)[len(MZ):]


@pytest.mark.req("SRS-077", "SRS-057")
def test_t6_quarantine_keeps_an_input_with_its_executable_preamble_owner_only(tmp_path) -> None:  # noqa: ANN001
    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "burned.dcm").write_bytes(_polyglot(0, BurnedInAnnotation="YES"))
    (tmp_path / "in" / "plain.dcm").write_bytes(_polyglot(1))
    old = os.umask(0o022)
    try:
        Deidentifier(RunConfig(options=parse_options(()), secret=b"review-134-fake-secret".ljust(32, b"!"))).run(
            [tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    finally:
        os.umask(old)
    [copy] = list((tmp_path / "q").glob("file-*.dcm"))
    assert copy.read_bytes()[:len(MZ)] == MZ  # the original, preamble included: the site's evidence
    # helper-137's fix: owner-only whatever the umask (the folder had the umask's 0755)
    assert stat.S_IMODE((tmp_path / "q").stat().st_mode) == 0o700 and stat.S_IMODE(copy.stat().st_mode) == 0o600
    [output] = [p for p in (tmp_path / "out").rglob("*.dcm")]
    assert output.read_bytes()[:132] == bytes(128) + b"DICM"  # control: what the device writes is zeroed


@pytest.mark.req("SRS-077", "SRS-139")
def test_t6_relay_inverted_watch_keeps_a_refused_file_owner_only_not_for_the_readers_of_out(hot_folder) -> None:  # noqa: ANN001
    old = os.umask(0o022)
    try:
        folder = hot_folder(settle_s=1.0)
        data = _polyglot(0, Modality="MR", SOPClassUID="1.2.840.10008.5.1.4.1.1.4")
        drop(data, folder.inbox / "setup.exe")
        assert settle(folder).rejected == 1
    finally:
        os.umask(old)
    moved = folder.out / "rejected" / "setup.exe"
    assert folder.rejected == folder.out / "rejected" and moved.read_bytes() == data  # kept as dropped
    # helper-137's fix: neither the file nor the folder is open to the readers of OUT
    assert stat.S_IMODE(folder.rejected.stat().st_mode) == 0o700 and stat.S_IMODE(moved.stat().st_mode) == 0o600
    threat = _flat(_items("threats.yaml", "threats")["THR-016"]["rationale"])
    assert "an input's preamble is never copied" not in threat and "owner-only" in threat


@pytest.mark.req("SRS-077")
def test_t6_a_rejected_folder_others_can_reach_is_refused(hot_folder, tmp_path) -> None:  # noqa: ANN001
    from device_ai.errors import ConfigError

    (tmp_path / "out" / "rejected").mkdir(parents=True)
    (tmp_path / "out" / "rejected").chmod(0o755)  # as watch made it before the fix, under umask 022
    with pytest.raises(ConfigError, match="has mode 0755"):
        hot_folder(settle_s=1.0)
    (tmp_path / "out" / "rejected").chmod(0o700)  # control
    assert hot_folder(settle_s=1.0).rejected == tmp_path / "out" / "rejected"


# === THR-018: the node's results under the usual umask ======================================================

@pytest.mark.req("SRS-217")
@pytest.mark.parametrize("access", ["the results' (the fix)", "the umask's (control: the old write)"])
def test_t7_pin_inverted_a_folder_destination_writes_results_no_other_account_can_read(tmp_path, access) -> None:  # noqa: ANN001
    from device_ai.atomic_io import Access
    from device_ai.config import Destination
    from device_ai.node.outbound import write_to_folder

    (tmp_path / "share").mkdir()
    result = tmp_path / "segmentation.dcm"
    result.write_bytes(b"SEG with the patient's identity")
    old = os.umask(0o022)
    try:
        write_to_folder(Destination(name="share", kind="folder", path=tmp_path / "share"), result,
                        Path("study-x") / "series-y.gen-0001",
                        *([] if access.startswith("the results'") else [Access.PUBLIC]))
    finally:
        os.umask(old)
    written = tmp_path / "share" / "study-x" / "series-y.gen-0001" / "segmentation.dcm"
    expected = (0o600, 0o700) if access.startswith("the results'") else (0o644, 0o755)
    assert (stat.S_IMODE(written.stat().st_mode), stat.S_IMODE(written.parent.stat().st_mode)) == expected
    rationale = _flat(_items("threats.yaml", "threats")["THR-018"]["rationale"])
    assert "SRS-217 is draft" not in rationale and "still written with the umask's modes" not in rationale
    srs_217 = next(r for r in fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
                   ["software_requirements"] if r["id"] == "SRS-217")
    assert "watch" in _flat(srs_217["text"]) and "keep the umask" not in _flat(srs_217["text"])


# === THR-022: intervals and times of day survive the keyed shift ============================================

@pytest.mark.req("SRS-055", "SRS-053")
def test_t8_intervals_and_times_survive_and_only_the_offset_needs_the_key() -> None:
    import datetime as dt

    from device_ai.dicom.deidentify.dates import shift_da, shift_dt
    from device_ai.dicom.deidentify.keyed import KeyedReplacer

    days = KeyedReplacer(secret=b"review-134-fake-secret-one".ljust(32, b"!")).day_offset("FAKE-MRN-134")
    first, second = shift_da("20240105", days), shift_da("20240211", days)
    gap = dt.datetime.strptime(second, "%Y%m%d") - dt.datetime.strptime(first, "%Y%m%d")
    assert gap.days == 37 and 365 <= days <= 3650  # the patient's visit pattern is kept as it was
    assert shift_dt("20240105143207.123456", days).endswith("143207.123456")  # and every time of day
    other = KeyedReplacer(secret=b"review-134-fake-secret-two".ljust(32, b"!")).day_offset("FAKE-MRN-134")
    assert other != days  # control: the offset itself needs the key (the half the rationale covers)
    # lead's fix: the rationale answers the dates half - the default removes dates, the options keep them by design
    rationale = _flat(_items("threats.yaml", "threats")["THR-022"]["rationale"])
    assert "retain-long-modified-dates" in rationale and "Basic Profile" in rationale
