"""Independent re-review 143 (reviewer helper-143) of helper-137's file-mode controls (3e9b70c; issue 19 THR-013,
THR-015, THR-016, THR-018, THR-028), at the content the lead approved subject to this re-review (107b505; src/ is
3e9b70c's). helper-143 wrote none of these items, their code or their tests. Read: reviews 134 and 138 (their
helper-137 paragraphs), `git show 3e9b70c`, config.py, keystore.py, atomic_io.py, node/{hot_folder,outbound,
runtime,server,transport_security}.py, batch/cluster_security.py, dicom/deidentify/run.py, the items below and
helper-137's tests (tests/test_local_threat_controls.py, tests/node/test_tls_key_modes.py). Scratch probes (not
kept) under /tmp/h143. Line numbers: 107b505's.

ITEMS
  DEFECT SRS-231 / THR-013 (D1), behavioural: the secret check looks for the key ``node_destinations`` exactly
    (config.py:424, ``values.get("node_destinations")``), but Settings takes setting names in any case
    (pydantic-settings, case_sensitive off): a 0644 file that writes ``NODE_DESTINATIONS:`` (the spelling of the
    environment variable, DEVICE_AI_NODE_DESTINATIONS) or ``Node_Destinations:`` with a password in a stow url is
    read, and the password used (test_d1_pin; control: the same file with the lower-case key is refused; strict
    xfail test_d1_xfail). THR-013's "the configuration file that holds them is read only when no account but its
    owner can read it" is therefore untrue for that spelling (E3 again for such a file).
    What holds (test_srs231_*): a password, a user name alone, a query value, a url that does not parse, a url
    given to a dimse destination, a destination built through a YAML anchor/merge key - each refused at 0644, 0640,
    0604 and 0440, naming the file, the destination, the mode and chmod 600 and never echoing the password; the
    mode is the opened file's (a link to a 0644 file is refused, a link to a 0600 file read); a 0600 file owned by
    root is read by root, at 0644 refused; a destination set in the environment does not unlock a file with a
    secret (the file is refused before the environment wins). Controls: each at 0600 loads. No SecretStr, token or
    credential field exists besides the url (SECRET_FIELDS is empty, config.py:31; passphrases and keys are files
    checked by the key store).
  HOLDS SRS-232 / THR-028: node_tls_key_file (server.py:104, in NodeServer.__init__ before any listening or spool),
    a destination's transport.client_key (runtime.py:65 at serve/watch start; transport_security.py:49 at each
    send) and batch_tls_key_file (cluster_security.py:104, DAI-124) all go through keystore.read_private_key_file
    (mode of the opened file, owner this account or root). Probes: a client key made 0644 after the node started
    fails the next send as InsecureTransportRefused (a SendFailed: a failed attempt, nothing sent), naming
    transport.client_key and 0644 (control: at 0600 the send gets to the network); a link to a 0600 key owned by
    another account is refused by all three (control: a link to this account's 0600 key is taken); `device-ai serve`
    with a 0644 key exits 2 with "error DAI-100" naming node_tls_key_file and chmod 600, no traceback, nothing in
    DEVICE_AI_HOME; watch with a 0640 client key refuses to start before OUT exists (control: 0600 starts).
  HOLDS SRS-217 (THR-018, THR-015's prevention, IF-RESULT-FILES): folder destinations and watch's OUT get 0700/0600
    or, with results_group_readable, 0750/0640 also under umask 077 (make_dirs_durably's chmod, atomic_io.py:130;
    write_once's fchmod); OUT made by watch 0750 under umask 077 with the option; an existing OUT, destination path
    or study folder keeps the site's modes as the text says (not refused, not tightened), the new series folder and
    file below it are owner-only (test_srs217_*).
  HOLDS SRS-077 / RC-028 (THR-016): the polyglot is kept byte for byte, 0600 in 0700 folders, also when the move
    crosses file systems (the copy of hot_folder.py:672 is 0600 under umask 022, the reason file 0600) and in
    subfolders; rejected folders of 0750 and 0701 are refused at start, 0700 used; a --rejected outside OUT is made
    0700 with its parents; anonymize's quarantine made inside new folders is 0700 all the way, an existing 0755
    quarantine folder is kept (SRS-077 says "folders it creates") with 0600 copies and index; the de-identified
    output has a zero preamble (control). Nothing else watch writes outside DEVICE_AI_HOME (owner-only) escapes
    these modes: reason files 0600, temporary files mkstemp 0600, the queue and ledger are in the spool.
  HOLDS SRS-220: with good credentials the batch layer runs units on a site scheduler over TLS (in-process TLS
    cluster, engine.run), and a group-readable key is DAI-124 (control). tests/batch/test_cluster_security.py
    (incl. units on a process cluster over TLS) passed at this content.
  DEFECT THR-015 and THR-018 (D2), text: each states a status its control no longer has. THR-015 (threats.yaml:324)
    "SRS-222 is draft, so the threat stays open until it is approved" - SRS-222 is approved (helper-137 rewrote this
    rationale and kept the sentence); THR-018 (threats.yaml:380) "(SRS-217 back to draft until then)" - SRS-217 is
    approved (107b505). Reviews 134 T7 and 138 D4/D5 found the same kind of stale sentence (test_d2_pin, strict
    xfail test_d2_xfail). The ratings and the rest of both rationales hold.
  HOLDS THR-016, IF-RESULT-FILES (interfaces.yaml, folder destinations and OUT as analyze's results) and README's
    changed lines (58-63), with N1.

Lead, 2026-12-07 (not re-reviewed): D1 fixed - secrets_in finds node_destinations in any case (config.py); D2
fixed - THR-015's "SRS-222 is draft" and THR-018's "SRS-217 back to draft" sentences removed (THR-018 names review
143). The pins assert the fixes and the xfails are plain tests. SRS-231 back to draft (its fix is not re-reviewed).

Notes (no defect):
N1 README:59-60 "refused files and reason files 0600" and THR-016 "created 0700 with 0600 files": a refused file
   another account dropped into IN keeps its owner and mode (e.g. 0644) inside the 0700 folder (hot_folder.py:680
   changes only files this account owns), as SRS-077 states; no other account can reach it through the folder, so
   the claim of the control holds, the wording does not (test_n1).
N2 The key files are checked, then loaded again by name (server.py:108, transport_security.py:53): who can swap the
   name between the two can already write the key's folder; not a disclosure path.
N3 SRS-231 covers userinfo and query values; a token in a url's path (…/token/ABC/studies) or fragment is not
   treated as a secret (config show does not mask a path either): a site that puts a token there is not protected.
N4 A send repeated after a crash that finds an identical file (write_once returns False) leaves that file's mode as
   it is - a file written before 3e9b70c keeps 0644 (outbound.py:329).
N5 _owner_only (hot_folder.py:680) fchmods the inode: a hard link in IN to a file this account owns elsewhere makes
   that other name 0600 too (Linux protected_hardlinks keeps other accounts from linking files they cannot write).

Mutation check (a copy of src/ from `git archive HEAD` in /tmp/h143src, PYTHONPATH; each control undone alone):
16 of 16 killed - the secret check, the key store's owner check, client_context's, tls_context's and the runtime's
key checks, the batch key read as a plain owned file, make_dirs_durably's chmod, folder copies with the umask's
modes, watch's OUT chmod, the rejected folder's start check, the cross-device copy with the source's mode,
_owner_only, a umask-mode reason file, the quarantine made by mkdir, rejected subfolders and the rejected folder
with the umask's modes. A case-blind lookup in secrets_in (D1's fix) turns test_d1_pin red and test_d1_xfail into
an XPASS (strict: red).

Records: `device-ai trace review ID --by "helper-143 (independent re-review 143)" --independent` for SRS-077,
SRS-217, SRS-220, SRS-232, RC-028, THR-016, THR-028, IF-RESULT-FILES; none for SRS-231, THR-013 (D1), THR-015,
THR-018 (D2).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path

import pytest
import yaml

from device_ai.config import load_settings
from device_ai.errors import ConfigError
from tests import fast_yaml

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "FAKE-PASSWORD-143"
SECRET_URL = f"https://fake-user:{PASSWORD}@pacs.example.test/dicom-web/studies"
OTHER_UID = 54321  # an account that does not run the device (synthetic)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _config(folder: Path, text: str, mode: int, name: str = "device-ai.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _stow(url: str, key: str = "node_destinations") -> str:
    return f"{key}:\n- {{name: pacs, kind: stow, url: '{url}'}}\n"


def _owned_by_another_account(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``path`` owned by another account: chown as root, else this process's uid moved for the key store."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, -1, follow_symlinks=True)
    else:
        monkeypatch.setattr("device_ai.keystore.os.geteuid", lambda: os.stat(path).st_uid + 1)


# === D1 SRS-231 / THR-013: a setting name in another case carries a password past the check ====================

@pytest.mark.req("SRS-231", "SRS-218")
@pytest.mark.parametrize("key", ["NODE_DESTINATIONS", "Node_Destinations"])
def test_d1_pin_a_setting_name_in_another_case_no_longer_carries_a_password_past_the_check(
        tmp_path: Path, key: str) -> None:
    # lead's fix: secrets_in finds node_destinations in any case (was: the password read from a 0644 file)
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path, _stow(SECRET_URL, key), 0o644))
    assert load_settings(_config(tmp_path, _stow(SECRET_URL, key), 0o600)).node_destinations[0].credentials == (
        "fake-user", PASSWORD)  # control: owner-only, read
    # the same file with the name as documented is refused
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path, _stow(SECRET_URL), 0o644))


@pytest.mark.req("SRS-231")
def test_d1_xfail_a_password_is_refused_whatever_the_case_of_the_setting_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path, _stow(SECRET_URL, "NODE_DESTINATIONS"), 0o644))


# === SRS-231: every place a secret sits, every mode others can read ==========================================

SECRET_PLACES = {
    "password": _stow(SECRET_URL),
    "user name alone": _stow("https://fake-user@pacs.example.test/dicom-web/studies"),
    "query value": _stow("https://pacs.example.test/dicom-web/studies?access_token=FAKE-TOKEN-143"),
    "dimse destination with a url": ("node_destinations:\n- {name: pacs, kind: dimse, ae_title: PACS, host: "
                                     f"127.0.0.1, port: 104, url: '{SECRET_URL}'}}\n"),
    "anchor and merge key": (f"node_destinations:\n- &pacs {{name: pacs, kind: stow, url: '{SECRET_URL}'}}\n"
                             "- {<<: *pacs, name: pacs2}\n"),
}


@pytest.mark.req("SRS-231")
@pytest.mark.parametrize("place", sorted(SECRET_PLACES))
def test_srs231_each_place_of_a_secret_is_refused_at_each_mode_others_can_read(tmp_path: Path, place: str) -> None:
    text = SECRET_PLACES[place]
    for mode in (0o644, 0o640, 0o604, 0o440):
        path = _config(tmp_path, text, mode)
        with pytest.raises(ConfigError, match=f"holds a secret .*destination pacs.*mode {mode:04o}") as caught:
            load_settings(path)
        said = caught.value.message + (caught.value.hint or "")
        assert str(path) in said and f"chmod 600 {path}" in said
        assert PASSWORD not in said and "FAKE-TOKEN-143" not in said  # never echoed
    for mode in (0o600, 0o400):  # control: only the owner can read it
        assert load_settings(_config(tmp_path, text, mode)).node_destinations[0].name == "pacs"


@pytest.mark.req("SRS-231")
def test_srs231_a_url_that_does_not_parse_counts_as_a_secret(tmp_path: Path) -> None:
    misparsed = _stow(f"https://fake-user:{PASSWORD}/x@pacs.example.test/dicom-web/studies")  # '/' unencoded
    with pytest.raises(ConfigError, match="holds a secret") as caught:
        load_settings(_config(tmp_path, misparsed, 0o644))
    assert PASSWORD not in caught.value.message
    # control: at 0600 the same url gets to the settings' own check, which refuses it for not parsing
    with pytest.raises(ConfigError, match="does not parse") as parsed:
        load_settings(_config(tmp_path, misparsed, 0o600))
    assert PASSWORD not in parsed.value.message


@pytest.mark.req("SRS-231")
def test_srs231_the_mode_is_the_opened_files_and_root_may_own_it(tmp_path: Path) -> None:
    target = _config(tmp_path / "real", _stow(SECRET_URL), 0o644)
    link = tmp_path / "device-ai.yaml"
    link.symlink_to(target)  # the link's own mode (0777) says nothing
    with pytest.raises(ConfigError, match="holds a secret .*mode 0644"):
        load_settings(link)
    target.chmod(0o600)  # control: the file read is owner-only
    assert load_settings(link).node_destinations[0].credentials == ("fake-user", PASSWORD)
    if os.geteuid() == 0:  # a file root owns is as the device's own (SRS-218); its mode still counts
        os.chown(target, 0, 0)
        assert load_settings(target).node_destinations
        target.chmod(0o644)
        with pytest.raises(ConfigError, match="holds a secret"):
            load_settings(target)


@pytest.mark.req("SRS-231")
def test_srs231_a_destination_from_the_environment_does_not_unlock_a_file_with_a_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS",
                       json.dumps([{"name": "pacs", "kind": "stow", "url": "https://pacs.example.test/x"}]))
    with pytest.raises(ConfigError, match="holds a secret"):  # refused before the environment wins
        load_settings(_config(tmp_path, _stow(SECRET_URL), 0o644))
    # control: without the secret in the file, the environment's destination is used
    assert load_settings(_config(tmp_path, "max_files: 7\n", 0o644)).node_destinations[0].credentials is None


# === SRS-232 / THR-028: TLS private keys =====================================================================

def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    folder.mkdir(parents=True, exist_ok=True)
    ca = _certificate(folder, "ca", ca=True)
    _certificate(folder, "server", ca)
    _certificate(folder, "client", ca)
    return folder


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


@pytest.mark.req("SRS-232", "SRS-216")
def test_srs232_a_client_key_made_readable_after_the_start_fails_the_next_send(tmp_path: Path) -> None:
    from device_ai.config import Destination, Settings, TransportSecurity
    from device_ai.dicom.writer import part10_bytes
    from device_ai.node.outbound import InsecureTransportRefused, SendFailed, send
    from device_ai.node.transport_security import check_transport_files
    from tests.dicom.deid_corpus import ct_slice

    pki = _pki(tmp_path / "pki")
    security = TransportSecurity(tls=True, ca_bundle=pki / "ca.pem", client_certificate=pki / "client.pem",
                                 client_key=pki / "client.key")
    pacs = Destination(name="pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=_closed_port(),
                       timeout_s=2, transport=security)
    check_transport_files([pacs])  # the node started with an owner-only key
    result = tmp_path / "segmentation.dcm"
    result.write_bytes(part10_bytes(ct_slice(0)))
    entry = {"study": "s", "series": "r", "generation": 1, "sop_instance_uid": "2.25.143"}
    (pki / "client.key").chmod(0o644)  # then someone opened it
    with pytest.raises(InsecureTransportRefused, match="destination pacs: transport.client_key .* mode 0644"):
        send(pacs, result, entry, Settings(), security)
    assert issubclass(InsecureTransportRefused, SendFailed)  # the queue counts it as a failed attempt
    (pki / "client.key").chmod(0o600)  # control: the key is taken and the send gets as far as the network
    with pytest.raises(SendFailed) as network:
        send(pacs, result, entry, Settings(), security)
    assert not isinstance(network.value, InsecureTransportRefused) and "client_key" not in str(network.value)
    assert "no association" in str(network.value)  # it tried the (closed) port


@pytest.mark.req("SRS-232", "SRS-220")
def test_srs232_a_link_to_an_owner_only_key_of_another_account_is_refused_everywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from device_ai.batch.cluster_security import site_scheduler
    from device_ai.batch.errors import SchedulerNotSecured
    from device_ai.config import Destination, Settings, TransportSecurity
    from device_ai.node.server import tls_context
    from device_ai.node.transport_security import check_transport_files
    from tests.batch.site_tls import site_credentials

    pki = _pki(tmp_path / "pki")
    site = site_credentials(tmp_path / "site")
    links = {name: tmp_path / f"{name}-link.key" for name in ("server", "client", "batch")}
    links["server"].symlink_to(pki / "server.key")
    links["client"].symlink_to(pki / "client.key")
    links["batch"].symlink_to(site.client_key)
    node = SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=pki / "server.pem",
                                                    node_tls_key_file=links["server"], node_tls_ca_file=None))
    pacs = Destination(name="pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=104,
                       transport=TransportSecurity(tls=True, ca_bundle=pki / "ca.pem",
                                                   client_certificate=pki / "client.pem", client_key=links["client"]))
    batch = Settings(**{**site.device_settings(), "batch_tls_key_file": links["batch"]})
    # control: links to this account's owner-only keys are taken
    assert tls_context(node) is not None
    check_transport_files([pacs])
    assert site_scheduler("tls://127.0.0.1:8786", batch) is not None
    for target in (pki / "server.key", pki / "client.key", site.client_key):
        assert _mode(target) == 0o600
        _owned_by_another_account(target, monkeypatch)
    with pytest.raises(ConfigError, match="node_tls_key_file .*server-link.key is owned by another account") as c1:
        tls_context(node)
    with pytest.raises(ConfigError, match="destination pacs: transport.client_key .* owned by another account") as c2:
        check_transport_files([pacs])
    with pytest.raises(SchedulerNotSecured, match="batch_tls_key_file .* owned by another account") as c3:
        site_scheduler("tls://127.0.0.1:8786", batch)
    assert (c1.value.code, c2.value.code, c3.value.code) == ("DAI-100", "DAI-100", "DAI-124")
    assert all("chown" in (c.value.hint or "") for c in (c1, c2, c3))


@pytest.mark.req("SRS-232", "SRS-099")
def test_srs232_serve_refuses_a_readable_key_with_dai_100_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    from device_ai.cli import main
    from device_ai.node.server import NodeServer
    from tests.node.conftest import context, node_env

    monkeypatch.setattr(signal, "signal", lambda *_: None)  # serve installs handlers; not in pytest
    pki = _pki(tmp_path / "pki")
    node_env(monkeypatch, node_tls_cert_file=pki / "server.pem", node_tls_key_file=pki / "server.key")
    home = Path(os.environ["DEVICE_AI_HOME"])
    (pki / "server.key").chmod(0o644)
    with pytest.raises(ConfigError, match="node_tls_key_file .* mode 0644"):  # before anything listens
        NodeServer(context())
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "error DAI-100" in err and "node_tls_key_file" in err and "mode 0644" in err and "chmod 600" in err
    assert "Traceback" not in err and not (home / "audit").exists() and not (home / "node").exists()
    (pki / "server.key").chmod(0o600)  # control: the same node is built, with TLS
    assert NodeServer(context()).ssl_context is not None


@pytest.mark.req("SRS-232", "SRS-216")
def test_srs232_watch_does_not_start_with_a_client_key_its_group_can_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.hot_folder import HotFolder
    from device_ai.node.runtime import NodeRuntime
    from tests.node.conftest import context, node_env

    pki = _pki(tmp_path / "pki")
    destination = {"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                   "transport": {"tls": True, "ca_bundle": str(pki / "ca.pem"),
                                 "client_certificate": str(pki / "client.pem"), "client_key": str(pki / "client.key")}}
    node_env(monkeypatch, node_destinations=json.dumps([destination]))
    monkeypatch.setattr(NodeRuntime, "_check_model_use", lambda self: None)  # no model needed for this check
    monkeypatch.setattr(NodeRuntime, "start", lambda self: None)  # no worker threads: the start check is the point
    (tmp_path / "in").mkdir()
    (pki / "client.key").chmod(0o640)
    folder = HotFolder(context(), tmp_path / "in", tmp_path / "out", settle_s=1.0, pipeline=True)
    with pytest.raises(ConfigError, match="destination pacs: transport.client_key .* mode 0640"):
        folder.start()
    assert not (tmp_path / "out").exists()  # refused before OUT was made
    (pki / "client.key").chmod(0o600)  # control: it starts
    folder = HotFolder(context(), tmp_path / "in", tmp_path / "out", settle_s=1.0, pipeline=True)
    folder.start()
    folder.stop()
    assert (tmp_path / "out").is_dir()


# === SRS-217 (THR-018, THR-015, IF-RESULT-FILES): the node's copies ===========================================

def _hot_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, rejected: Path | None = None,
                **settings: object):  # noqa: ANN202 - HotFolder
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    node_env(monkeypatch, **settings)
    (tmp_path / "in").mkdir(exist_ok=True)
    return HotFolder(context(), tmp_path / "in", tmp_path / "out", rejected=rejected, settle_s=1.0, pipeline=False)


def _send_to_out(folder, result: Path) -> Path:  # noqa: ANN001 - HotFolder
    """One result through watch's own OUT destination, as the queue sends it; the file written."""
    from device_ai.node.hot_folder import WATCH_DESTINATION
    from device_ai.node.outbound import send

    settings = folder.ctx.settings
    [out] = [d for d in settings.node_destinations if d.name == WATCH_DESTINATION]
    send(out, result, {"study": "study-x", "series": "series-y", "generation": 1}, settings)
    return folder.out / "study-x" / "series-y.gen-0001" / result.name


@pytest.mark.req("SRS-217")
@pytest.mark.parametrize(("group", "modes"), [(True, (0o750, 0o750, 0o750, 0o640)),
                                              (False, (0o700, 0o700, 0o700, 0o600))])
def test_srs217_watch_out_and_its_copies_get_the_results_modes_under_umask_077(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: bool, modes: tuple[int, ...]) -> None:
    result = tmp_path / "segmentation.dcm"
    result.write_bytes(b"SEG with the fake patient's identity")
    previous = os.umask(0o077)  # a umask that would take the group's read away
    try:
        folder = _hot_folder(tmp_path, monkeypatch, results_group_readable=str(group).lower())
        folder.start()
        try:
            written = _send_to_out(folder, result)
        finally:
            folder.stop()
    finally:
        os.umask(previous)
    assert (_mode(folder.out), _mode(written.parent.parent), _mode(written.parent), _mode(written)) == modes
    assert _mode(folder.rejected) == 0o700  # the rejected folder stays owner-only with the group option
    assert 0o750 & ~0o077 == 0o700  # control: mkdir's mode under this umask alone would shut the group out


@pytest.mark.req("SRS-217")
def test_srs217_existing_loose_folders_keep_their_modes_and_the_new_copies_are_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out" / "study-x").mkdir(parents=True)
    for made_by_the_site in (tmp_path / "out", tmp_path / "out" / "study-x"):
        made_by_the_site.chmod(0o755)
    result = tmp_path / "segmentation.dcm"
    result.write_bytes(b"SEG")
    previous = os.umask(0o022)
    try:
        folder = _hot_folder(tmp_path, monkeypatch)
        folder.start()
        try:
            written = _send_to_out(folder, result)
        finally:
            folder.stop()
    finally:
        os.umask(previous)
    # as SRS-217 says: an OUT that exists (and folders the site made) keep their modes, neither refused nor tightened
    assert (_mode(folder.out), _mode(written.parent.parent)) == (0o755, 0o755)
    assert (_mode(written.parent), _mode(written)) == (0o700, 0o600)  # what the node creates: owner-only
    assert written.read_bytes() == b"SEG"  # control: the copy is there, readable by its owner


# === SRS-077 / RC-028 (THR-016): refused inputs kept as they came, owner-only ==================================

MZ = b"MZ\x90\x00\x03\x00\x00\x00"  # a PE header where the preamble is (CVE-2019-11687)


def _polyglot(index: int, **changes: object) -> bytes:
    from device_ai.dicom.writer import part10_bytes
    from tests.dicom.deid_corpus import ct_slice

    ds = ct_slice(index)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return MZ + part10_bytes(ds)[len(MZ):]


def _refuse_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, *, owner: int | None = None,
                rejected: Path | None = None):  # noqa: ANN202 - (HotFolder, moved file)
    """Drop ``data`` into IN/sub/setup.exe (mode 0644, owned by ``owner``), let watch refuse it."""
    folder = _hot_folder(tmp_path, monkeypatch, rejected=rejected)
    folder.start()
    try:
        (tmp_path / "in" / "sub").mkdir(exist_ok=True)
        (tmp_path / "in" / "sub").chmod(0o755)
        dropped = tmp_path / "in" / "sub" / "setup.exe"
        dropped.write_bytes(data)
        dropped.chmod(0o644)
        if owner is not None:
            os.chown(dropped, owner, -1)
        folder.scan_once(now=0.0)
        assert folder.scan_once(now=1.0).rejected == 1
    finally:
        folder.stop()
    return folder, folder.rejected / "sub" / "setup.exe"


NOT_CT = {"Modality": "MR", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"}


@pytest.mark.req("SRS-077", "SRS-139")
def test_srs077_a_refused_polyglot_moved_across_file_systems_is_copied_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node import hot_folder
    from device_ai.node.hot_folder import REASON_SUFFIX

    real_rename = os.rename
    inbox = tmp_path / "in"

    def rename(source, target, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - os.rename
        if Path(source).is_relative_to(inbox):  # IN on another file system than the rejected folder
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(hot_folder.os, "rename", rename)
    data = _polyglot(0, **NOT_CT)
    previous = os.umask(0o022)
    try:
        folder, moved = _refuse_one(tmp_path, monkeypatch, data)
    finally:
        os.umask(previous)
    assert moved.read_bytes() == data and not (inbox / "sub" / "setup.exe").exists()  # the copy, as dropped
    assert (_mode(folder.rejected), _mode(moved.parent), _mode(moved)) == (0o700, 0o700, 0o600)
    assert _mode(moved.with_name(moved.name + REASON_SUFFIX)) == 0o600
    assert 0o666 & ~0o022 == 0o644  # control: the umask (and the dropped file's mode) would have given 0644


@pytest.mark.req("SRS-077")
@pytest.mark.parametrize("loose", [0o750, 0o701, 0o711])
def test_srs077_a_rejected_folder_its_group_or_others_can_reach_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose: int) -> None:
    (tmp_path / "out" / "rejected").mkdir(parents=True)
    (tmp_path / "out" / "rejected").chmod(loose)
    with pytest.raises(ConfigError, match=f"rejected folder .* has mode {loose:04o}"):
        _hot_folder(tmp_path, monkeypatch)
    (tmp_path / "out" / "rejected").chmod(0o700)  # control
    assert _hot_folder(tmp_path, monkeypatch).rejected == tmp_path / "out" / "rejected"


@pytest.mark.req("SRS-077")
def test_srs077_a_rejected_folder_outside_out_is_made_owner_only_with_its_parents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "evidence" / "watch" / "refused"
    (tmp_path / "in").mkdir(mode=0o755)  # IN as a site keeps it (every account writing it is refused, THR-004)
    previous = os.umask(0o000)  # the widest umask
    try:
        folder, moved = _refuse_one(tmp_path, monkeypatch, _polyglot(1, **NOT_CT), rejected=elsewhere)
    finally:
        os.umask(previous)
    assert folder.rejected == elsewhere and moved == elsewhere / "sub" / "setup.exe"
    assert (_mode(elsewhere), _mode(moved.parent), _mode(moved)) == (0o700, 0o700, 0o600)
    assert _mode(tmp_path / "evidence") == 0o777  # control: parents are the umask's (not the kept files' folder)


@pytest.mark.req("SRS-077")
def test_srs077_anonymize_quarantine_new_folders_owner_only_an_existing_one_kept(tmp_path: Path) -> None:
    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import QUARANTINE_INDEX, Deidentifier, RunConfig

    (tmp_path / "in").mkdir()
    burned = _polyglot(0, BurnedInAnnotation="YES")
    (tmp_path / "in" / "burned.dcm").write_bytes(burned)
    (tmp_path / "in" / "plain.dcm").write_bytes(_polyglot(1))
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing").chmod(0o755)
    config = RunConfig(options=parse_options(()), secret=b"helper-143-fake-secret".ljust(32, b"!"))
    previous = os.umask(0o000)
    try:
        Deidentifier(config).run([tmp_path / "in"], tmp_path / "out1", tmp_path / "a" / "b" / "quarantine")
        Deidentifier(config).run([tmp_path / "in"], tmp_path / "out2", tmp_path / "existing")
    finally:
        os.umask(previous)
    new = tmp_path / "a" / "b" / "quarantine"
    assert (_mode(tmp_path / "a"), _mode(tmp_path / "a" / "b"), _mode(new)) == (0o700, 0o700, 0o700)
    assert _mode(tmp_path / "existing") == 0o755  # SRS-077: "folders it creates"; an existing one is the site's
    for kept in (new, tmp_path / "existing"):
        [copy] = list(kept.glob("file-*.dcm"))
        assert copy.read_bytes() == burned and _mode(copy) == 0o600 and _mode(kept / QUARANTINE_INDEX) == 0o600
    [output] = list((tmp_path / "out1").rglob("*.dcm"))
    assert output.read_bytes()[:132] == bytes(128) + b"DICM"  # control: what it writes for others is zeroed


@pytest.mark.req("SRS-077")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs a file owned by another account (root chowns it)")
def test_n1_a_refused_file_another_account_dropped_keeps_its_mode_inside_the_owner_only_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, moved = _refuse_one(tmp_path, monkeypatch, _polyglot(2, **NOT_CT), owner=OTHER_UID)
    assert os.stat(moved).st_uid == OTHER_UID and _mode(moved) == 0o644  # README's "refused files 0600" is wider
    assert (_mode(folder.rejected), _mode(moved.parent)) == (0o700, 0o700)  # no other account gets through
    other = tmp_path / "own"
    other.mkdir()
    own_folder, own = _refuse_one(other, monkeypatch, _polyglot(3, **NOT_CT))  # control: this account's file
    assert _mode(own) == 0o600


# === SRS-220: the batch layer runs with good credentials ======================================================

@pytest.mark.req("SRS-220", "SRS-232")
def test_srs220_a_site_scheduler_over_tls_runs_units_with_owner_only_credentials(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    from device_ai.batch.cluster_security import site_scheduler
    from device_ai.batch.engines import DaskEngine
    from device_ai.batch.errors import SchedulerNotSecured
    from device_ai.config import Settings
    from tests.batch.site_tls import site_credentials

    site = site_credentials(tmp_path / "site")
    settings = Settings(**site.device_settings())
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tls://",
                           security=site.cluster_security(), dashboard_address=None)
    try:
        engine = DaskEngine(scheduler=site_scheduler(cluster.scheduler_address, settings))
        try:
            assert sorted(engine.run(abs, [-4, 5, -6])) == [4, 5, 6]
        finally:
            engine.close()
        site.client_key.chmod(0o640)  # control: the same key readable by its group is DAI-124
        with pytest.raises(SchedulerNotSecured, match="batch_tls_key_file .* mode 0640") as caught:
            site_scheduler(cluster.scheduler_address, settings)
        assert caught.value.code == "DAI-124" and caught.value.exit_code == 2
    finally:
        cluster.close()


# === texts ===================================================================================================

def _threats() -> dict[str, dict]:
    return {t["id"]: t for t in fast_yaml.safe_load((ROOT / "security/threats.yaml").read_text())["threats"]}


def _status(item: str) -> str:
    srs = fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())["software_requirements"]
    return next(r["status"] for r in srs if r["id"] == item)


def _flat(text: str) -> str:
    return " ".join(text.split())


STALE = {"THR-015": ("SRS-222", "SRS-222 is draft"), "THR-018": ("SRS-217", "SRS-217 back to draft")}


@pytest.mark.req("SRS-217", "SRS-222")
def test_d2_pin_thr015_and_thr018_no_longer_state_a_status_their_control_does_not_have() -> None:
    # lead's fix: the stale sentences are gone
    threats = _threats()
    for threat, (control, words) in STALE.items():
        assert words not in _flat(threats[threat]["rationale"]) and _status(control) == "approved", threat
    assert "SRS-231 is draft" not in _flat(threats["THR-013"]["rationale"])  # control: the lookup can fail


@pytest.mark.req("SRS-217", "SRS-222")
def test_d2_xfail_the_rationales_state_their_controls_status_as_it_is() -> None:
    threats = _threats()
    for threat, (control, words) in STALE.items():
        assert words not in _flat(threats[threat]["rationale"]) or _status(control) == "draft", threat


@pytest.mark.req("SRS-217", "SRS-231", "SRS-232", "SRS-077")
def test_texts_name_the_controls_and_no_longer_the_umask_modes() -> None:
    threats = _threats()
    interfaces = {i["id"]: i for i in fast_yaml.safe_load((ROOT / "security/interfaces.yaml").read_text())["interfaces"]}
    controls = {c["id"]: c for c in fast_yaml.safe_load((ROOT / "risk/controls.yaml").read_text())["risk_controls"]}
    readme = _flat((ROOT / "README.md").read_text())
    assert "SRS-231" in threats["THR-013"]["controls"] and "SRS-232" in threats["THR-028"]["controls"]
    assert threats["THR-016"]["controls"] == ["RC-028"] and controls["RC-028"]["implemented_by"] == ["SRS-077"]
    assert "owner-only" in controls["RC-028"]["text"]
    result_files = _flat(json.dumps(interfaces["IF-RESULT-FILES"]))
    assert "folder destinations" in result_files and "with the process's umask" not in result_files
    assert "umask's modes" not in _flat(threats["THR-018"]["rationale"].split("Review 134")[0])
    assert "watch`'s OUT get the same modes" in readme and not _says_umask_modes(readme)
    # control: the sentence README had before 3e9b70c is caught by the same check
    assert _says_umask_modes("The node's OUT copies (`device-ai watch`) still get the umask's modes.")


def _says_umask_modes(text: str) -> bool:
    return "still get the umask's modes" in _flat(text)
