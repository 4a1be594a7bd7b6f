"""Independent review 173 (reviewer helper-173) of SRS-234 at 2b3e34d (a destination's CA bundle read only when no other
account could change it). helper-173 wrote none of the code, texts or tests reviewed. Read: SRS-234's text and rationale
(traceability/requirements.yaml), ``git show 2b3e34d`` whole, src/device_ai/trust_anchors.py, config.read_owned_file /
_read_owned, node/transport_security.py, node/outbound.py (send, send_dimse, send_stow, Outbound._attempt/_failed),
node/runtime.py (NodeRuntime.open), node/server.py (tls_context, NodeServer.start), cli/running.py (run_reported),
tests/node/test_destination_ca_bundle.py, tests/review/test_review_153.py. Every use of ca_bundle,
create_default_context, load_verify_locations and cafile in src/ was grepped: the bundle is loaded only by
transport_security.client_context (DIMSE through dimse_tls_args, STOW-RS https through send_stow) and checked at start
by check_transport_files; the node's CA by server.tls_context; batch_tls_ca_file by batch/cluster_security.py (untouched).

SRS-234 - DEFECT (D1 an empty bundle trusts the system trust store; D2 a missing bundle, a folder, or a PEM span that is
not ASCII stops serve with an internal error, not a typed refusal).

D1 - transport_security.py:43-44: ``anchors = read_trust_anchors(...)``; ``ssl.create_default_context(cadata=anchors)``.
For a zero-byte bundle read_trust_anchors returns b"" and create_default_context tests ``if cafile or capath or cadata``:
b"" is false, so it loads the system's default CAs (144 on this machine) and no error is raised, at start or at send.
Contradicts "a missing file or one that holds no certificate is a typed refusal naming the file" (and "the context trusts
exactly its CA"): a truncated bundle silently widens the destination's trust to every public CA. Regression: before
2b3e34d, create_default_context(cafile=<empty file>) raised SSLError (NO_CERTIFICATE_OR_CRL_FOUND), a typed refusal.
The node's own CA file (SRS-233) is not affected: load_verify_locations(cadata=b"") raises ValueError, caught.
Reproduction: ``: > ca.pem; chmod 644 ca.pem``; client_context(TransportSecurity(tls=True, ca_bundle=ca.pem))
.cert_store_stats() == ssl.create_default_context().cert_store_stats().

D2 - transport_security.py:75-76 (check_transport_files) calls read_trust_anchors, which lets OSError (config.py:402,
os.open: FileNotFoundError; config.py:403, open() of a folder: IsADirectoryError) and UnicodeDecodeError
(trust_anchors.py:23, .decode("ascii") of a span from a stray BEGIN line through non-ASCII text to a later END) escape;
runtime.py:66 and server.py:175 do not type them. ``device-ai serve`` with a destination whose ca_bundle is missing
ends ``error DAI-999: internal error (FileNotFoundError: ...)`` exit 70; with a folder ``internal error
(IsADirectoryError: [Errno 21] Is a directory: 6)``, naming neither the file nor the destination. Contradicts "a
missing file or one that holds no certificate is a typed refusal naming the file" (and the start refusal "with a typed
ConfigError naming the destination, the setting, the file"). At send the same files are typed (client_context catches
OSError/ValueError: TransportSecurityError naming the file) - the control. Before 2b3e34d serve did not read the
bundle at start (it started, and the sends failed typed).

What holds (figures from this file's tests and scratch probes, run as root on the shared 2 cores):
- Modes 0664, 0646, 0620, 0602, 0666: refused at start (ConfigError "destination pacs: transport.ca_bundle <file> is
  writable by other accounts (mode 0664)", hint chmod go-w) and at send (TransportSecurityError); owned by another
  account (uid 54321) refused at both. ``device-ai serve`` with the bundle at 0664: exit 2, ``error DAI-100:
  destination pacs: transport.ca_bundle ... (mode 0664)``, nothing listening, nothing spooled or queued (the spool's empty folders
  aside). 0644, 0444, 0600, 0400,
  owned by root or by a non-root device account (euid 54321, file uid 54321): loaded, the context trusts exactly ["ca"];
  another CA's file gives ["other-ca"].
- No window: os.fstat patched (in device_ai.config) to replace the name by another CA at 0666 right after the check:
  the context trusts the checked CA (control: a load by name finds the other CA) - the bytes checked are the bytes
  loaded (one descriptor: open, fstat, read).
- DER copy, PEM with UTF-8 text around, two CAs with text between: ["ca"], ["ca"], ["ca", "other-ca"].
- A FIFO at the name: refused within 10 s at start and send ("is not a regular file"); /dev/null refused the same.
- Through the queue (Outbound.send_due): a dimse (tls) and a stow (https) destination with the bundle at 0664 -> a failed
  attempt (send_due 0, nothing in sent/, pending last_error names transport.ca_bundle, the file and mode 0664);
  control at 0644: the attempt fails further on (no DICOM file / no server), not for the bundle.
- Symlinks: os.open follows the link and the check is on the opened target: a link to a good bundle loads, a link to a
  0664 bundle is refused naming the link - what "the check made on the opened file" says.
- SRS-233 / SRS-232 / SRS-216 / batch: tests/node/test_tls_ca_file.py, test_transport_security.py, test_tls_key_modes.py,
  reviews 143, 153 (with test_destination_ca_bundle.py): 110 passed (37 s, -n 2); reviews 156, 138, 141, 144 and
  tests/batch/test_cluster_security.py: 114 passed, 1 FAILED - R1 below. This file: 23 passed, 4 xfailed (9 s, -n 2).

R1 (a test broken by 2b3e34d, not against SRS-234's text; not fixed here: not this reviewer's file) -
tests/review/test_review_141.py::test_i1_d6_pin_without_a_ca_bundle_a_destination_trusts_the_system_store[the site's
ca_bundle (control)] fails: it records create_default_context's ``cafile`` keyword and expects the bundle's path; the
bundle is now given as ``cadata`` (asked == [None]). The behaviour it stands for (one CA trusted) still holds; the pin
needs the lead's update (the commit message's "189 passed" did not include this file).

N1 (a note) - send_stow (outbound.py:412-413) raises InsecureTransportRefused(str(exc)) without the "destination
<name>: " prefix send_dimse adds (outbound.py:362): the STOW reason names the setting, file and mode but not the
destination. The failed attempt still names it (queue entry "destination", the audit entry's details.destination).
N2 (a note: the start refusal of the text is for mode and owner) - a regular file with no certificate (junk, a PEM block
that is no certificate) passes the start check (only read, not parsed); serve starts, and each send is a typed refusal.
N3 (as review 153 N3 for the node's CA) - a folder others can write lets them re-point the bundle's name to a file this
account owns; the text checks the file only.

Defects are strict xfails asserting the text, each beside a pin of today's behaviour and a control that passes; holds are
plain tests; notes are pins. Scratch files only in tmp_path. Record: not written (defects found).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from device_ai.errors import ConfigError

CLI = Path(sys.executable).with_name("device-ai")
REQ = "SRS-234"


def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    folder.mkdir(parents=True, exist_ok=True)
    _certificate(folder, "ca", ca=True)
    _certificate(folder, "other-ca", ca=True)
    for name in ("ca.pem", "other-ca.pem"):
        (folder / name).chmod(0o644)
    return folder


def _destination(bundle: Path, kind: str = "dimse", port: int = 104):  # noqa: ANN202 - (Destination, TransportSecurity)
    from device_ai.config import Destination, TransportSecurity

    security = TransportSecurity(tls=True, ca_bundle=bundle)
    if kind == "stow":
        return Destination(name="web", kind="stow", url=f"https://127.0.0.1:{port}/dicom-web/studies",
                           transport=security), security
    return Destination(name="pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=port,
                       transport=security), security


def _subjects(context: ssl.SSLContext) -> list[str]:
    return sorted(dict(item[0] for item in ca["subject"])["commonName"] for ca in context.get_ca_certs())


def _context(bundle: Path) -> ssl.SSLContext:
    from device_ai.node.transport_security import client_context

    return client_context(_destination(bundle)[1])


def _start(bundle: Path) -> None:
    from device_ai.node.transport_security import check_transport_files

    check_transport_files([_destination(bundle)[0]])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(tmp_path: Path, bundle: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``device-ai serve`` with one dimse destination whose ca_bundle is ``bundle``; expected to refuse at once."""
    home = tmp_path / "home"
    destination = [{"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                    "transport": {"tls": True, "ca_bundle": str(bundle)}}]
    env = {**os.environ, "DEVICE_AI_HOME": str(home), "DEVICE_AI_NODE_PORT": str(_free_port()),
           "DEVICE_AI_NODE_ALLOWED_CALLING_AETS": "TESTSCU", "DEVICE_AI_NODE_MIN_FREE_MB": "0",
           "DEVICE_AI_DEMONSTRATION_MODE": "1", "DEVICE_AI_NODE_DESTINATIONS": json.dumps(destination)}
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "device_ai.cli"]
    return subprocess.run([*command, "serve"], env=env, capture_output=True, text=True, timeout=40, check=False), home


# === D1: an empty bundle =========================================================================================

def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    empty.chmod(0o644)
    return empty


@pytest.mark.req(REQ)
# lead, 2026-12-07: fixed (a bundle that yields no certificate data is refused at start and at send); xfail removed
def test_d1_an_empty_bundle_is_a_typed_refusal_naming_the_file(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    empty = _empty(tmp_path)
    with pytest.raises(TransportSecurityError, match="empty.pem"):
        _context(empty)


@pytest.mark.req(REQ)
def test_d1_pin_an_empty_bundle_trusts_the_system_store(tmp_path: Path) -> None:
    # lead, 2026-12-07, after the fix: the pin asserts the fixed behaviour (was: the start check passed and the send
    # trusted the system's CAs)
    from device_ai.node.transport_security import TransportSecurityError

    empty = _empty(tmp_path)
    with pytest.raises(ConfigError, match="destination pacs: transport.ca_bundle .*empty.pem .*holds no certificate"):
        _start(empty)
    with pytest.raises(TransportSecurityError, match="empty.pem holds no certificate"):
        _context(empty)
    # before 2b3e34d the bundle was given as cafile: OpenSSL refused the empty file (a typed refusal followed)
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context(cafile=str(empty))


@pytest.mark.req(REQ)
def test_d1_control_a_one_newline_bundle_is_refused_and_a_good_one_trusts_exactly_its_ca(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    pki = _pki(tmp_path / "pki")
    newline = tmp_path / "newline.pem"
    newline.write_bytes(b"\n")
    newline.chmod(0o644)
    with pytest.raises(TransportSecurityError, match="newline.pem"):
        _context(newline)
    assert _subjects(_context(pki / "ca.pem")) == ["ca"]


# === D2: missing, a folder, a non-ASCII PEM span: untyped at start ==================================================

def _untyped_cases(tmp_path: Path) -> dict[str, Path]:
    pki = _pki(tmp_path / "pki")
    folder = tmp_path / "ca-folder"
    folder.mkdir()
    stray = tmp_path / "stray.pem"  # a BEGIN line without its END, then an issuer note, then a good certificate
    stray.write_bytes(b"-----BEGIN CERTIFICATE-----\ncut here\n# \xc3\x89metteur: ca\n" + (pki / "ca.pem").read_bytes())
    stray.chmod(0o644)
    return {"missing": tmp_path / "absent.pem", "folder": folder, "stray": stray}


@pytest.mark.req(REQ)
@pytest.mark.parametrize("case", ["missing", "folder", "stray"])
# lead, 2026-12-07: fixed (the start check reads and parses the bundle as a send does, every failure typed)
def test_d2_at_start_an_unreadable_bundle_is_a_typed_refusal_naming_destination_and_file(tmp_path: Path,
                                                                                          case: str) -> None:
    bundle = _untyped_cases(tmp_path)[case]
    with pytest.raises(ConfigError) as refused:
        _start(bundle)
    assert "destination pacs" in refused.value.message and str(bundle) in refused.value.message


@pytest.mark.req(REQ)
def test_d2_pin_at_start_they_escape_untyped_and_serve_reports_an_internal_error(tmp_path: Path) -> None:
    # lead, 2026-12-07, after the fix: the pin asserts the fixed behaviour (was: FileNotFoundError, IsADirectoryError
    # and UnicodeDecodeError escaped, serve exit 70 DAI-999)
    cases = _untyped_cases(tmp_path)
    for case in ("missing", "folder", "stray"):
        with pytest.raises(ConfigError, match="destination pacs: transport.ca_bundle"):
            _start(cases[case])
    served, _home = _serve(tmp_path / "serve", cases["missing"])
    assert served.returncode != 70 and "DAI-100" in served.stderr and "absent.pem" in served.stderr


@pytest.mark.req(REQ)
def test_d2_control_at_send_the_same_files_are_typed_and_serve_types_a_mode_refusal(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    for bundle in _untyped_cases(tmp_path).values():
        with pytest.raises(TransportSecurityError, match=str(bundle)):
            _context(bundle)
    pki = tmp_path / "pki"
    (pki / "ca.pem").chmod(0o664)
    served, home = _serve(tmp_path / "serve", pki / "ca.pem")
    assert served.returncode == 2, served.stderr
    assert f"error DAI-100: destination pacs: transport.ca_bundle {pki / 'ca.pem'} is writable by other accounts " \
           "(mode 0664)" in served.stderr and "chmod go-w" in served.stderr
    assert "listening on" not in served.stdout + served.stderr and "Traceback" not in served.stderr
    node = home / "node"  # refused before anything is spooled or queued (the spool's empty folders aside)
    assert not (node / "outbound").exists() and not [p for p in node.rglob("*") if p.is_file()]


# === holds ========================================================================================================

@pytest.mark.req(REQ)
@pytest.mark.parametrize("mode", [0o664, 0o646, 0o620, 0o602, 0o666])
def test_a_bundle_others_could_change_is_refused_at_start_and_send(tmp_path: Path, mode: int) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    pki = _pki(tmp_path / "pki")
    (pki / "ca.pem").chmod(mode)
    with pytest.raises(ConfigError, match=f"destination pacs: transport.ca_bundle {pki / 'ca.pem'} is writable by "
                                          f"other accounts \\(mode {mode:04o}\\)"):
        _start(pki / "ca.pem")
    with pytest.raises(TransportSecurityError, match=f"transport.ca_bundle .*ca.pem .*mode {mode:04o}"):
        _context(pki / "ca.pem")


@pytest.mark.req(REQ)
@pytest.mark.parametrize("mode", [0o644, 0o444, 0o600, 0o400])
def test_ordinary_bundles_load_and_trust_exactly_their_ca(tmp_path: Path, mode: int) -> None:
    pki = _pki(tmp_path / "pki")
    (pki / "ca.pem").chmod(mode)
    _start(pki / "ca.pem")
    assert _subjects(_context(pki / "ca.pem")) == ["ca"]
    assert _subjects(_context(pki / "other-ca.pem")) == ["other-ca"]  # another CA's file gives that CA


@pytest.mark.req(REQ)
def test_owner_root_or_the_devices_account_loads_another_account_is_refused(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    pki = _pki(tmp_path / "pki")
    bundle = pki / "ca.pem"
    if os.geteuid() == 0:
        os.chown(bundle, 54321, -1)  # another account's file, root running the device
    else:
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: bundle.stat().st_uid + 1)
    with pytest.raises(ConfigError, match="transport.ca_bundle .* is owned by another account"):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="owned by another account"):
        _context(bundle)
    # the device runs as that account (not root): its own file loads
    monkeypatch.setattr("device_ai.config.os.geteuid", lambda: bundle.stat().st_uid)
    _start(bundle)
    assert _subjects(_context(bundle)) == ["ca"]
    monkeypatch.undo()
    if os.geteuid() == 0:  # owned by root, the device running as root: loads
        os.chown(bundle, 0, -1)
        assert _subjects(_context(bundle)) == ["ca"]


@pytest.mark.req(REQ)
def test_no_window_the_name_replaced_right_after_the_check_is_not_what_is_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai import config

    pki = _pki(tmp_path / "pki")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((pki / "ca.pem").read_bytes())
    bundle.chmod(0o644)
    swapped: list[bool] = []
    real_fstat = os.fstat

    def fstat_then_swap(fd: int) -> os.stat_result:
        result = real_fstat(fd)
        if not swapped:  # another account puts its CA, writable by all, at the name after the check
            other = tmp_path / "swap.pem"
            other.write_bytes((pki / "other-ca.pem").read_bytes())
            other.chmod(0o666)
            os.replace(other, bundle)
            swapped.append(True)
        return result

    monkeypatch.setattr(config.os, "fstat", fstat_then_swap)
    assert _subjects(_context(bundle)) == ["ca"]  # the checked file's bytes
    monkeypatch.undo()
    assert swapped and (bundle.stat().st_mode & 0o777) == 0o666  # control: the swap happened
    by_name = ssl.create_default_context(cafile=str(bundle))
    assert _subjects(by_name) == ["other-ca"]


@pytest.mark.req(REQ)
def test_der_and_pem_with_text_around_load(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    der = tmp_path / "ca.der"
    der.write_bytes(x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER))
    framed = tmp_path / "framed.pem"
    framed.write_bytes("# Émetteur: CN=ca\r\n".encode() + (pki / "ca.pem").read_bytes() + b"\ntrailing note\n")
    two = tmp_path / "two.pem"
    two.write_bytes(b"Issuer: ca\n" + (pki / "ca.pem").read_bytes() + "Aussteller: other – CA\n".encode()
                    + (pki / "other-ca.pem").read_bytes())
    for path in (der, framed, two):
        path.chmod(0o644)
        _start(path)
    assert _subjects(_context(der)) == ["ca"] and _subjects(_context(framed)) == ["ca"]
    assert _subjects(_context(two)) == ["ca", "other-ca"]


@pytest.mark.req(REQ)
def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo, 0o644)
    outcome: list[BaseException] = []

    def attempt() -> None:
        for call in (_start, _context):
            try:
                call(fifo)
            except BaseException as exc:  # noqa: BLE001 - judged by the test thread
                outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock it before failing
        with open(fifo, "wb") as writer:
            writer.write(b"x")
        worker.join(5)
        pytest.fail("a FIFO at the bundle's name held the reader")
    assert isinstance(outcome[0], ConfigError) and "is not a regular file" in outcome[0].message
    assert isinstance(outcome[1], TransportSecurityError) and "is not a regular file" in str(outcome[1])
    with pytest.raises(ConfigError, match="/dev/null is not a regular file"):
        _start(Path("/dev/null"))


@pytest.mark.req(REQ)
def test_symlinks_the_opened_target_is_checked(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    pki = _pki(tmp_path / "pki")
    good, bad = tmp_path / "good-link.pem", tmp_path / "bad-link.pem"
    good.symlink_to(pki / "ca.pem")
    _start(good)
    assert _subjects(_context(good)) == ["ca"]
    (pki / "other-ca.pem").chmod(0o664)
    bad.symlink_to(pki / "other-ca.pem")
    with pytest.raises(ConfigError, match="bad-link.pem is writable by other accounts .mode 0664"):
        _start(bad)
    with pytest.raises(TransportSecurityError, match="mode 0664"):
        _context(bad)


@pytest.mark.req(REQ)
@pytest.mark.parametrize("kind", ["dimse", "stow"])
def test_through_the_queue_a_refused_bundle_is_a_failed_attempt_nothing_marked_sent(tmp_path: Path, kind: str) -> None:
    from device_ai.config import Settings
    from device_ai.node.outbound import Outbound, ResultFile

    pki = _pki(tmp_path / "pki")
    bundle = pki / "ca.pem"
    destination, _security = _destination(bundle, kind, port=_free_port())  # nothing listens there
    settings = Settings(node_destinations=[destination], node_send_max_attempts=5)
    root = tmp_path / "node"
    result = root / "work" / "segmentation.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"result")
    queue = Outbound(root, settings)
    queue.enqueue("k", study="s", series="r", generation=1, files=[ResultFile("seg", result, "1.2", "2.25.173")])
    pending = root / "outbound" / "pending" / destination.name
    bundle.chmod(0o664)
    assert queue.send_due() == 0
    [entry] = [json.loads(p.read_text()) for p in pending.glob("*.json")]
    assert entry["attempts"] == 1 and entry["destination"] == destination.name
    assert f"transport.ca_bundle {bundle}" in entry["last_error"] and "mode 0664" in entry["last_error"]
    assert not list((root / "outbound" / "sent").rglob("*.json"))
    bundle.chmod(0o644)  # control: the bundle loads; the attempt fails further on (no DICOM file, no server)
    assert queue.send_due(now=time.time() + 3600) == 0  # past the first failure's backoff
    [entry] = [json.loads(p.read_text()) for p in pending.glob("*.json")]
    assert entry["attempts"] == 2 and "ca_bundle" not in entry["last_error"] and "mode" not in entry["last_error"]


# === notes ========================================================================================================

@pytest.mark.req(REQ)
def test_n1_pin_a_stow_refusal_names_setting_file_mode_but_not_the_destination(tmp_path: Path) -> None:
    from device_ai.node.outbound import InsecureTransportRefused, send_dimse, send_stow

    pki = _pki(tmp_path / "pki")
    (pki / "ca.pem").chmod(0o664)
    web, security = _destination(pki / "ca.pem", "stow")
    with pytest.raises(InsecureTransportRefused) as stow:
        send_stow(web, tmp_path / "unused.dcm", "2.25.173", security)
    assert "transport.ca_bundle" in str(stow.value) and "mode 0664" in str(stow.value)
    assert "web" not in str(stow.value).replace(str(tmp_path), "")
    pacs, security = _destination(pki / "ca.pem")  # control: the dimse refusal names the destination
    with pytest.raises(InsecureTransportRefused, match="^destination pacs: transport.ca_bundle .*mode 0664"):
        send_dimse(pacs, tmp_path / "unused.dcm", "DEVICEAI", security)


@pytest.mark.req(REQ)
def test_n2_pin_a_bundle_without_a_certificate_passes_the_start_check_and_is_refused_at_send(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate\n")
    junk.chmod(0o644)
    # lead, 2026-12-07: parsed at start since the fix of D1/D2 (was: passed the start check)
    with pytest.raises(ConfigError, match="junk.pem cannot be read as certificates"):
        _start(junk)
    with pytest.raises(TransportSecurityError, match="junk.pem"):
        _context(junk)
    junk.chmod(0o664)  # control: its mode is checked at start
    with pytest.raises(ConfigError, match="mode 0664"):
        _start(junk)


@pytest.mark.req(REQ)
def test_n3_pin_a_folder_others_can_write_redirects_the_name(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    bundle = shared / "ca.pem"
    bundle.symlink_to(pki / "other-ca.pem")  # put there by another account; the target is this account's
    assert _subjects(_context(bundle)) == ["other-ca"]
    (pki / "other-ca.pem").chmod(0o666)  # control: the target writable by others is refused
    with pytest.raises(ConfigError, match="writable by other accounts"):
        _start(bundle)
