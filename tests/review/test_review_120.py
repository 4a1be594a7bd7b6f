"""Independent review 120 (reviewer helper-120) of the new security controls SRS-216, SRS-217, SRS-218 and SRS-219
(issue 19, all draft), at HEAD 2187a7b (``git log -1``). helper-120 wrote none of the code, the requirements,
the threats or their tests. Reviewed (``git show``): 35de5b7 and 512e23e (SRS-216: node/transport_security.py,
node/outbound.py, config.py TransportSecurity and Destination.transport), 6e3bef5 (SRS-217..219: atomic_io.py
Access, its callers, config.py _read_config_text, node/hot_folder.py _folders), against the requirement texts and
security/threats.yaml THR-004, THR-010, THR-011, THR-014, THR-018, THR-040.

1. SRS-216 (transport security): HOLDS.
   Verification cannot be switched off: client_context (transport_security.py:31-50) sets CERT_REQUIRED
   whatever check_hostname says (43) and TLS 1.2 as minimum (41); TransportSecurity (config.py:43-59) has no
   field that turns verification off and forbids unknown ones (``verify: false`` is refused, test_h01, test_h02).
   A CA bundle or client certificate that cannot be loaded is InsecureTransportRefused naming the file, before
   any connection (outbound.py:312-315, 361-366; test_h03). A failed TLS send is never marked sent: send raises
   a SendFailed subclass (CertificateRefused 326, 385) and _attempt (191-211) writes sent/ only after send
   returned; any other exception is counted as a failure (199-202). Probed through the queue with the
   destination's configured transport block: the send got exactly that block, the entry stays pending with the
   reason and sent/ is empty (test_h04; control: a destination without a block is sent with None). Plain http
   STOW-RS is refused also when the scheme is written in capitals (urlsplit lowercases it, 79; test_h05).
   The configured destination uses its block: Outbound takes it from settings.node_destinations (128-129).
2. SRS-217 (results owner-only): HOLDS. Access.PRIVATE/GROUP give 0600/0700 and 0640/0750 under umask 000, 022
   and 077 (atomic_io.py:67-73; test_h10; control: PUBLIC follows the umask). Every writer of analyze/explain
   results takes the caller's access with PRIVATE as default (inference/analyze.py:223, explain/outputs.py:41,
   batch/analyze_work.py:44; test_h11); no Access.PUBLIC remains in app/, inference/, explain/, batch/ or
   dicom/ (test_h12; control: the same scan finds node/outbound.py's). See N2 and N3.
3. SRS-218 (configuration file): HOLDS. The check is made with fstat on the opened handle and the text read
   from that same handle (config.py:323-334): no check-then-open race. A symlink is followed to its target and
   the target is judged (a link to a 0666 file refused, a link to a 0600 file read; test_h20); the same refusal
   for DEVICE_AI_CONFIG as for --config (test_h21); the ConfigError names the file and its mode or uid, and the
   CLI prints it without traceback and exits non-zero (test_h22; control: 0600 reads, exit 0). Not covered, and
   said so in THR-040 and SRS-218's rationale: the environment (DEVICE_AI_* overrides the file), the folder
   holding the file, DEVICE_AI_HOME.
4. SRS-219 (world-writable IN): the text holds (IN 0777 and 01777 refused, also through a symlink to such a
   folder, since stat follows it: hot_folder.py:189-193; test_h30) but DEFECT 1: the control does not cover
   what THR-004's rationale claims.
5. Threats: THR-010/011/014 keep E3 and say why; THR-018 says the node's OUT/rejected keep the umask's modes;
   THR-040 keeps E2 and names environment, folder and account. Their rationales and SRS-216's still say "the
   settings are not yet fields of node_destinations, so no site can switch TLS on" (threats.yaml:174, 192, 238;
   requirements.yaml SRS-216 rationale), stale since 512e23e (N1): understated, not overstated.

Defect (a strict xfail beside a passing pin and a control):

1. (SRS-219, THR-004) hot_folder.py:189-193 checks the mode of IN only; candidates() (247-280) enters every
   non-hidden folder under IN (to MAX_DEPTH) and takes its files. IN 0755 holding a folder 0777 (an exporter
   running with umask 000 makes exactly that) lets every account of the host drop a study there, and the node
   takes it as the site's: THR-004's rationale ("so only the accounts the site lets write IN (owner or group)
   can drop files") and its residual E2 rest on a claim the control does not make. Pin
   test_d1_a_file_in_a_world_writable_folder_under_in_is_taken; control: the same file with the folder 0755 is
   taken too (the scan works) and IN 0777 itself is refused. Strict xfail
   test_d1_a_world_writable_folder_under_in_is_not_taken. Fix: skip (and report) a folder under IN whose
   other-write bit is set, as IN itself; or, if that is not wanted, state the gap in SRS-219's text and
   THR-004's rationale and turn the xfail into a test of the stated behaviour.

Lead, 2026-12-07: defect 1 fixed (hot_folder.candidates does not enter a folder under IN that every account can
write, and warns once); the pin asserts the fix and the xfail is a plain test. Not re-reviewed.

Notes (no xfail):
N1 SRS-216's rationale and THR-010/011/014's rationales are stale (see 5): a site can now configure a
   destination's transport block (512e23e). The residual E3 is still defensible (C-STORE plain by default,
   results unsigned); the text should say why E3 stays now that TLS can be switched on.
N2 SRS-217's text says "also through the node"; the node's OUT copies and folder destinations are written with
   Access.PUBLIC (outbound.py:279-282, hot_folder.py:208, 392, 413), 0644 under umask 022. THR-018 says so; the
   requirement text does not, and could exclude the hand-over folders in so many words.
N3 With results_group_readable, batch unit results (0750/0640) lie under the batch output folder made 0700
   (batch/job_root.py:54-55, analyze_job.py:201): the group cannot reach them. Fails closed, not open.
N4 SRS-219 is checked once, when watch starts: IN made 0777 afterwards is taken from without a word.
N5 send_stow decides the site's CA context by ``request_url.startswith("https:")`` (outbound.py:362) while
   check_stow_url lowercases the scheme: an ``HTTPS://`` URL with a transport block is verified against the
   system store and without the client certificate (fails closed against a private CA).

Mutation check (edits in copies /tmp/h120/mut/<name> of src/ and tests/, by /tmp/h120/mutate.py, this file run
there with the copy's src/ first on PYTHONPATH): T1 verify_mode optional without check_hostname (transport_security
43): h01[False]; T2 http test by a lower-case prefix (79): h05 (2); T3 Outbound ignores the configured blocks
(outbound 129): h04; A1 GROUP files by the umask (atomic_io 68): h10 (3); C1 lstat of the name, not fstat
(config 324): h20; H1 lstat of IN (hot_folder 189): h30 (3). 6 behaviour mutants, 6 killed. D1fix (skip a folder
with other-write under IN): the pin fails and the xfail XPASSes (strict: fails).

NOT checked: real TLS peers (the author's tests/node/test_transport_security.py does that on 127.0.0.1 and was
run: see the commit); POSIX ACLs beyond their mask in the group bits; a FIFO as configuration file (open blocks).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai.atomic_io import Access, atomic_write_bytes, staged_directory
from device_ai.config import Settings, TransportSecurity, load_settings
from device_ai.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "device_ai"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- SRS-216 ---------------------------------------------------------------------------------

def _verifies(context: ssl.SSLContext) -> bool:
    return context.verify_mode == ssl.CERT_REQUIRED and context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.req("SRS-216")
@pytest.mark.parametrize("check_hostname", [True, False])
def test_h01_the_client_context_always_verifies_the_server(check_hostname: bool) -> None:
    from device_ai.node.transport_security import client_context

    context = client_context(TransportSecurity(tls=True, check_hostname=check_hostname))
    assert _verifies(context) and context.check_hostname is check_hostname
    assert not _verifies(ssl._create_unverified_context())  # control: an unverified context fails the check


@pytest.mark.req("SRS-216")
def test_h02_no_setting_switches_verification_off() -> None:
    from pydantic import ValidationError

    assert set(TransportSecurity.model_fields) == {"tls", "ca_bundle", "client_certificate", "client_key",
                                                  "check_hostname", "allow_insecure_http"}
    for off in ({"verify": False}, {"verify_mode": "none"}, {"insecure": True}):
        with pytest.raises(ValidationError):
            TransportSecurity(tls=True, **off)
    assert TransportSecurity(tls=True, check_hostname=False).tls  # control: a known field is taken


@pytest.mark.req("SRS-216")
def test_h03_an_unloadable_client_certificate_is_refused_before_connecting(tmp_path: Path) -> None:
    from device_ai.config import Destination
    from device_ai.node.outbound import InsecureTransportRefused, SendFailed, send_dimse

    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    key.chmod(0o600)  # owner-only, so that the load itself is what fails (a key others can read: SRS-232)
    dest = Destination(name="pacs", kind="dimse", ae_title="DEST", host="127.0.0.1", port=9, timeout_s=1)
    with pytest.raises(InsecureTransportRefused, match=r"client certificate .*client\.pem") as caught:
        send_dimse(dest, tmp_path / "never-read.dcm", "DEVICEAI",
                   TransportSecurity(tls=True, client_certificate=cert, client_key=key))
    assert isinstance(caught.value, SendFailed)  # a failed attempt of the queue, never an internal error


@pytest.mark.req("SRS-216")
def test_h04_a_configured_transport_block_is_used_and_a_refused_send_stays_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node import outbound as outbound_module
    from device_ai.node.outbound import CertificateRefused, Outbound, ResultFile
    from tests.node.conftest import context, node_env, spool

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    node_env(monkeypatch, node_send_max_attempts=5, node_destinations=json.dumps([
        {"name": "pacs", "kind": "dimse", "ae_title": "DEST", "host": "127.0.0.1", "port": 11112,
         "transport": {"tls": True, "ca_bundle": str(tmp_path / "site-ca.pem")}},
        {"name": "plain", "kind": "dimse", "ae_title": "PLAIN", "host": "127.0.0.1", "port": 11113}]))
    seen: dict[str, object] = {}

    def refuse(dest, file, entry, settings, security=None):  # noqa: ANN001, ANN202
        seen[dest.name] = security
        raise CertificateRefused(f"TLS with {dest.name} refused: certificate verify failed")

    monkeypatch.setattr(outbound_module, "send", refuse)
    queue = Outbound(spool(), context().settings)
    result = spool() / "work" / "k" / "segmentation.dcm"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(b"synthetic")
    queue.enqueue("k.gen-0001", study="s", series="x", generation=1,
                  files=[ResultFile("seg", result, outbound_module.SEG_STORAGE, "2.25.120")])
    assert queue.send_due() == 0
    assert seen["pacs"] == TransportSecurity(tls=True, ca_bundle=tmp_path / "site-ca.pem")
    assert seen["plain"] is None  # control: no block, plain as before
    for dest in ("pacs", "plain"):
        assert list((spool() / "outbound" / "sent" / dest).glob("*")) == []
        pending = [json.loads(p.read_text()) for p in (spool() / "outbound" / "pending" / dest).glob("*.json")]
        assert len(pending) == 1 and "certificate verify failed" in pending[0]["last_error"]


@pytest.mark.req("SRS-216")
@pytest.mark.parametrize("url", ["http://pacs/dicom-web/studies", "HTTP://pacs/dicom-web/studies",
                                 "Http://pacs/dicom-web/studies"])
def test_h05_plain_http_stow_is_refused_whatever_the_case_of_its_scheme(url: str) -> None:
    from device_ai.node.transport_security import TransportSecurityError, check_stow_url

    with pytest.raises(TransportSecurityError, match="plain http"):
        check_stow_url(url, TransportSecurity(), "pacs")
    check_stow_url(url, TransportSecurity(allow_insecure_http=True), "pacs")  # controls: allowed, https
    check_stow_url("https://pacs/dicom-web/studies", TransportSecurity(), "pacs")


# --- SRS-217 ---------------------------------------------------------------------------------

@pytest.mark.req("SRS-217")
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_h10_result_modes_do_not_follow_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        for access in (Access.PRIVATE, Access.GROUP, Access.PUBLIC):
            with staged_directory(tmp_path / access.value, access=access) as stage:
                atomic_write_bytes(stage / "seg.dcm", b"x", access=access)
    finally:
        os.umask(previous)
    assert (_mode(tmp_path / "private"), _mode(tmp_path / "private" / "seg.dcm")) == (0o700, 0o600)
    assert (_mode(tmp_path / "group"), _mode(tmp_path / "group" / "seg.dcm")) == (0o750, 0o640)
    # control: PUBLIC follows the umask, so the check above would see a umask-derived mode
    assert _mode(tmp_path / "public" / "seg.dcm") == 0o666 & ~umask


@pytest.mark.req("SRS-217")
def test_h11_every_result_writer_defaults_to_private(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from device_ai.batch.analyze_work import SeriesTask
    from device_ai.explain.outputs import write_explanations
    from device_ai.inference.analyze import analyze

    for function in (analyze, write_explanations):
        assert inspect.signature(function).parameters["access"].default is Access.PRIVATE, function
    assert SeriesTask.__dataclass_fields__["access"].default is Access.PRIVATE
    monkeypatch.delenv("DEVICE_AI_RESULTS_GROUP_READABLE", raising=False)
    assert Settings().results_group_readable is False
    monkeypatch.setenv("DEVICE_AI_RESULTS_GROUP_READABLE", "true")
    assert Settings().results_group_readable is True  # control: the setting is read


@pytest.mark.req("SRS-217")
def test_h12_no_result_writer_asks_for_the_umask_modes() -> None:
    def public_uses(folder: Path) -> list[str]:
        return [f"{p.relative_to(SRC)}:{n}" for p in sorted(folder.rglob("*.py"))
                for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                if re.search(r"(?<!`)Access\.PUBLIC", line)]  # code, not a docstring's ``Access.PUBLIC``

    for part in ("app", "inference", "explain", "batch", "dicom"):
        assert public_uses(SRC / part) == [], part
    assert public_uses(SRC / "node")  # control: the scan finds the node's hand-over writes (N2)


# --- SRS-218 ---------------------------------------------------------------------------------

def _config(path: Path, mode: int, text: str = "max_files: 7\n") -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.req("SRS-218")
def test_h20_a_link_is_judged_by_the_file_it_names(tmp_path: Path) -> None:
    open_target = _config(tmp_path / "open.yaml", 0o666)
    closed_target = _config(tmp_path / "closed.yaml", 0o600)
    (tmp_path / "to-open.yaml").symlink_to(open_target)
    (tmp_path / "to-closed.yaml").symlink_to(closed_target)
    with pytest.raises(ConfigError, match=r"to-open\.yaml is writable by other accounts \(mode 0666\)"):
        load_settings(tmp_path / "to-open.yaml")
    assert load_settings(tmp_path / "to-closed.yaml").max_files == 7  # control


@pytest.mark.req("SRS-218")
def test_h21_the_environment_path_is_checked_like_the_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVICE_AI_MAX_FILES", raising=False)
    monkeypatch.setenv("DEVICE_AI_CONFIG", str(_config(tmp_path / "group.yaml", 0o620)))
    with pytest.raises(ConfigError, match=r"group\.yaml is writable by other accounts \(mode 0620\)"):
        load_settings()
    monkeypatch.setenv("DEVICE_AI_CONFIG", str(_config(tmp_path / "own.yaml", 0o644)))
    assert load_settings().max_files == 7  # control


@pytest.mark.req("SRS-218")
def test_h22_the_cli_refuses_without_traceback_and_names_the_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVICE_AI_")}
    env["DEVICE_AI_HOME"] = str(tmp_path / "home")
    command = [str(Path(sys.executable).parent / "device-ai"), "config", "show", "--config"]
    refused = subprocess.run([*command, str(_config(tmp_path / "shared.yaml", 0o646))], capture_output=True,
                             text=True, env=env, timeout=120, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr + refused.stdout
    assert re.search(r"shared\.yaml is writable by other accounts \(mode 0646\)", refused.stderr)
    assert refused.stdout == ""
    read = subprocess.run([*command, str(_config(tmp_path / "own.yaml", 0o600))], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert read.returncode == 0, read.stderr  # control


@pytest.mark.req("SRS-218")
def test_h23_another_owner_is_named_by_uid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path / "theirs.yaml", 0o644)
    if os.geteuid() == 0:
        os.chown(path, 54321, -1)
        uid = 54321
    else:
        uid = path.stat().st_uid
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: uid + 1)
    with pytest.raises(ConfigError, match=rf"theirs\.yaml is owned by another account \(uid {uid}\)"):
        load_settings(path)
    if os.geteuid() == 0:
        os.chown(path, 0, -1)
        assert load_settings(path).max_files == 7  # control: root's own file is read


# --- SRS-219 ---------------------------------------------------------------------------------

def _hot_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inbox: Path):  # noqa: ANN202 - HotFolder
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    node_env(monkeypatch)
    return HotFolder(context(), inbox, tmp_path / "out", settle_s=1.0, pipeline=False)


@pytest.mark.req("SRS-219")
@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o703])
def test_h30_in_writable_by_every_account_is_refused_also_through_a_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    inbox.chmod(mode)
    (tmp_path / "link").symlink_to(inbox)
    for given in (inbox, tmp_path / "link"):
        with pytest.raises(ConfigError, match=f"writable by every account \\(mode {mode:04o}\\)"):
            _hot_folder(tmp_path, monkeypatch, given)
    assert not (tmp_path / "out").exists()
    inbox.chmod(0o770)
    _hot_folder(tmp_path, monkeypatch, tmp_path / "link")  # control


def _taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder_mode: int) -> bool:
    inbox = tmp_path / "in"
    inbox.mkdir(exist_ok=True)
    inbox.chmod(0o755)
    drop = inbox / "export"
    drop.mkdir(exist_ok=True)
    (drop / "forged.dcm").write_bytes(b"synthetic")
    drop.chmod(folder_mode)
    watcher = _hot_folder(tmp_path, monkeypatch, inbox)
    return any(path.name == "forged.dcm" for path, _ in watcher.candidates())


@pytest.mark.req("SRS-219")
def test_d1_a_file_in_a_world_writable_folder_under_in_is_no_longer_taken(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin of defect 1, inverted by the lead's fix: IN 0755 passes the check, its folder 0777 is not entered."""
    assert not _taken(tmp_path, monkeypatch, 0o777)
    assert _taken(tmp_path, monkeypatch, 0o755)  # control: the scan takes files of folders under IN
    (tmp_path / "in").chmod(0o777)  # control: IN itself 0777 is refused
    with pytest.raises(ConfigError, match="writable by every account"):
        _hot_folder(tmp_path, monkeypatch, tmp_path / "in")


@pytest.mark.req("SRS-219")
def test_d1_a_world_writable_folder_under_in_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        assert not _taken(tmp_path, monkeypatch, 0o777)
    except ConfigError:
        pass  # refusing the whole IN would also fix it
