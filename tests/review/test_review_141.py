"""Independent re-review 141 (reviewer helper-141) of the fixes of review 134 (issue 19) at the approved content,
2cb6fcd (= c2effc8 for every file below): helper-136's c71a1d1 (T1 THR-005 hot folder turns and DAI019, T3 THR-008
node/accepted_connections.py, T4 THR-012 DAI018) and the lead's 9b165f9 (I1 IF-DICOM-SCU, U1/U2 SUC-001/SUC-003,
T8 THR-022 and its IFU precaution), approved in c2effc8 (SRS-092, SRS-099, SRS-132, SRS-136). helper-141 wrote none
of this code or text. Read: the two commits, node/{hot_folder,accepted_connections,server,outbound,trail,runtime,
transport_security}.py, config.py (TransportSecurity, Destination), dicom/deidentify/{keyed,dates,engine}.py,
pynetdicom 3.0.4 transport.py (get_request :952-973, RequestHandler.handle :711-723, AssociationSocket.recv
:570-612, ready :538-568), dul.py (_read_pdu_data :245-334, run_reactor :377-448) and association.py
(run_reactor :643-680, kill :534-542), security/{threats,interfaces,use_cases}.yaml, submission/device.yaml (ifu
only), requirements.yaml (SRS-092/094/099/132/136), review 134's docstring, tests/node/test_review_134_fixes.py.
Line numbers: 2cb6fcd's. Re-checked at 107b505 (helper-137/139's fixes committed meanwhile): every item below is
unchanged except SUC-001/SUC-003, which gained IF-INSTALLED-SOFTWARE; the new THR-006 precaution does not name
THR-008 (D5 stands); this file passes at both (run against 2cb6fcd's tree by git archive and PYTHONPATH).

T1 (THR-005, SRS-136) - DEFECT.
  HOLDS: files that never settle under fixed names delay, never hide (review 134's own pin, and test_t1_d1_pin's
    control); a read-only IN in turns: each refused file that cannot be moved is refused once, over many rounds
    (hot_folder.py:370 keeps the memory across turns; test_t1_read_only_in; control: without that memory it is
    refused again each round); DAI019 names no file and is written at most once per unsettled_report_s (helper-136's
    test, re-run).
  DEFECT D1 (hot_folder.py:343, 387 with :287): a turn is "the next 10,000 files after the last file of the previous
    turn's first pass", an order key, not the files themselves. A writer of IN that renames its 10,000 files (or
    writes new ones) to names sorting after the cursor and before a settled file, once per settle interval (2,000
    renames/s at the default 5 s, cheap on a local disk), fills every turn: the settled file is never listed, so
    never taken, and no DAI019 is ever written (each renamed file is new to the scan). SRS-136 (requirements.yaml
    :1420) "never keep it from being taken" and THR-005 (threats.yaml:102) "a file that stays unchanged is taken
    within about one settle interval per 10,000 files" are untrue; the hiding is silent (test_t1_d1_pin, cap 3:
    320 passes, 80 s; control: the same flood under fixed names, the file is refused; strict xfail test_t1_d1_xfail).
  DEFECT D2 (minor, hot_folder.py:366, 391-401): a file is "followed" as unsettled at its first sighting in a turn,
    even unchanged; a stable file pushed out of its turn's window by a file added before it (the cursor then passes
    it, :387) and seen again 60 s or more later is counted in DAI019 "kept changing ... left in IN" although it never
    changed and is taken at the next pass (test_t1_d2_pin: entry says 3 files, 2 changed; control: not pushed out,
    2; strict xfail test_t1_d2_xfail). Needs a round of turns >= 60 s (>= 120,000 files at the defaults).

T3 (THR-008, SRS-092) - DEFECT; SRS-099 HOLDS.
  HOLDS: two silent TCP connections and one that stops inside its ClientHello do not stop another peer's mutual-TLS
    handshake (test_t3_silent_connections_do_not_stop_handshakes; control: a plain SSLContext, the handshake times
    out); the accepted socket's timeout is set for plain connections too (EVT_CONN_OPEN, server.py:156); a half PDU
    that stops ends after node_idle_timeout_s (test_t3_d3_pin's control); a ClientHello trickled a byte every 0.1 s
    is closed within node_idle_timeout_s - the deferred handshake runs inside one SSL read, which has a deadline
    (test_t3_d3_pin 'trickles a TLS ClientHello'): SRS-099's "bounded by node_idle_timeout_s" holds, unlike
    SRS-092's bound for a plain PDU (D3). A slow, steady TLS peer (a 256x256 CT
    C-STORE through a relay of 4 KiB per 40 ms, ~3 idle timeouts in all) is stored; a pause longer than
    node_idle_timeout_s inside the data ends it, as before the fix for gaps between PDUs (idle timer)
    (test_t3_slow_tls_peer). Hooks: ssl_context and EVT_CONN_OPEN are pynetdicom's documented API; wrap_socket's
    do_handshake_on_connect is Python's; event.assoc.dul.socket.socket are public attributes. pyproject pins
    pynetdicom>=3.0.4 with no upper bound, but a change that undoes either hook fails loudly: review 134's
    test_t3_pin (deferred case), test_review_134_fixes' stall test and test_t3_silent... here (mutants M3/M4 below).
  DEFECT D3 (SRS-092 requirements.yaml:1132-1135; THR-008 threats.yaml:160-161), behavioural: "Every accepted
    connection shall be bounded in time before an association exists" and "a connection that sends no
    A-ASSOCIATE-RQ is closed after the ACSE timeout" are untrue. The timeout bounds each recv without progress, not
    the connection: pynetdicom reads a PDU by recv() calls until its stated length (dul.py:302, transport.py:
    595-607); when the ACSE timeout passes, the acceptor's kill() waits for that reading thread to end before the
    socket is shut down (association.py:653-660, 534-542). A connection that states an A-ASSOCIATE-RQ
    of 1,000 bytes and sends one byte every 0.1 s (timeout 0.4 s) holds its slot for as long as it likes without an
    AE title or certificate (node_max_associations 1: the allowed peer is rejected at 1.2 s = 3 timeouts)
    (test_t3_d3_pin; control: the same connection stopping - the fix's case - is closed, the peer gets in; strict
    xfail test_t3_d3_xfail). The residual "whoever reaches the port can keep every slot taken" is already stated;
    the requirement's and THR-008's "bounded in time" claims are what fail.
  DEFECT D4 (THR-008 threats.yaml:160 "reading is bounded"; SRS-094 requirements.yaml:1163 "never held whole in
    memory"), behavioural, not introduced by the fix: pynetdicom reads every PDU whole into memory at the length
    its header states (up to 4 GiB, dul.py:302), before any check: the node's maximum PDU (16,382) is not enforced
    on receipt, EVT_PDU_RECV (the node's node_max_instance_mb count, server.py:230) fires after the whole PDU is
    read. One connection, no AE title, before any association: 64 MiB stated and sent - the node's process grows
    by about 64 MiB with node_max_instance_mb 1 (test_t3_d4_pin; control: 1 MiB of the same PDU, no such growth;
    strict xfail test_t3_d4_xfail). node_max_associations (10) such connections hold 40 GiB; THR-008's attack names
    running the node out of memory.
  DEFECT D5 (THR-008 threats.yaml:167-169 vs residual_exploitability E3 :157 and device.yaml:85-99), rating: the
    rationale rates the residual for 127.0.0.1 and calls the network case - SUC-001's intended use, modalities
    sending - E4 (I3 x E4 unacceptable) "unless the site's network limits who can reach it"; but neither a start-up
    statement (as node_cleartext_reason is for THR-007) nor an IFU precaution carries that condition to the site:
    no precaution names THR-008 or limiting who reaches the port ("allow only the configured DICOM peers" is the AE
    allow-list, which D3 and the silent slot bypass). The secure-default convention review 129 accepted for
    THR-007/010/011/014 rests on both; THR-008 has neither (test_t3_d5_pin; control: THR-007's precaution; strict
    xfail test_t3_d5_xfail).
  NOTE N1: a PDU (16 KiB here) must arrive whole within node_idle_timeout_s - pynetdicom's idle timer restarts only
    after a whole PDU (association.py:765), and over TLS the socket's timeout is also a deadline per record read: a
    peer slower than ~16 KiB per node_idle_timeout_s fails without ever stalling (1 KiB per 40 ms with 0.5 s: not
    stored, test_t3_slow_tls_peer 'slow records'). Not introduced by the fix (the same without the socket timeout,
    mutant M4); at the default 60 s it is below ~270 B/s.

T4 (THR-012, SRS-132) - HOLDS. With the real audit log: each send lies between its durable DAI018 entry and its
  outcome entry (control); when the log fails during a send (outcome entry lost) the result is recorded in sent/,
  SendsHeld stops the queue, the second result is never sent and no entry claims the first one's outcome
  (test_t4_outcome_lost_mid_send). N3: "nothing further sent" means until a start entry can be written again
  (Outbound.run polls on): with a trail that refuses only outcome entries - not the real log, whose writer stops
  at its first write error - each pass sends one more result after its own start entry ('refuses only outcome
  entries'). A crash between DAI018 and the send (a BaseException from send): nothing sent,
  the queue entry unchanged; after a restart the trail reads Started attempt 1, Started attempt 1, Transferred
  attempt 1 - the first start stands without an outcome, no entry says a send happened that did not
  (test_t4_crash_between_start_and_send; control: uninterrupted, one start, one outcome). N2: the trail cannot
  say whether an orphan start's send reached the destination (at-least-once, as documented).

TEXTS.
  HOLDS: SUC-001 (every interface serve uses, IF-KEY-STORE and IF-RESULT-FILES included); THR-012 (as T4); THR-022
    (the default Basic Profile leaves no patient date - removed, emptied or a fixed dummy; the dates options keep
    intervals with a 1-10 year shift, keyed.py:29-30; the IFU precaution, device.yaml:96-99, says so;
    test_thr022_default_keeps_no_date; control: retain-long-modified-dates keeps the 37-day interval). N4: "removes
    or empties the dates" - some become a fixed dummy date (values.py:11, 51-53), which carries nothing either.
  DEFECT D6 IF-DICOM-SCU (interfaces.yaml:51-52): "with TLS the destination's certificate is verified against the
    site's CA bundle" is untrue without transport.ca_bundle, which is optional (config.py:50): the context then trusts
    the system store (transport_security.py:37; 144 public CAs here), and check_hostname may be switched off
    (config.py:53), so a destination {tls: true, check_hostname: false} accepts any publicly trusted certificate for
    any name (test_i1_d6_pin; control: with a ca_bundle only that CA; strict xfail test_i1_d6_xfail: the text names
    the fallback, or a tls destination needs a ca_bundle).
  DEFECT D7 SUC-003 (use_cases.yaml:21-28): watch sends its results to every node_destinations entry as serve does
    (hot_folder.py:52-57, 171-176: OUT is added to them), over C-STORE/STOW-RS with their TLS client keys, but
    SUC-003 lists neither IF-DICOM-SCU nor IF-STOW-RS and says the results go into OUT (test_u2_d7_pin; control:
    SUC-001 lists them; strict xfail test_u2_d7_xfail). The key-store half of review 134 U2 is fixed.
  THR-005: DEFECT (D1). THR-008: DEFECT (D3, D4, D5). DEVICE-DESCRIPTION: only its ifu precautions were read (and
    D5 finds one missing) - no record.

Lead, 2026-12-07 (not re-reviewed): D5 fixed as information for safety (an IFU precaution: let only the site's
modalities and PACS reach the node's port, THR-008), D6 fixed (IF-DICOM-SCU names the system trust store without a
ca_bundle and the optional host name check), D7 fixed (SUC-003 lists IF-DICOM-SCU and IF-STOW-RS). Their pins assert
the fixes and their xfails are plain tests. D1-D4 are NOT fixed: SRS-092 and SRS-136 are back to draft, so THR-005
and THR-008 stay open (issue 19).

Lead, 2026-12-07 (later session, not re-reviewed): D3 and D4 fixed in node/accepted_connections.py - the accepted
connection becomes a GuardedConnection (EVT_CONN_OPEN), whose reads end the connection when it is not an
association within the ACSE timeout of being accepted, and refuse a PDU whose header states more than 1 MiB before
its body is read. The D3/D4 pins assert the fixes with controls that undo each (the deadline; the limit), their
xfails are plain tests; _trickled stops trickling once the node has closed the connection.

Mutation check (copies of HEAD's src by git archive, PYTHONPATH; see the report of helper-141): each fix undone in
the copy, this file run (HEAD: 27 passed, 7 xfailed, ~20 s): M1 turns undone (candidates ignore `after`), M2 the turns' memory of kept files dropped,
M3 the plain SSLContext, M4 bound_in_time a no-op, M5 no DAI018 before a send, M6 the outcome's failure ignored
(no SendsHeld after sent/), M7 DAI019 reporting removed - each killed by at least one test here (M6 only by the
'refuses only outcome entries' case: with the real log the next start entry fails anyway).

Records: `device-ai trace review ID --by "helper-141 (independent re-review 141)" --independent` for SRS-099,
SRS-132, THR-012, SUC-001, THR-022 only; none for SRS-092, SRS-136, THR-005, THR-008, IF-DICOM-SCU, SUC-003,
DEVICE-DESCRIPTION.

helper-145, 2026-12-07: D1, D2 fixed (fixer, not re-reviewed): the hot folder's turns are taken from a queue of
names - each name joins it at the first listing that showed it, a turn (the first 10,000 in (joined, name) order) is
fixed at its first pass and its files join the queue again at its end - so a renamed or new file comes after every
waiting one; a file is followed for DAI019 only once seen changed against an earlier sighting. The T1 pins assert
the fixes (D1's control: turns by name only, the renamed flood hides the file again); the T1 xfails are plain tests.
More in tests/node/test_hot_folder_turns.py.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests import fast_yaml
from tests.node.conftest import associate, context, events, node_env, series_slices, wait_for
from tests.node.test_hot_folder import drop, hot_folder  # noqa: F401 - hot_folder: the fixture

ROOT = Path(__file__).resolve().parents[2]


def _items(name: str, key: str) -> dict[str, dict]:
    return {item["id"]: item for item in fast_yaml.safe_load((ROOT / "security" / name).read_text())[key]}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _requirement(rid: str) -> dict:
    return next(r for r in fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
                ["software_requirements"] if r["id"] == rid)


# === T1: the hot folder in turns ==============================================================================

def _flood(folder, monkeypatch: pytest.MonkeyPatch, *, renamed: bool, passes: int) -> Path:  # noqa: ANN001
    """Cap 3; IN holds a junk file (refused once looked at) and 3 flooding files named before it; the flood is
    renamed to new, higher names once per settle interval (or, control, keeps its names and grows before every
    pass). Passes every settle_s / 4 (watch's poll). Returns the junk file's path in IN."""
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)
    junk = drop(b"not DICOM, refused once looked at\n", folder.inbox / "m.txt")
    counter = 0
    flood = []
    for _ in range(3):
        flood.append(drop(b"x", folder.inbox / f"l{counter:09d}.dcm"))
        counter += 1
    for step in range(passes):
        if renamed and step % 4 == 1:  # once per settle interval, at a phase the attacker cannot know
            moved = []
            for path in flood:
                moved.append(folder.inbox / f"l{counter:09d}.dcm")  # after every earlier name, before m.txt
                counter += 1
                os.rename(path, moved[-1])
            flood = moved
        elif not renamed:
            for path in flood:
                with open(path, "ab") as handle:
                    handle.write(b".")
        folder.scan_once(now=step * folder.settle_s / 4)
    return junk


@pytest.mark.req("SRS-136", "SRS-139")
@pytest.mark.parametrize("flood", ["renamed once per settle interval", "fixed names, growing (control)",
                                   "renamed, turns by name only (control: the defect)"])
def test_t1_d1_pin_a_renamed_flood_hides_a_settled_file_for_good_and_says_nothing(hot_folder, monkeypatch, flood) -> None:  # noqa: ANN001
    # helper-145, 2026-12-07: D1 fixed - turns are taken from a queue of names (first listed, or back after their
    # turn), so the renamed flood (new names) comes after the waiting file; the pin asserts the fix, and its control
    # puts the turns back in name order, where the renamed flood hides the file again.
    from device_ai.node.hot_folder import HotFolder

    folder = hot_folder(settle_s=1.0)
    if flood.endswith("(control: the defect)"):
        monkeypatch.setattr(HotFolder, "queued_since", lambda self, path: 0.0)  # turn key: name order only
    junk = _flood(folder, monkeypatch, renamed=flood.startswith("renamed"), passes=320)  # 80 s
    if flood.endswith("(control: the defect)"):
        assert junk.exists() and not (folder.rejected / "m.txt").exists()  # never looked at
    else:
        assert not junk.exists() and (folder.rejected / "m.txt").exists()  # delayed, not hidden
    reported = [e["details"]["files"] for e in events("Hot Folder Files Not Settling")]
    assert reported == (["3"] if flood.startswith("fixed") else [])  # renamed files are new names, never changing
    assert "never keep it from being taken" in _flat(_requirement("SRS-136")["text"])


@pytest.mark.req("SRS-136")
def test_t1_d1_xfail_a_settled_file_is_taken_whatever_the_flood_is_named(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    # review 141 D1 (fixed by helper-145, 2026-12-07): a flood renamed past the cursor kept a settled file out of
    # every turn (hot_folder.py:343, 387 at 2cb6fcd)
    folder = hot_folder(settle_s=1.0)
    junk = _flood(folder, monkeypatch, renamed=True, passes=80)  # 20 s: far more than a few turns
    assert not junk.exists()


def _displaced(folder, monkeypatch: pytest.MonkeyPatch, *, pushed_out: bool) -> list[str]:  # noqa: ANN001
    """Cap 3: two growing files and one stable junk file, s.txt, in one turn; optionally a file added before
    s.txt after the turn's first pass (pushing it out of the window) and removed after the turn; then passes
    60 s later. The 'files' of every DAI019 entry."""
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)
    growing = [drop(b"x", folder.inbox / f"a{n}.dcm") for n in range(2)]
    drop(b"not DICOM, never changes\n", folder.inbox / "s.txt")

    def scan(now: float) -> None:
        for path in growing:
            with open(path, "ab") as handle:
                handle.write(b".")
        folder.scan_once(now=now)

    scan(0.0)  # a0 a1 s.txt: the turn
    if pushed_out:
        drop(b"x", folder.inbox / "b.dcm")
    scan(1.0)  # the turn ends after s.txt
    if pushed_out:
        os.unlink(folder.inbox / "b.dcm")
    scan(61.0)
    scan(62.0)
    assert not (folder.inbox / "s.txt").exists()  # the stable file is taken (refused) at once either way
    return [e["details"]["files"] for e in events("Hot Folder Files Not Settling")]


@pytest.mark.req("SRS-136")
@pytest.mark.parametrize("case", ["pushed out of its turn", "not pushed out (control)"])
def test_t1_d2_pin_a_stable_file_pushed_out_of_its_turn_is_counted_as_changing(hot_folder, monkeypatch, case) -> None:  # noqa: ANN001
    # helper-145, 2026-12-07: D2 fixed - a file is followed for DAI019 only once a pass sees it changed against an
    # earlier sighting, and a turn's files are fixed at its first pass (b.dcm, new, comes after s.txt): the pin
    # asserts the fix (a stable file kept out of being taken: tests/node/test_hot_folder_turns.py).
    folder = hot_folder(settle_s=1.0)
    files = _displaced(folder, monkeypatch, pushed_out=case.startswith("pushed"))
    assert files == ["2"]  # only a0 and a1 ever changed


@pytest.mark.req("SRS-136")
def test_t1_d2_xfail_dai019_counts_only_files_that_changed(hot_folder, monkeypatch) -> None:  # noqa: ANN001
    # review 141 D2 (fixed by helper-145, 2026-12-07): the first sighting of an unchanged file counted as 'changing'
    # (hot_folder.py:366, 391-401 at 2cb6fcd)
    assert _displaced(hot_folder(settle_s=1.0), monkeypatch, pushed_out=True) == ["2"]


@pytest.mark.req("SRS-136", "SRS-139")
@pytest.mark.parametrize("memory", ["as shipped", "dropped before every pass (control)"])
def test_t1_read_only_in_each_refused_file_is_refused_once_across_turns(hot_folder, monkeypatch, memory) -> None:  # noqa: ANN001
    from device_ai.node import hot_folder as module

    monkeypatch.setattr(module, "MAX_FILES_PER_PASS", 3)

    def read_only(source: Path, target: Path) -> None:
        raise PermissionError(30, "Read-only file system")  # the tests run as root: chmod would not stop it

    monkeypatch.setattr(module, "_move", read_only)
    folder = hot_folder(settle_s=1.0)
    for n in range(7):
        drop(b"not DICOM\n", folder.inbox / f"j{n}.txt")
    for step in range(24):  # 6 s: three rounds of three turns
        if memory.startswith("dropped"):
            folder._kept.clear()
        folder.scan_once(now=step * 0.25)
    refusals = [e for e in events("DICOM Instances Transferred") if e["details"].get("error")]
    assert len(list(folder.inbox.iterdir())) == 7  # all still in IN
    if memory == "as shipped":
        assert len(refusals) == 7  # every file looked at, each refused once
        assert len(list(folder.rejected.glob("*.reason.txt"))) == 7
    else:
        assert len(refusals) > 7


# === T3: accepted connections ================================================================================

def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "client", ca)
    return folder


def _node(monkeypatch: pytest.MonkeyPatch, **settings: object):  # noqa: ANN202 - NodeServer
    from device_ai.node.server import NodeServer

    node_env(monkeypatch, **settings)
    node = NodeServer(context())
    node.port = node.start()[1]
    return node


def _tls(pki: Path) -> dict[str, Path]:
    return {"node_tls_cert_file": pki / "server.pem", "node_tls_key_file": pki / "server.key",
            "node_tls_ca_file": pki / "ca.pem"}


@pytest.mark.req("SRS-099", "SRS-092")
@pytest.mark.parametrize("server_context", ["deferred (the fix)", "plain SSLContext (control)"])
def test_t3_silent_connections_do_not_stop_handshakes(monkeypatch, tmp_path, server_context) -> None:  # noqa: ANN001
    import ssl

    from device_ai.node import server as module
    from tests.node.test_tls import _client

    if server_context.startswith("plain"):
        monkeypatch.setattr(module, "DeferredHandshakeContext", ssl.SSLContext)
    pki = _pki(tmp_path)
    node = _node(monkeypatch, node_idle_timeout_s=1.2, **_tls(pki))  # the stalls outlast the probe
    idle = [socket.create_connection(("127.0.0.1", node.port)) for _ in range(3)]
    try:
        idle[2].sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
        time.sleep(0.2)
        try:
            with socket.create_connection(("127.0.0.1", node.port), timeout=1.0) as raw, \
                    _client(pki, certificate=True).wrap_socket(raw, server_hostname="127.0.0.1"):
                done = True
        except OSError:
            done = False
        assert done is server_context.startswith("deferred")
    finally:
        for connection in idle:
            connection.close()
        node.stop()


class _SlowLink:
    """A relay on 127.0.0.1: the peer's bytes go on to the node ``chunk`` bytes at a time, ``every`` seconds apart
    (a slow, steady link), with one pause of ``pause`` s once ``pause_after`` bytes have passed; the node's bytes
    come back at once."""

    def __init__(self, target: int, chunk: int, every: float, pause_after: int | None = None, pause: float = 0.0):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.target, self.chunk, self.every = target, chunk, every
        self.pause_after, self.pause = pause_after, pause
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            peer, _ = self.listener.accept()
        except OSError:
            return
        node = socket.create_connection(("127.0.0.1", self.target))
        self.sockets += [peer, node]
        threading.Thread(target=self._pump, args=(peer, node, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(node, peer, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slow: bool) -> None:
        passed = 0
        try:
            while data := source.recv(self.chunk if slow else 65536):
                if slow and self.pause_after is not None and passed >= self.pause_after:
                    time.sleep(self.pause)
                    self.pause_after = None
                sink.sendall(data)
                passed += len(data)
                if slow:
                    time.sleep(self.every)
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        for connection in [*self.sockets, self.listener]:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


@pytest.mark.req("SRS-099", "SRS-092")
@pytest.mark.parametrize("link", ["steady, 4 KiB per 40 ms", "a 0.9 s pause (control)", "slow records (N1)"])
def test_t3_slow_tls_peer(monkeypatch, tmp_path, link) -> None:  # noqa: ANN001
    from tests.node.test_tls import _client

    pki = _pki(tmp_path)
    node = _node(monkeypatch, node_idle_timeout_s=0.5, **_tls(pki))
    relay = (_SlowLink(node.port, 4096, 0.04) if link.startswith("steady")
             else _SlowLink(node.port, 4096, 0.04, pause_after=60_000, pause=0.9) if link.startswith("a 0.9")
             else _SlowLink(node.port, 1024, 0.04))
    instance = series_slices(count=1, rows=256)[0]  # 128 KiB of pixels: > 1 s through the steady link
    try:
        start = time.monotonic()
        assoc = associate(relay.port, tls_args=(_client(pki, certificate=True), "127.0.0.1"))
        status = None
        if assoc.is_established:
            status = getattr(assoc.send_c_store(instance), "Status", None)
            if assoc.is_established:
                assoc.release()
        took = time.monotonic() - start
    finally:
        relay.close()
        node.stop()
    if link.startswith("steady"):
        assert status == 0x0000 and took > 1.0  # stored, though the whole C-STORE took over 2 idle timeouts
    else:
        assert status is None  # a stall, or a TLS record slower than the timeout, ends it


def _declared(port: int, length: int) -> socket.socket:
    """A connection that states an A-ASSOCIATE-RQ of ``length`` bytes (PDU type 1) and nothing more yet."""
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"\x01\x00" + struct.pack(">L", length))
    return connection


def _trickled(monkeypatch: pytest.MonkeyPatch, *, trickle: bool) -> bool:
    """node_max_associations 1, node_idle_timeout_s 0.4 (ACSE timeout 0.4 s): a connection states a 1,000-byte
    A-ASSOCIATE-RQ and then sends one byte every 0.1 s (or stops); whether the allowed peer gets in at 1.2 s."""
    node = _node(monkeypatch, node_max_associations=1, node_idle_timeout_s=0.4)
    connection = _declared(node.port, 1000)
    try:
        end = time.monotonic() + 1.2  # three idle timeouts, three ACSE timeouts
        while time.monotonic() < end:
            if trickle:
                try:
                    connection.sendall(b"\x00")
                except OSError:  # closed by the node (lead, 2026-12-07: D3's fix)
                    trickle = False
            time.sleep(0.1)
        peer = associate(node.port)
        established = peer.is_established
        if established:
            peer.release()
        return established
    finally:
        connection.close()
        node.stop()


def _trickled_hello_closed(monkeypatch: pytest.MonkeyPatch, pki: Path) -> bool:
    """A TLS node (node_idle_timeout_s 0.4); a connection starts a 512-byte ClientHello record and sends one byte
    of it every 0.1 s for 1.2 s: whether the node has closed it by then."""
    node = _node(monkeypatch, node_max_associations=1, node_idle_timeout_s=0.4, **_tls(pki))
    connection = socket.create_connection(("127.0.0.1", node.port))
    try:
        connection.sendall(b"\x16\x03\x01\x02\x00\x01")
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            try:
                connection.sendall(b"\x00")
            except OSError:  # reset by the node
                return True
            time.sleep(0.1)
        connection.settimeout(0.5)
        try:
            return connection.recv(1) == b""  # closed by the node (a TLS alert would come first otherwise)
        except TimeoutError:
            return False  # still open, the node waiting for the rest
        except OSError:
            return True
    finally:
        connection.close()
        node.stop()


@pytest.mark.req("SRS-092", "SRS-099")
@pytest.mark.parametrize("connection", ["trickles a byte every 0.1 s", "stops after the header",
                                        "trickles a TLS ClientHello (SRS-099 holds)",
                                        "trickles, the guard's deadline undone (control)"])
def test_t3_d3_pin_a_trickling_connection_holds_its_slot_past_every_timeout(monkeypatch, tmp_path, connection) -> None:  # noqa: ANN001
    # Lead, 2026-12-07: D3 fixed (accepted_connections.GuardedConnection: a connection that is not an association
    # within the ACSE timeout of being accepted is closed, however it trickles); the pin asserts the fix.
    if connection.startswith("trickles a TLS"):  # the handshake is one read with a deadline: bounded
        assert _trickled_hello_closed(monkeypatch, _pki(tmp_path))
        return
    if connection.endswith("(control)"):
        from device_ai.node.accepted_connections import GuardedConnection

        monkeypatch.setattr(GuardedConnection, "_read_timeout", lambda self: self.timeout_s)  # a stall bound only
    trickle = connection.startswith("trickles")
    assert _trickled(monkeypatch, trickle=trickle) is not connection.endswith("(control)")
    text = _flat(_requirement("SRS-092")["text"])
    assert "Every accepted connection shall be bounded in time before an association exists" in text


@pytest.mark.req("SRS-092")
def test_t3_d3_xfail_a_connection_that_never_completes_an_association_request_is_closed(monkeypatch) -> None:  # noqa: ANN001
    # review 141 D3 (fixed by the lead, 2026-12-07): the socket timeout bounded a stall, not a connection that
    # trickles an A-ASSOCIATE-RQ (pynetdicom reads a PDU to its stated length)
    assert _trickled(monkeypatch, trickle=True)


def _rss_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def _held_mib(monkeypatch: pytest.MonkeyPatch, *, sent_mib: int) -> int:
    """One connection, no AE title, states a 64 MiB A-ASSOCIATE-RQ and sends ``sent_mib`` MiB of it; how much
    the (in-process) node's memory grew while it waits for the rest. node_max_instance_mb is 1."""
    node = _node(monkeypatch, node_idle_timeout_s=1.0, node_max_instance_mb=1)
    before = _rss_mib()
    connection = _declared(node.port, 64 * 2**20)
    try:
        chunk = bytes(2**20)
        for _ in range(sent_mib):
            try:
                connection.sendall(chunk)
            except OSError:  # closed by the node
                break
        time.sleep(0.3)
        return _rss_mib() - before
    finally:
        connection.close()
        node.stop()


@pytest.mark.req("SRS-094", "SRS-092")
@pytest.mark.parametrize("case", ["60 MiB sent", "1 MiB sent (control)", "60 MiB sent, no PDU limit (control)"])
def test_t3_d4_pin_one_pdu_is_held_whole_in_memory_before_any_association(monkeypatch, case) -> None:  # noqa: ANN001
    # Lead, 2026-12-07: D4 fixed (accepted_connections.GuardedConnection refuses a PDU stating more than
    # PDU_LENGTH_LIMIT, 1 MiB, before reading its body); the pin asserts the fix, its control undoes the limit.
    if case.endswith("no PDU limit (control)"):
        from device_ai.node import server

        monkeypatch.setattr(server, "PDU_LENGTH_LIMIT", 2**32)
    grown = _held_mib(monkeypatch, sent_mib=1 if case.startswith("1 MiB") else 60)
    if case.endswith("no PDU limit (control)"):
        assert grown >= 48, grown  # pynetdicom alone reads the PDU whole at its stated length
    else:
        assert grown < 24, grown


@pytest.mark.req("SRS-094", "SRS-092")
def test_t3_d4_xfail_a_pdu_longer_than_the_node_accepts_is_not_held(monkeypatch) -> None:  # noqa: ANN001
    # review 141 D4 (fixed by the lead, 2026-12-07): pynetdicom read a PDU whole at its stated length, before the
    # node's checks (dul.py:302)
    assert _held_mib(monkeypatch, sent_mib=60) < 24


def _ifu() -> dict:
    return fast_yaml.safe_load((ROOT / "submission/device.yaml").read_text())["device"]["ifu"]


@pytest.mark.req("SRS-092", "SRS-099")
def test_t3_d5_pin_the_network_case_of_thr008_reaches_no_site_statement_and_no_precaution() -> None:
    threat = _items("threats.yaml", "threats")["THR-008"]
    rationale = _flat(threat["rationale"])
    assert threat["residual_exploitability"] == "E3" and threat["impact"] == "I3"
    assert "(E4; I3 x E4, unacceptable on the plan's matrix) unless the site's network limits who can reach it" \
        in rationale
    cases = _items("use_cases.yaml", "security_use_cases")
    assert "IF-DICOM-SCP" in cases["SUC-001"]["interfaces"]  # the intended use: modalities send over the network
    precautions = [_flat(p) for p in _ifu()["precautions"]]
    # lead's fix: the IFU carries THR-008's network condition (let only the modalities and PACS reach the port)
    assert [p for p in precautions if "THR-008" in p and "firewall" in p]
    assert [p for p in precautions if "THR-007" in p]  # control: THR-007's network case has its precaution


@pytest.mark.req("SRS-092", "SRS-099")
def test_t3_d5_xfail_the_ifu_carries_thr008s_condition() -> None:
    assert [p for p in _ifu()["precautions"] if "THR-008" in p]


# === T4: the start of a send ===================================================================================

def _queue(tmp_path: Path, trail):  # noqa: ANN001, ANN202
    from device_ai.config import Destination, Settings
    from device_ai.node.outbound import Outbound, ResultFile

    (tmp_path / "share").mkdir(parents=True, exist_ok=True)
    settings = Settings(node_destinations=[Destination(name="share", kind="folder", path=tmp_path / "share")])
    work = tmp_path / "node" / "work"
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for role, uid in (("seg", "2.25.1411"), ("sr", "2.25.1412")):
        (work / f"{role}.dcm").write_bytes(b"result " + role.encode())
        files.append(ResultFile(role, work / f"{role}.dcm", "1.2", uid))
    queue = Outbound(tmp_path / "node", settings, trail=trail)
    queue.enqueue("k", study="s", series="r", generation=1, files=files)
    return queue


@pytest.mark.req("SRS-132")
@pytest.mark.parametrize("log", ["fails during the first send", "refuses only outcome entries", "works (control)"])
def test_t4_outcome_lost_mid_send(monkeypatch, tmp_path, log) -> None:  # noqa: ANN001
    from device_ai.node import outbound
    from device_ai.node.outbound import SendsHeld
    from device_ai.node.trail import NodeTrail

    audit = context().open_audit_log()
    sent: list[str] = []

    def send(dest, file, *args, **kwargs) -> str:  # noqa: ANN001
        sent.append(file.name)
        if log.startswith("fails"):
            audit.file.failed = OSError(28, "No space left on device")  # the disk fills while it is sent
        return "stored"

    def no_outcome(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")  # a failure the next start entry does not meet

    monkeypatch.setattr(outbound, "send", send)
    if log.startswith("refuses"):
        monkeypatch.setattr(NodeTrail, "result_sent", no_outcome)
    queue = _queue(tmp_path, NodeTrail(audit))
    held = []
    for _ in range(3):
        try:
            queue.send_due()
        except SendsHeld:
            held.append(len(sent))
    audit.close()
    started, transferred = events("Result Send Started"), events("DICOM Instances Transferred")
    stored = sorted(p.name for p in (tmp_path / "node/outbound/sent/share").iterdir())
    if log.startswith("fails"):
        assert len(sent) == 1 and len(started) == 1 and transferred == []  # no entry claims the outcome
        assert len(stored) == 1 and len(queue.pending("share")) == 1  # recorded in sent/; the other waits, unsent
        assert held == [1, 1, 1]
    elif log.startswith("refuses"):  # N3: the queue stops after each lost outcome, until a start entry is written
        assert held == [1, 2] and len(sent) == len(started) == len(stored) == 2 and transferred == []
    else:
        assert len(sent) == 2 and len(stored) == 2 and not queue.pending("share")
        order = sorted([(e["seq"], "start") for e in started] + [(e["seq"], "outcome") for e in transferred])
        assert [kind for _, kind in order] == ["start", "outcome", "start", "outcome"]


class _Killed(BaseException):
    """The process killed between the start entry and the send."""


@pytest.mark.req("SRS-132")
@pytest.mark.parametrize("run", ["killed before the first send", "uninterrupted (control)"])
def test_t4_crash_between_start_and_send(monkeypatch, tmp_path, run) -> None:  # noqa: ANN001
    from device_ai.node import outbound
    from device_ai.node.trail import NodeTrail

    killed: list[str] = []
    sent: list[str] = []

    def crash(dest, file, *args, **kwargs) -> str:  # noqa: ANN001
        killed.append(file.name.removesuffix(".dcm"))
        raise _Killed

    audit = context().open_audit_log()
    queue = _queue(tmp_path, NodeTrail(audit))
    before = {p.name: p.read_bytes() for p in queue.pending("share")}
    if run.startswith("killed"):
        monkeypatch.setattr(outbound, "send", crash)
        with pytest.raises(_Killed):
            queue.send_due()
        assert {p.name: p.read_bytes() for p in queue.pending("share")} == before  # nothing sent, entries as they were
    audit.close()
    monkeypatch.setattr(outbound, "send", lambda dest, file, *a, **k: sent.append(file.name) or "stored")
    audit = context().open_audit_log()  # the restarted node
    _queue(tmp_path, NodeTrail(audit)).send_due()
    audit.close()
    assert sorted(sent) == ["seg.dcm", "sr.dcm"]  # each sent once, after the restart
    for role in ("seg", "sr"):
        trail = sorted([(e["seq"], "started", e["details"]["attempt"]) for e in events("Result Send Started")
                        if e["details"]["result"] == role]
                       + [(e["seq"], "transferred", e["details"]["attempt"])
                          for e in events("DICOM Instances Transferred") if e["details"].get("result") == role])
        orphan = [("started", "1")] if role in killed else []  # the start whose send never happened
        assert [(kind, attempt) for _, kind, attempt in trail] == orphan + [("started", "1"), ("transferred", "1")]
    assert len(killed) == (1 if run.startswith("killed") else 0)


# === texts ====================================================================================================

@pytest.mark.req("SRS-216")
@pytest.mark.parametrize("bundle", ["no ca_bundle", "the site's ca_bundle (control)"])
def test_i1_d6_pin_without_a_ca_bundle_a_destination_trusts_the_system_store(monkeypatch, tmp_path, bundle) -> None:  # noqa: ANN001
    import ssl

    from device_ai.config import Destination
    from device_ai.node.transport_security import client_context

    _pki(tmp_path)
    transport = {"tls": True, "check_hostname": False}
    if bundle.startswith("the site"):
        transport["ca_bundle"] = str(tmp_path / "ca.pem")
    destination = Destination(name="pacs", kind="dimse", ae_title="PACS", host="10.0.0.5", port=104,
                              transport=transport)  # accepted as configured
    asked: list[object] = []
    real = ssl.create_default_context
    # lead, 2026-12-07: since SRS-234 the bundle is read (owner/mode checked) and given as cadata, not cafile; the
    # pin records both keywords
    monkeypatch.setattr(ssl, "create_default_context",
                        lambda *a, **k: asked.append((k.get("cafile"), k.get("cadata"))) or real(*a, **k))
    made = client_context(destination.transport)
    assert not made.check_hostname and made.verify_mode == ssl.CERT_REQUIRED
    if bundle == "no ca_bundle":
        assert asked == [(None, None)] and len(made.get_ca_certs()) == len(real().get_ca_certs())  # the system store
    else:
        # lead, 2026-12-07 (session 3): since review 180 the checked bytes go to OpenSSL's own CA-file reader from an
        # anonymous memory file: cafile=/proc/self/fd/N, no cadata (was: cafile None, the PEM text as cadata)
        assert len(asked) == 1 and asked[0][0].startswith("/proc/self/fd/") and asked[0][1] is None
        assert len(made.get_ca_certs()) == 1
    scu = _flat(_items("interfaces.yaml", "interfaces")["IF-DICOM-SCU"]["authentication"])
    # lead's fix: the interface names the system trust store and the optional host name check
    assert "verified against the site's CA bundle" in scu and "trust store" in scu and "check_hostname" in scu


@pytest.mark.req("SRS-216")
def test_i1_d6_xfail_the_interface_states_what_verifies_a_destination() -> None:
    from pydantic import ValidationError

    from device_ai.config import Destination

    scu = _flat(_items("interfaces.yaml", "interfaces")["IF-DICOM-SCU"]["authentication"])
    try:
        Destination(name="pacs", kind="dimse", ae_title="PACS", host="10.0.0.5", port=104, transport={"tls": True})
        needs_bundle = False
    except ValidationError:
        needs_bundle = True
    assert needs_bundle or ("trust store" in scu and "check_hostname" in scu)


@pytest.mark.req("SRS-138", "SRS-194")
def test_u2_d7_pin_watch_sends_to_the_node_destinations_suc003_does_not_say_so(hot_folder) -> None:  # noqa: ANN001
    from device_ai.node.hot_folder import WATCH_DESTINATION
    from device_ai.node.outbound import Outbound

    folder = hot_folder(settle_s=1.0, node_destinations='[{"name": "pacs", "kind": "dimse", "ae_title": "PACS", '
                                                        '"host": "127.0.0.1", "port": 11112}]')
    queue = Outbound(folder.spool.root, folder.ctx.settings)
    assert set(queue.destinations) == {"pacs", WATCH_DESTINATION}  # C-STORE to the PACS, and OUT
    cases = _items("use_cases.yaml", "security_use_cases")
    assert {"IF-DICOM-SCU", "IF-STOW-RS"} <= set(cases["SUC-001"]["interfaces"])  # control: serve's case lists them
    # lead's fix: SUC-003 lists the network destinations watch sends to
    assert {"IF-DICOM-SCU", "IF-STOW-RS"} <= set(cases["SUC-003"]["interfaces"])
    assert "IF-KEY-STORE" in cases["SUC-003"]["interfaces"]  # review 134 U2's own half is fixed


@pytest.mark.req("SRS-138", "SRS-194")
def test_u2_d7_xfail_suc003_lists_the_destinations_watch_sends_to() -> None:
    assert {"IF-DICOM-SCU", "IF-STOW-RS"} <= set(_items("use_cases.yaml", "security_use_cases")["SUC-003"]["interfaces"])


@pytest.mark.req("SRS-055", "SRS-053")
@pytest.mark.parametrize("options", [(), ("retain-long-modified-dates",)], ids=["default", "modified dates (control)"])
def test_thr022_default_keeps_no_date(tmp_path, options) -> None:  # noqa: ANN001
    import datetime as dt

    import pydicom

    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
    from device_ai.dicom.writer import part10_bytes
    from tests.dicom.deid_corpus import ct_slice

    (tmp_path / "in").mkdir()
    for index, day in enumerate(("20240105", "20240211")):  # two visits, 37 days apart
        ds = ct_slice(index)
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day
        ds.StudyInstanceUID = f"2.25.14100{index}"
        ds.PatientBirthDate = "19700101"
        (tmp_path / "in" / f"v{index}.dcm").write_bytes(part10_bytes(ds))
    Deidentifier(RunConfig(options=parse_options(options), secret=b"review-141-fake-secret".ljust(32, b"!"))).run(
        [tmp_path / "in"], tmp_path / "out", tmp_path / "q")
    outputs = [pydicom.dcmread(p) for p in sorted((tmp_path / "out").rglob("*.dcm"))]
    assert len(outputs) == 2
    dates = [str(ds.get("StudyDate", "") or "") for ds in outputs]
    if not options:
        kept = {str(ds.get(k, "") or "") for ds in outputs for k in ("StudyDate", "SeriesDate", "AcquisitionDate",
                                                                        "ContentDate", "PatientBirthDate")}
        assert len(kept) <= 2 and not kept & {"20240105", "20240211", "19700101"}  # removed, empty or one dummy
        assert len(set(dates)) <= 1  # no interval left between the visits
    else:
        first, second = (dt.datetime.strptime(d, "%Y%m%d") for d in sorted(dates))
        assert (second - first).days == 37  # the interval kept by design (E.3.6), as THR-022 says
        assert 365 <= (dt.datetime(2024, 1, 5) - first).days <= 3650
    precaution = [p for p in _ifu()["precautions"] if "THR-022" in p]
    assert precaution and "retain-long-modified-dates" in precaution[0]
