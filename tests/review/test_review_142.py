r"""Independent re-review 142 (reviewer helper-142) of issue 19: SRS-224 / THR-035 after the lead's fa3e5a0 (fixes of
re-review 140), helper-139's 3d3853b (SRS-229 peer authentication, SRS-230 self-check, THR-006, THR-046,
IF-INSTALLED-SOFTWARE) approved in abfc25c, and the lead's text/rating fixes of review 138 in 2cb6fcd (THR-027,
THR-029, THR-030, THR-040). helper-142 wrote none of the code, texts or tests reviewed. Read: ``git show fa3e5a0
3d3853b 2cb6fcd``; app/audit_trail.py (parse_time, filter_value_problem, entry_filter), app/audit_export.py
(_stated_filter), audit/export_verify.py, audit/checkpoint.py (signer_ids), cli/audit.py, audit/verify.py, audit/log.py
(OtherLog.label), peer_authentication.py, cleartext.py, node/server.py (tls_context, NodeServer, serve_until),
config.py, cli/settings.py, installed_software.py, cli/self_check.py, errors.py, keystore.py (private_dir),
model/package/{manifest,signing,verify}.py; the texts of SRS-224/229/230, THR-006/027/029/030/035/040/046,
IF-INSTALLED-SOFTWARE, SUC-001..007, security/plan.yaml (scales, matrix), the IFU precautions (submission/device.yaml).
Scratch probes (not kept) under /tmp/h142. Line numbers: HEAD 107b505's (src/ and the texts reviewed as at abfc25c;
3e9b70c, helper-137's fix, changes none of them but node/server.py's key loading; 25525ab sets SRS-229/230 approved).

1. SRS-224 / THR-035: DEFECT (D1), the fa3e5a0 fixes themselves HOLD.
   Holds: genuine exports in the three formats, whole and filtered by each key, verify and are named (test_p01;
   control: one byte changed fails, exit 8). parse_time (app/audit_trail.py:34-56) writes every year with four digits
   and turns OverflowError and ValueError into its ConfigError: audit export --since 0001-01-01T00:00:00+00:00,
   0999-12-31T23:00:00-02:00 (stated 1000-01-01T01:00:00.000000Z), --until 9999-12-31T23:59:59.999999 exit 0 and
   verify; --since 0001-01-01T00:30:00+01:00, 800000d, a 5,000-digit age and --until 9999-12-31T23:59:59-00:01 are
   refused with DAI-100 naming the option; stated values year 1 / year 999 / year 9999 verify, out-of-range offsets
   and a five-digit year are refused with DAI-712 naming since (test_p02; controls in it). Signer names: at most 8,
   each cut to 64 characters, '?' for C1 and U+202E (ESC, C0, is refused before, by checkpoint._is_text): 20
   signature lines of 5,000-character names give one bounded error
   line that starts the 80x24 screen (export_verify.py:158-160, test_p03; control: the genuine bundle's OK line).
   audit verify's "not ours" line goes through printable (cli/audit.py:27): another log's folder named with
   percent-encoded C1 CSI, ESC and U+202E shows '?' (test_p04; control: a plain name is shown as written).
   No other unescaped or unbounded quote of the files was found in verify-export's lines.
   DEFECT D1 (a crafted export or bundle is an internal error, exit 70, not DAI-712 exit 8): three inputs escape
   every except clause and end in cli's last line of defence, "error DAI-999: internal error ... please report it":
   (a) an export line that is deeply nested JSON (1,000 '[' then ']'; the genuine bundle, not touched): _difference
   (export_verify.py:224) json.loads it for the FHIR field diff and RecursionError is not a ValueError;
   (b) a bundle that is deeply nested JSON: _read_bundle (:135-136) catches ValueError/ValidationError only;
   (c) a bundle whose checkpoint holds a lone surrogate (JSON "\ud800"): bundle.checkpoint.encode() (:155) runs
   before the try and raises UnicodeEncodeError. SRS-224 (requirements.yaml:2812-2813): "otherwise it shall fail
   with DAI-712 (exit 8) naming the first failing record ... or the key"; (a) is an edited FHIR record the failure
   does not name. Fails closed (never 0). THR-035 (threats.yaml:666): "fails naming the record when a field is
   edited" likewise untrue for (a); its rating holds. Pin test_d1_pin (control: a shallow '[[1]]' line is refused
   with DAI-712 naming record 1, a shallow non-bundle with DAI-712); strict xfail
   test_d1_a_crafted_export_or_bundle_is_refused_with_dai_712.
2. SRS-229 / THR-006: HOLDS. Every non-loopback form is refused without CA or reason, with TLS and in clear text with
   only node_cleartext_reason: 0.0.0.0, '::', '[::]', ::ffff:0.0.0.0, ::ffff:192.0.2.10, 0:0:0:0:0:0:0:0,
   fe80::1%lo, 127.0.0.1%lo, node.example, 'localhost.', and the forms socket takes as addresses but ipaddress does
   not ('127.1', '0', '2130706433') - refused, the safe side; 127.0.0.0/8, ::1, [::1], ::1%lo, ::ffff:127.0.0.1,
   0:0:0:0:0:0:0:1 and LOCALHOST need nothing (test_h10; through NodeServer for '::', ::ffff:192.0.2.10 and
   node.example: DAI-100, nothing in the device home; control: the same with node_tls_ca_file builds, mutual TLS).
   A node_tls_ca_file that does not exist, is empty or holds no PEM is refused at start (DAI-100 "cannot load the
   node's TLS files"), nothing in the home (test_h11; control: the real CA). The reason is checked by cleartext's own
   check_reason (peer_authentication.py:31-34): 15 values give the same verdict for node_cleartext_reason and
   node_unauthenticated_peers_reason (empty, blank, short, digits only, LF, TAB, ESC, C1, U+2028, 501 characters
   refused; a statement kept stripped) (test_h12). Audited: the Application Start entry carries
   unauthenticated_peers_listener "host:port: reason", the banner says it once and config show's transport.peers
   names it (test_h13; control: loopback starts without the detail; config show for mutual TLS says authenticated).
   THR-006: I3, residual E3 (loopback: another account, ALARA on the matrix), E2 for mutual TLS, E4 stated for a
   site with a reason and the IFU precaution (device.yaml) says the site accepts that risk - honest (test_h14).
   Notes: N1 node_tls_ca_file is loaded with no owner/mode check (tls_context, server.py), while batch_tls_ca_file
   is refused when group/other-writable (cluster_security._pem); another account that can append its CA to a
   group-writable CA file authenticates from the network - E3, the same as THR-006's loopback residual, so the
   rating stands; the IFU/SRS-218 rule could cover the node's CA file. N2 a CA file that is a public bundle (the
   system store) authenticates any holder of a public client certificate; nothing can check that. N3 the reason
   rule accepts format characters (U+202E) for both settings, as SRS-226 (same function; config show escapes them
   in JSON, the banner does not).
3. SRS-230 / THR-046 / IF-INSTALLED-SOFTWARE: DEFECT (D2, D3), the rest HOLDS.
   Holds (fake distributions written as pip writes them, in a temp site on sys.path): an edited file of the device
   and of a dependency is altered, a removed one missing, a group-writable file, an other-writable package folder,
   a world-writable site-packages and a file owned by uid 4242 are "open to others"; exit 14 DAI-330 after the list,
   0 with the OK line when untouched (test_h20; control: untouched; "missing" checked in a process of its own, N4).
   An editable install is "unverified" although its listed files match, the reason printed with '?' for ESC
   (control: the same install without direct_url.json passes); a removed dependency is "required but not
   installed"; a file RECORD does not list is not looked at, and a .py listed without a hash is skipped and counted
   - both as the texts say (test_h21). SUC-001..007 all list IF-INSTALLED-SOFTWARE (every command imports the
   environment) (test_h22).
   DEFECT D2 (a listed file without a hash is never checked for other accounts): check_distribution
   (installed_software.py:233-235) skips a hash-less entry before the file's own open-to-others check (:248-249);
   pip lists every .pyc it compiles without a hash, and Python runs the .pyc, not the .py, while its header
   matches the source's mtime and size. A 0666 __pycache__/__init__.cpython-311.pyc in a 0755 folder is not
   reported; another account rewrites it with other code (header kept) and the module runs it (X = 9 where the .py
   says 1) while self-check prints OK, exit 0 (test_d2_pin; control: the same file listed with a hash is reported
   open to others). RECORD itself (hash-less) at 0666 is not reported either. Untrue: SRS-230 (requirements.yaml:
   2997: "each listed file ... writable by its group or by others ... (open to others)"), the module docstring
   (:11-13), IF-INSTALLED-SOFTWARE (interfaces.yaml:253: "each file or folder other accounts could write") and
   THR-046 (threats.yaml:878-880: "each file or folder that another account could write, so an environment open to
   other accounts (E3) is found; what remains needs the device's own account or an administrator (E2)"): the path
   left is E3 on the plan's scale, I4 x E3 unacceptable, so the E2 residual is not justified as shipped. Strict xfail
   test_d2_a_listed_file_without_a_hash_open_to_others_is_reported.
   DEFECT D3 (a damaged RECORD is an internal error): dist.files (installed_software.py:213) parses RECORD outside
   any except: a line with four fields (TypeError), a size that is not a number (ValueError) or bytes that are not
   UTF-8 (UnicodeDecodeError) end in "error DAI-999: internal error", exit 70, nothing listed. SRS-230 (:3004):
   "otherwise it shall exit with DAI-330 (exit code 14) after the list". RECORD is hash-less, so its damage is
   exactly the accidental change the check is for. Fails closed. Pin test_d3_pin (control: an unknown hash algorithm
   is reported unreadable, exit 14); strict xfail test_d3_a_damaged_record_is_reported_with_dai_330.
   Is the world-writable check enough for E2 (brief)? Not as shipped (D2). With D2 fixed the remaining E3 paths are
   the ones the texts state (between two runs; files no RECORD lists) plus N5; ALARA at E2 would then be arguable.
   Notes: N4 (strong) importlib_metadata >= 6.1 (10.2.0 here, a runtime requirement of dask on Python < 3.12) and
   CPython 3.12+'s importlib.metadata drop the files that do not exist from Distribution.files; importing the
   backport also replaces the stdlib's distribution finder for the whole process. So once dask is imported, or on
   Python 3.12+ (pyproject: requires-python >= 3.11), a removed file is never reported: `import dask` then self-check
   of a device with a removed file prints OK, exit 0 (test_n4; control: the command as shipped, which imports no
   dask, reports it missing, exit 14). helper-139's test_a_removed_file_and_a_removed_dependency_are_reported
   (tests/test_installed_software.py) fails when its pytest worker imported dask first (measured: a module with
   `import dask` collected before it). Reading RECORD directly (csv of .dist-info/RECORD) would not depend on it.
   N5 folders above site-packages are not checked (_folders stops at it): a writable venv root lets
   another account replace pyvenv.cfg (home = another interpreter and standard library), and THR-046 does not say
   that the interpreter and standard library are not checked (the module docstring does). N6 RECORD's hash name is
   taken as given: md5= is compared and passes (RECORD is unsigned anyway). N7 an empty RECORD is reported as
   "installed without a RECORD". N8 (SRS-224) a bundle checkpoint with text after its last line end ('x') still
   verifies (exit 0): the signed body is unchanged and none of it is shown, so no defect.
4. THR-027, THR-029, THR-030, THR-040 (2cb6fcd): HOLD. THR-027: manifest and TrainingInfo hold no who-field, the
   signature file starts with the key id (signing.sign), the rationale says so. THR-029: a swapped owner-only
   pseudonym key is used unnoticed, a group-readable one refused, the device home is owner-only (keystore.private_dir),
   so the swap needs the device's account: E2, I3 x E2 acceptable on the matrix. THR-030/THR-040: no "is draft"
   sentence, SRS-223/SRS-218 approved; THR-040's "the folder holding the file ... not checked": a configuration file
   in a 0777 folder is read, a group-writable file refused (test_h30; controls in it).

Texts: SRS-224 DEFECT (D1); THR-035 DEFECT (D1, text only); SRS-230, IF-INSTALLED-SOFTWARE and THR-046 DEFECT (D2;
SRS-230 also D3).

Lead, 2026-12-07 (not re-reviewed): D1 fixed - verify-export catches RecursionError where it parses the bundle and
an FHIR export line, and UnicodeEncodeError where it encodes the checkpoint (DAI-712, exit 8). D2 fixed - a RECORD
entry without a hash (a .pyc) is still checked for other accounts' access. D3 fixed - RECORD is read and parsed by
installed_software.record_entries (path, hash, size; a damaged line, a non-numeric size or non-UTF-8 is a finding,
DAI-330, exit 14). N4 fixed by the same change: RECORD read directly, not through Distribution.files, which the
importlib_metadata backport filters. The pins assert the fixes and the xfails are plain tests. SRS-224 and SRS-230
go back to draft (their fixes are not re-reviewed).

Mutation check (copies of 3e9b70c's src/, = HEAD's, by git archive into /tmp/h142src/<name>/src by
/tmp/h142src/mutate.py, models/ linked beside, this file run with the copy first on PYTHONPATH; /work/main/src
untouched; null copy: 23 passed, 3 xfailed). Fix or control undone: M01 parse_time's year by strftime: p02; M02
OverflowError not caught: p02; M03 signer names whole and all listed: p03; M04 the not-ours line raw: p04; M05
check_peers always None: h10, h13; M06 TLS without a CA counted as client certificates: h10, h13; M07 the peers reason
unchecked: h12; M08 no audit detail: h13; M09 config show always "authenticated": h13; M10 no banner: h13; M11 hashes
never compared: h20; M12 owner ignored: h20; M13 site-packages itself not checked: h20; M14 missing not reported: h20,
n4; M15 editable not detected: h21; M16 self-check exits 0 when not ok: h20, h21, d3 pin, n4; M17 a stated time not
checked: p02. 17 mutants, 17 killed. Fix mutants: F1 (RecursionError caught, the checkpoint encoded with
surrogatepass), F2 (the mode check before the hash-less skip), F3 (dist.files' TypeError/ValueError as not verifiable)
each flip only their pin and strict xfail (2 failures each; 22 passed).
Records: SRS-229, THR-006, THR-027, THR-029, THR-030, THR-040 (independent). None for SRS-224, THR-035, SRS-230,
THR-046, IF-INSTALLED-SOFTWARE (defects).
NOT checked: a real wheel install into a fresh environment (fake distributions and this environment's RECORDs only);
Python 3.12 itself (the backport stands in); real terminals (review 133's model); IPv6 binds on this host.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import py_compile
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai import cli
from device_ai.errors import ConfigError
from tests import fast_yaml
from tests.review.test_review_133 import _screen
from tests.review.test_review_140 import _controls, _export_code, _stating, _unsigned, _verify, trail  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ESC = "\x1b[2J\x1b[H"
C1 = "\x9b2J"


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def _yaml(path: str) -> Any:
    return fast_yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def _item(path: str, key: str, item: str) -> dict[str, Any]:
    return next(entry for entry in _yaml(path)[key] if entry["id"] == item)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _matrix(impact: str, exploitability: str) -> str:
    return _yaml("security/plan.yaml")["security_plan"]["acceptability"][impact][exploitability]


# === 1. SRS-224 / THR-035 =======================================================================================

@pytest.mark.req("SRS-224")
@pytest.mark.parametrize("case", ["fhir", "atna", "leaves", "since", "until", "event", "study"])
def test_p01_genuine_exports_verify(trail: dict[str, Any], tmp_path: Path, case: str) -> None:  # noqa: F811
    export, bundle = trail["whole"][case] if case in trail["whole"] else trail["filtered"][case]
    code, out, err = _verify(trail, tmp_path, export, bundle)
    assert code == 0 and err == "" and out.startswith("OK: "), err
    assert ("selection: the whole log" in out) == (case in trail["whole"])
    changed = bytes([export[0] ^ 1]) + export[1:]  # control: the first byte
    code, out, err = _verify(trail, tmp_path, changed, bundle)
    assert code == 8 and out == "" and "DAI-712" in err


@pytest.mark.req("SRS-224")
def test_p02_parse_time_bounds_on_both_sides(trail: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    stated = {"0001-01-01T00:00:00+00:00": "0001-01-01T00:00:00.000000Z",
              "0999-12-31T23:00:00-02:00": "1000-01-01T01:00:00.000000Z"}
    for index, (value, canonical) in enumerate(stated.items()):
        code, made, err = _export_code(trail, "fhir", "--since", value)
        assert code == 0 and made is not None, err
        assert json.loads(made[1])["selection"] == {"since": canonical} and len(made[0].splitlines()) == 7
        assert _verify(trail, tmp_path / f"e{index}", *made)[0] == 0
    code, made, err = _export_code(trail, "atna", "--until", "9999-12-31T23:59:59.999999")
    assert code == 0 and made is not None and _verify(trail, tmp_path / "until", *made)[0] == 0, err
    for option, value in (("--since", "0001-01-01T00:30:00+01:00"), ("--since", "800000d"),
                          ("--since", "9" * 5000 + "d"), ("--until", "9999-12-31T23:59:59-00:01")):
        code, made, err = _export_code(trail, "fhir", option, value)
        assert code == 2 and made is None and "DAI-100" in err and option in err and "DAI-999" not in err, err
    for index, value in enumerate(("0001-01-01T00:00:00.000000Z", "0999-06-01T00:00:00.000000Z",
                                   "9999-12-31T23:59:59.999999Z")):  # stated in the form export writes: accepted
        code, out, err = _verify(trail, tmp_path / f"ok{index}", *_stating(trail, value))
        assert code == 0 if value < "9" else code == 8, (value, err)  # since 9999: every record is before it
    for index, value in enumerate(("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999-00:01",
                                   "10000-01-01T00:00:00.000000Z", "999-06-01T00:00:00.000000Z")):
        code, out, err = _verify(trail, tmp_path / f"no{index}", *_stating(trail, value))
        assert code == 8 and out == "" and "DAI-712" in err and "since is not a UTC time" in err, (value, err)


@pytest.mark.req("SRS-224")
def test_p03_signer_names_are_cut_and_escaped(trail: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    name = f"{C1}\u202e" + "x " * 2500  # C0 (ESC) in a note is refused before (checkpoint._is_text)
    code, out, err = _verify(trail, tmp_path / "many", *_unsigned(trail, name, lines=20))
    assert code == 8 and out == "" and len(err) < 1500 and "and 12 more" in err and _controls(err) == [], len(err)
    assert _screen(err).startswith("error DAI-712")
    code, out, err = _verify(trail, tmp_path / "genuine", *trail["whole"]["fhir"])  # control
    assert code == 0 and out.startswith("OK: ")


@pytest.mark.req("SRS-156", "SRS-145")
def test_p04_audit_verify_not_ours_line_is_escaped(trail: dict[str, Any], tmp_path: Path) -> None:  # noqa: F811
    def run(folder_name: str) -> str:
        copies = tmp_path / f"copies-{len(list(tmp_path.iterdir()))}"
        (copies / folder_name).mkdir(parents=True)
        (copies / folder_name / "1.note").write_text("another log's note\n", encoding="utf-8")
        code, out, err = _cli("audit", "verify", "--dir", str(trail["log"]), "--checkpoint", str(copies),
                              "--key", trail["key"])
        assert code == 0 and "not ours" in out, out + err
        return out

    out = run("%C2%9B2J%1B[H%E2%80%AEother.example%2Flog+deadbeef")
    assert _controls(out) == [] and "?2J?[H?other.example/log (key ID deadbeef" in out, out
    assert "plain.example/log (key ID deadbeef" in run("plain.example%2Flog+deadbeef")  # control: shown as written


# --- D1: a crafted export or bundle ends in DAI-999 (exit 70) ---

def _crafted(trail: dict[str, Any]) -> dict[str, tuple[bytes, bytes | dict]]:
    export, bundle = trail["whole"]["fhir"]
    lines = export.split(b"\n")
    proof = json.loads(bundle)
    return {"deep export line": (b"[" * 1000 + b"]" * 1000 + b"\n" + b"\n".join(lines[1:]), bundle),
            "deep bundle": (export, b"[" * 1000 + b"]" * 1000),
            "surrogate in the checkpoint": (export, json.dumps({**proof, "checkpoint": proof["checkpoint"] + "\ud800"})
                                            .encode())}


@pytest.mark.req("SRS-224")
def test_d1_pin_a_crafted_export_or_bundle_is_refused_not_an_internal_error(trail: dict[str, Any],  # noqa: F811
                                                                             tmp_path: Path) -> None:
    # lead's fix: RecursionError and UnicodeEncodeError are caught where the bundle, the export line and the
    # checkpoint are read (was DAI-999, exit 70)
    for label, (export, bundle) in _crafted(trail).items():
        code, out, err = _verify(trail, tmp_path / label.replace(" ", "-"), export, bundle)
        assert code == 8 and out == "" and "DAI-999" not in err and "DAI-712" in err, (label, err)
    # control: the same edits, shallow, are refused as SRS-224 says, naming the record
    export, bundle = trail["whole"]["fhir"]
    lines = export.split(b"\n")
    code, out, err = _verify(trail, tmp_path / "shallow", b"[[1]]\n" + b"\n".join(lines[1:]), bundle)
    assert code == 8 and "DAI-712" in err and "record 1 (leaf 0)" in err, err
    code, out, err = _verify(trail, tmp_path / "shallow-bundle", export, b"[[1]]")
    assert code == 8 and "DAI-712" in err and "is not a proof bundle" in err, err


@pytest.mark.req("SRS-224")
def test_d1_a_crafted_export_or_bundle_is_refused_with_dai_712(trail: dict[str, Any],  # noqa: F811
                                                                tmp_path: Path) -> None:
    for label, (export, bundle) in _crafted(trail).items():
        code, out, err = _verify(trail, tmp_path / label.replace(" ", "-"), export, bundle)
        assert code == 8 and "DAI-712" in err, (label, err)


# === 2. SRS-229 / THR-006 =======================================================================================

PEERS = "modality VLAN 12, firewalled: only the CT scanners reach the port"
CLEARTEXT = "modality VLAN 12, isolated, no route to other networks"
NETWORK = ["0.0.0.0", "::", "[::]", "::ffff:0.0.0.0", "::ffff:192.0.2.10", "0:0:0:0:0:0:0:0", "fe80::1%lo",
           "127.0.0.1%lo", "node.example", "localhost.", "127.1", "0", "2130706433", " "]
LOOPBACK = ["127.0.0.1", "127.5.5.5", "::1", "[::1]", "::1%lo", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1", "LOCALHOST"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.node.test_tls import _certificate

    folder = tmp_path_factory.mktemp("h142-pki")
    _certificate(folder, "server", _certificate(folder, "ca", ca=True))
    return folder


def _tls(pki: Path, ca: Path | None = None) -> dict[str, object]:
    files: dict[str, object] = {"node_tls_cert_file": pki / "server.pem", "node_tls_key_file": pki / "server.key"}
    return files if ca is None else {**files, "node_tls_ca_file": ca}


def _home_files() -> list[Path]:
    home = Path(os.environ["DEVICE_AI_HOME"])
    return sorted(home.rglob("*")) if home.exists() else []


@pytest.mark.req("SRS-229")
def test_h10_every_network_form_needs_a_certificate_or_a_reason(monkeypatch: pytest.MonkeyPatch, pki: Path,
                                                                tmp_path: Path) -> None:
    from device_ai.node.server import NodeServer
    from device_ai.peer_authentication import check_peers
    from tests.node.conftest import context, node_env

    for address in NETWORK:
        for tls in (True, False):
            with pytest.raises(ConfigError, match="does not authenticate its peers"):
                check_peers(address, 104, tls=tls, client_certificates=False, reason=None)
        assert check_peers(address, 104, tls=True, client_certificates=True, reason=None) is None
    for address in LOOPBACK:  # control: loopback needs nothing
        assert check_peers(address, 104, tls=False, client_certificates=False, reason=None) is None
    for index, address in enumerate(("::", "::ffff:192.0.2.10", "node.example")):
        monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / f"home-{index}"))
        node_env(monkeypatch, node_bind_address=address, **_tls(pki))
        with pytest.raises(ConfigError, match=f"node_bind_address {address} is not a loopback address"):
            NodeServer(context())
        node_env(monkeypatch, node_bind_address=address, node_cleartext_reason=CLEARTEXT)
        monkeypatch.delenv("DEVICE_AI_NODE_TLS_CERT_FILE")
        monkeypatch.delenv("DEVICE_AI_NODE_TLS_KEY_FILE")
        with pytest.raises(ConfigError, match="no TLS, so no client certificate"):  # the cleartext reason alone
            NodeServer(context())
        assert _home_files() == []
        node_env(monkeypatch, node_bind_address=address, **_tls(pki, pki / "ca.pem"))  # control: mutual TLS builds
        assert NodeServer(context()).client_certificates
        monkeypatch.delenv("DEVICE_AI_NODE_TLS_CA_FILE")
        monkeypatch.delenv("DEVICE_AI_NODE_CLEARTEXT_REASON")


@pytest.mark.req("SRS-229")
def test_h11_a_ca_file_that_does_not_load_is_refused(monkeypatch: pytest.MonkeyPatch, pki: Path,
                                                     tmp_path: Path) -> None:
    from device_ai.node.server import NodeServer
    from tests.node.conftest import context, node_env

    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "text.pem").write_text("not a certificate\n")
    for ca in (tmp_path / "missing.pem", tmp_path / "empty.pem", tmp_path / "text.pem"):
        node_env(monkeypatch, node_bind_address="0.0.0.0", **_tls(pki, ca))
        with pytest.raises(ConfigError, match="cannot load the node's TLS files"):
            NodeServer(context())
        assert _home_files() == []
    node_env(monkeypatch, node_bind_address="0.0.0.0", **_tls(pki, pki / "ca.pem"))  # control
    node = NodeServer(context())
    assert node.client_certificates and node.unauthenticated_peers_reason is None


REASONS = ["", "   ", "n/a", "1234567890123", "isolated VLAN\n12", "isolated\tVLAN 12 net", f"VLAN 12 {ESC} isolated",
           f"VLAN 12 {C1} isolated", "VLAN 12\u2028isolated net", "a" * 501, "trusted", f"  {PEERS}  ", "a" * 500,
           "VLAN 12 \u202e isolated", "Netz 12, abgeschottet"]


@pytest.mark.req("SRS-229", "SRS-226")
def test_h12_the_peers_reason_is_checked_as_a_cleartext_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.config import load_settings

    kept = 0
    for reason in REASONS:
        verdicts = []
        for setting in ("node_cleartext_reason", "node_unauthenticated_peers_reason"):
            with monkeypatch.context() as patch:
                patch.setenv(f"DEVICE_AI_{setting.upper()}", reason)
                try:
                    verdicts.append(getattr(load_settings(), setting))
                except ConfigError as refused:
                    assert setting in refused.message
                    verdicts.append("refused")
        assert verdicts[0] == verdicts[1], (reason, verdicts)
        kept += verdicts[0] != "refused"
    assert kept == 4  # control: the statements are kept (stripped), so the comparison is not all refusals


@pytest.mark.req("SRS-229")
def test_h13_the_reason_is_audited_announced_and_shown(monkeypatch: pytest.MonkeyPatch, pki: Path,
                                                       tmp_path: Path) -> None:
    import threading

    from device_ai.node import server as server_module
    from tests.node.conftest import context, events, node_env

    node_env(monkeypatch, node_bind_address="0.0.0.0", **_tls(pki), node_unauthenticated_peers_reason=PEERS)
    code, out, err = _cli("config", "show")
    assert code == 0 and json.loads(out)["transport"]["peers"].endswith(f"accepted by the site: {PEERS}"), err
    real = server_module.NodeServer

    class DecidedOnTheNetwork(real):  # decided on 0.0.0.0, listens on 127.0.0.1 (no port on the network)
        def __init__(self, ctx, *, pipeline: bool = False) -> None:  # noqa: ANN001
            super().__init__(ctx, pipeline=False)
            self.settings = self.settings.model_copy(update={"node_bind_address": "127.0.0.1"})

    monkeypatch.setattr(server_module, "NodeServer", DecidedOnTheNetwork)
    stop, lines = threading.Event(), []
    assert server_module.serve_until(context(), stop, announce=lambda line, **_: (lines.append(line), stop.set())) == 0
    [started] = [e for e in events("Application Activity") if e["event_type"]["meaning"] == "Application Start"]
    port = os.environ["DEVICE_AI_NODE_PORT"]
    assert started["details"]["unauthenticated_peers_listener"] == f"127.0.0.1:{port}: {PEERS}"
    assert [line for line in lines if "peers not authenticated" in line][0].endswith(PEERS)
    # control: loopback, no reason: no detail; config show for mutual TLS says authenticated
    monkeypatch.setattr(server_module, "NodeServer", real)
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "loopback-home"))
    node_env(monkeypatch, node_bind_address="127.0.0.1")
    monkeypatch.delenv("DEVICE_AI_NODE_UNAUTHENTICATED_PEERS_REASON")
    for key in ("NODE_TLS_CERT_FILE", "NODE_TLS_KEY_FILE"):
        monkeypatch.delenv(f"DEVICE_AI_{key}")
    node = real(context())
    node.start()
    node.stop()
    started = [e for e in events("Application Activity") if e["event_type"]["meaning"] == "Application Start"]
    assert len(started) == 1 and "unauthenticated_peers_listener" not in started[0]["details"]
    node_env(monkeypatch, node_bind_address="0.0.0.0", **_tls(pki, pki / "ca.pem"))
    assert json.loads(_cli("config", "show")[1])["transport"]["peers"].startswith("authenticated")


@pytest.mark.req("SRS-229")
def test_h14_thr006_is_rated_for_the_device_as_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    threat = _item("security/threats.yaml", "threats", "THR-006")
    rationale = _flat(threat["rationale"])
    assert (threat["impact"], threat["residual_exploitability"]) == ("I3", "E3") and "SRS-229" in threat["controls"]
    assert _matrix("I3", "E3") == "alara" and "ALARA" in rationale
    assert "(E2)" in rationale and "back at E4" in rationale and _matrix("I3", "E4") == "unacceptable"
    precautions = _flat(json.dumps(_yaml("submission/device.yaml")))
    assert "node_unauthenticated_peers_reason" in precautions and "accepts that risk (THR-006)" in precautions
    # control: the network without a certificate is E4 as the plan words it ("reach its ports ... without credentials")
    levels = _yaml("security/plan.yaml")["security_plan"]["exploitability"]
    e4 = next(level for level in levels if level["level"] == "E4")
    assert "reach its ports" in e4["description"]


# === 3. SRS-230 / THR-046 / IF-INSTALLED-SOFTWARE ===============================================================

DEVICE, DEPENDENCY = "fake-device-h142", "fake-dependency-h142"


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _install(site: Path, name: str, source: bytes, *, requires: tuple[str, ...] = ()) -> Path:
    """``name`` 1.0 as pip installs a wheel: its module and METADATA listed with hashes, the .pyc it compiles and
    RECORD listed without; returns the module's source file."""
    package, info = name.replace("-", "_"), f"{name.replace('-', '_')}-1.0.dist-info"
    code = site / package / "__init__.py"
    code.parent.mkdir(parents=True)
    (site / info).mkdir()
    code.write_bytes(source)
    compiled = Path(importlib.util.cache_from_source(str(code)))
    py_compile.compile(str(code), cfile=str(compiled), doraise=True)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    (site / info / "METADATA").write_text(metadata)
    listed = {f"{package}/__init__.py": source, f"{info}/METADATA": metadata.encode()}
    lines = [f"{path},{_hash(data)},{len(data)}" for path, data in listed.items()]
    lines += [f"{compiled.relative_to(site)},,", f"{info}/RECORD,,"]
    (site / info / "RECORD").write_text("\n".join(lines) + "\n")
    for folder in (code.parent, compiled.parent, site / info):
        folder.chmod(0o755)
    return code


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir(mode=0o755)
    _install(folder, DEVICE, b"X = 1\n", requires=(DEPENDENCY,))
    _install(folder, DEPENDENCY, b"THRESHOLD = 0.5\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr("device_ai.installed_software.MAIN", DEVICE)
    for name in (DEVICE, DEPENDENCY):
        monkeypatch.delitem(sys.modules, name.replace("-", "_"), raising=False)
    return folder


def _findings() -> list[tuple[str, str, str]]:
    from device_ai.installed_software import check_installed

    return [(f.distribution, f.path, f.state) for f in check_installed().findings]


def _all_as_installed(files: int) -> str:
    """self-check's last line for these fake closures: since the lead's fix of re-review 160 D2 it checks the
    requirement reader (packaging, not in them) first and counts its files too."""
    from device_ai.installed_software import REQUIREMENT_READER, check_distribution

    return f"OK: all {files + check_distribution(REQUIREMENT_READER).checked} file(s)"


def _skipped(files: int) -> str:
    from device_ai.installed_software import REQUIREMENT_READER, check_distribution

    return f"{files + check_distribution(REQUIREMENT_READER).skipped} listed without a hash"


@pytest.mark.req("SRS-230")
def test_h20_altered_missing_and_open_files_are_reported_exit_14(site: Path) -> None:
    code, out, err = _cli("self-check")
    assert code == 0 and _all_as_installed(4) in out and _skipped(4) in out, out + err
    device, dependency = site / "fake_device_h142", site / "fake_dependency_h142"
    (dependency / "__init__.py").write_bytes(b"THRESHOLD = 0.9\n")
    (device / "__init__.py").chmod(0o664)
    (device / "__pycache__").chmod(0o757)
    os.chown(site / "fake_device_h142-1.0.dist-info" / "METADATA", 4242, -1)
    code, out, err = _cli("self-check")
    assert code == 14 and "DAI-330" in err and "Traceback" not in err, err
    assert sorted(_findings()) == sorted([
        (DEPENDENCY, "fake_dependency_h142/__init__.py", "altered"),
        (DEVICE, "fake_device_h142/__init__.py", "open to others"),
        (DEVICE, "fake_device_h142/__pycache__/", "open to others"),
        (DEVICE, "fake_device_h142-1.0.dist-info/METADATA", "open to others")])
    assert out.index("altered") < out.index("distribution(s)")  # the list, then the counts, then the error
    site.chmod(0o777)
    assert (DEVICE, "./", "open to others") in _findings()  # site-packages itself
    (dependency / "__init__.py").unlink()
    code, out, err = _self_check_process(site)  # a process of its own: see N4
    assert code == 14 and "missing      fake-dependency-h142 1.0: fake_dependency_h142/__init__.py" in out, out + err


@pytest.mark.req("SRS-230")
def test_h21_editable_unlisted_hashless_and_absent(site: Path) -> None:
    from device_ai.installed_software import check_installed

    info = site / "fake_device_h142-1.0.dist-info"
    genuine = (info / "RECORD").read_text()
    direct = json.dumps({"url": f"file:///src/{ESC}fake", "dir_info": {"editable": True}}).encode()
    (info / "direct_url.json").write_bytes(direct)
    (info / "RECORD").write_text(genuine + f"{info.name}/direct_url.json,{_hash(direct)},{len(direct)}\n")
    code, out, err = _cli("self-check")
    assert code == 14 and "unverified" in out and "editable install from file:///src/?[2J?[Hfake" in out, out
    assert _findings() == []  # its listed files match
    (info / "direct_url.json").unlink()
    (info / "RECORD").write_text(genuine)
    assert _cli("self-check")[0] == 0  # control: the same install, not editable
    (site / "fake_dependency_h142" / "added.py").write_text("X = 'not listed'\n")  # stated: not looked at
    record = site / "fake_dependency_h142-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text().replace(f"__init__.py,{_hash(b'THRESHOLD = 0.5' + bytes([10]))},16",
                                                 "__init__.py,,"))
    (site / "fake_dependency_h142" / "__init__.py").write_bytes(b"THRESHOLD = 0.9\n")  # stated: skipped, counted
    [dependency] = [d for d in check_installed().distributions if d.name == DEPENDENCY]
    assert dependency.ok and dependency.skipped == 3 and dependency.checked == 1
    shutil.rmtree(site / "fake_dependency_h142-1.0.dist-info")
    [dependency] = [d for d in check_installed().distributions if d.name == DEPENDENCY]
    assert dependency.not_verifiable == "required but not installed"


@pytest.mark.req("SRS-230")
def test_h22_every_security_use_case_lists_the_installed_software() -> None:
    cases = _yaml("security/use_cases.yaml")["security_use_cases"]
    assert [c["id"] for c in cases if "IF-INSTALLED-SOFTWARE" in c["interfaces"]] == [f"SUC-00{i}" for i in range(1, 8)]
    interface = _item("security/interfaces.yaml", "interfaces", "IF-INSTALLED-SOFTWARE")
    assert "ASSET-SOFTWARE" in interface["assets"]
    threat = _item("security/threats.yaml", "threats", "THR-046")
    assert (threat["impact"], threat["exploitability"], threat["residual_exploitability"]) == ("I4", "E3", "E2")
    assert _matrix("I4", "E2") == "alara" and _matrix("I4", "E3") == "unacceptable"  # what D2 turns on


# --- D2: a listed file without a hash is not checked for other accounts ---

def _rewrite_compiled(code: Path, new_source: bytes) -> None:
    """What another account that may write the .pyc does: other code under the header of the source in place."""
    forged = code.with_name("forged.py")
    forged.write_bytes(new_source)
    stat = code.stat()
    os.utime(forged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    scratch = code.with_name("forged.pyc")
    py_compile.compile(str(forged), cfile=str(scratch), doraise=True)
    Path(importlib.util.cache_from_source(str(code))).write_bytes(scratch.read_bytes())  # in place: its mode kept
    forged.unlink()
    scratch.unlink()


@pytest.mark.req("SRS-230")
def test_d2_pin_an_open_compiled_file_is_reported(site: Path) -> None:
    # lead's fix: a listed file without a hash is still checked for other accounts' write access (was: OK, exit 0,
    # while the forged .pyc ran)
    code = site / "fake_device_h142" / "__init__.py"
    compiled = Path(importlib.util.cache_from_source(str(code)))
    compiled.chmod(0o666)
    (site / "fake_device_h142-1.0.dist-info" / "RECORD").chmod(0o666)
    _rewrite_compiled(code, b"X = 9\n")
    found = _findings()
    assert (DEVICE, str(compiled.relative_to(site)), "open to others") in found and _cli("self-check")[0] == 14
    (site / "fake_device_h142-1.0.dist-info" / "RECORD").chmod(0o644)
    # control: the same open file, listed with a hash, is reported open to others
    record = site / "fake_device_h142-1.0.dist-info" / "RECORD"
    listed = f"{compiled.relative_to(site)}"
    record.write_text(record.read_text().replace(f"{listed},,", f"{listed},{_hash(compiled.read_bytes())},1"))
    assert (DEVICE, listed, "open to others") in _findings()


@pytest.mark.req("SRS-230")
def test_d2_a_listed_file_without_a_hash_open_to_others_is_reported(site: Path) -> None:
    compiled = Path(importlib.util.cache_from_source(str(site / "fake_device_h142" / "__init__.py")))
    compiled.chmod(0o666)
    assert (DEVICE, str(compiled.relative_to(site)), "open to others") in _findings()


# --- D3: a damaged RECORD is an internal error ---

DAMAGED = {"four fields": b"x.py,sha256=abc,1,extra\n", "size not a number": b"x.py,,twelve\n",
           "not UTF-8": b"x\xff.py,,\n"}


@pytest.mark.req("SRS-230")
def test_d3_pin_a_damaged_record_is_a_typed_failure(site: Path) -> None:
    # lead's fix: RECORD is read and parsed by installed_software.record_entries; a damaged one is a finding (was
    # DAI-999, exit 70)
    record = site / "fake_dependency_h142-1.0.dist-info" / "RECORD"
    genuine = record.read_bytes()
    for label, line in DAMAGED.items():
        record.write_bytes(genuine + line)
        code, out, err = _cli("self-check")
        assert code == 14 and "DAI-999" not in err and "RECORD" in out, (label, out, err)
    record.write_bytes(genuine + b"fake_dependency_h142/__init__.py,blake9=abc,16\n")  # control: typed, listed
    code, out, err = _cli("self-check")
    assert code == 14 and "DAI-330" in err and "unreadable" in out, err


@pytest.mark.req("SRS-230")
def test_d3_a_damaged_record_is_reported_with_dai_330(site: Path) -> None:
    record = site / "fake_dependency_h142-1.0.dist-info" / "RECORD"
    genuine = record.read_bytes()
    for label, line in DAMAGED.items():
        record.write_bytes(genuine + line)
        code, out, err = _cli("self-check")
        assert code == 14 and "DAI-330" in err, (label, err)


def _self_check_process(site: Path, first: str = "") -> tuple[int, str, str]:
    """``device-ai self-check`` of the fake device in a process of its own, after ``first`` (Python code)."""
    import subprocess

    code = (f"{first}\nimport device_ai.installed_software as checked\nchecked.MAIN = {DEVICE!r}\n"
            "from device_ai.cli import main\nraise SystemExit(main(['self-check']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.req("SRS-230")
def test_n4_a_removed_file_is_reported_also_once_importlib_metadata_is_imported(site: Path) -> None:
    # lead's fix: RECORD is read directly, not through Distribution.files (which the backport filters)
    (site / "fake_dependency_h142" / "__init__.py").unlink()
    code, out, err = _self_check_process(site)  # control: the command as shipped reports it
    assert code == 14 and "missing" in out, out + err
    code, out, err = _self_check_process(site, "import dask")  # dask imports importlib_metadata on Python < 3.12
    assert code == 14 and "missing" in out, out + err


# === 4. THR-027, THR-029, THR-030, THR-040 ======================================================================

@pytest.mark.req("SRS-079", "SRS-082", "SRS-036", "SRS-156", "SRS-223", "SRS-218")
def test_h30_the_lead_s_text_fixes_are_true_of_the_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device_ai.config import load_settings
    from device_ai.model.package import signing
    from device_ai.model.package.manifest import ModelManifest, TrainingInfo
    from device_ai.pseudonyms import pseudonym

    threats = {t["id"]: t for t in _yaml("security/threats.yaml")["threats"]}
    requirements = {r["id"]: r for r in _yaml("traceability/requirements.yaml")["software_requirements"]}
    # THR-027: no who-field; the signature file names the key id; the manifest records data digest and seed
    assert not [f for f in {*ModelManifest.model_fields, *TrainingInfo.model_fields}
                if any(w in f for w in ("sign", "author", "trainer", "trained_by", "organi"))]
    key = Ed25519PrivateKey.generate()
    assert signing.sign(b"{}", key).split()[0].decode() == signing.key_id(key.public_key())
    assert {"data_manifest_sha256", "seed"} <= set(TrainingInfo.model_fields)
    assert "not who trained it" in _flat(threats["THR-027"]["rationale"])
    # THR-029: a swapped owner-only key is used unnoticed (E2: the home is owner-only); a group-readable one refused
    before = pseudonym("series", "1.2.826.0.1.3680043.8.498.142")
    home = Path(load_settings().home)
    assert (home.stat().st_mode & 0o077) == 0
    keyfile = home / "keys" / "pseudonym-key.bin"
    swapped = keyfile.with_name("swap.tmp")
    swapped.write_bytes(os.urandom(32))
    swapped.chmod(0o600)
    os.replace(swapped, keyfile)
    assert pseudonym("series", "1.2.826.0.1.3680043.8.498.142") != before
    keyfile.chmod(0o640)
    with pytest.raises(ConfigError):  # control
        pseudonym("series", "1.2.826.0.1.3680043.8.498.142")
    assert (threats["THR-029"]["impact"], threats["THR-029"]["residual_exploitability"]) == ("I3", "E2")
    assert _matrix("I3", "E2") == "acceptable" and "is not detected" in _flat(threats["THR-029"]["rationale"])
    # THR-030 / THR-040: the stale sentences are gone and their controls approved
    for threat, requirement in (("THR-030", "SRS-223"), ("THR-040", "SRS-218")):
        assert "is draft" not in threats[threat]["rationale"] and requirements[requirement]["status"] == "approved"
    assert requirements["SRS-034"]["status"] != "approved"  # control: the status field tells drafts apart
    # THR-040: the folder holding the configuration file is not checked; the file's write bits are
    folder = tmp_path / "open-folder"
    folder.mkdir()
    folder.chmod(0o777)
    config = folder / "device.yaml"
    config.write_text("node_port: 11142\n")
    config.chmod(0o644)
    monkeypatch.setenv("DEVICE_AI_CONFIG", str(config))
    assert load_settings().node_port == 11142
    config.chmod(0o664)
    with pytest.raises(ConfigError, match="configuration file"):  # control
        load_settings()
