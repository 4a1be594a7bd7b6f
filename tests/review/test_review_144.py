"""Independent re-review 144 (reviewer helper-144) of the lead's fixes of re-reviews 141, 142 and 143 (issue 19), at
the content approved subject to it (e4749e0; src/ is 0a330b0's). helper-144 wrote none of the code, texts or tests
reviewed. Read: ``git show 14e92ab fa3e5a0 0a330b0 a2ccd97 58a4b99 e4749e0``, the docstrings of reviews 141-143,
audit/export_verify.py, audit/export.py (render_line), audit/export_proof.py, app/audit_export.py, cli/audit.py,
installed_software.py, cli/self_check.py, config.py (Destination, display_url, secrets_in, load_settings),
node/transport_security.py (client_context), pydantic-settings 2.16.3 InitSettingsSource (names matched by
str.lower), SRS-224/230/231, SRS-092/094, the items of part 4 and ALL of submission/device.yaml (its one entry,
DEVICE-DESCRIPTION, 215 lines: facts spot-checked against the model manifest and the code, below). Scratch probes
(not kept) under /tmp/h144. Line numbers: HEAD e4749e0's.

1. SRS-224 / THR-035 (verify-export) - DEFECT (D1, D2); the 14e92ab fixes HOLD.
   Holds (test_p01, exit 8, DAI-712, nothing on stdout, naming the record or the bundle): 100,000 '[' as the bundle's
   records or selection (_read_bundle's RecursionError, :136), as an FHIR export line (_difference, :232); a lone
   surrogate in the checkpoint (:159-162), in a selection value or key, in the software name; raw UTF-8 surrogate
   bytes and a duplicated key in an FHIR line; a 5,000-digit rendering or index in the bundle's bytes, an index of
   10**400; a non-UTF-8 bundle and export line; the bundle or the export cut in half; a bundle that is a JSON list,
   string or number, or empty. Control: the genuine exports in the three formats verify (exit 0).
   DEFECT D1 (export_verify.py:201-205): a record's leaf or proof string with a character that is not ASCII ('e'
   with an accent, or a lone surrogate) ends in "error DAI-999: internal error", exit 70, in every format:
   base64.b64decode raises a plain ValueError ("string argument should contain only ASCII characters") for a str
   that is not ASCII, and _check_record catches only binascii.Error. SRS-224 (requirements.yaml:2812-2813: "otherwise
   it shall fail with DAI-712 (exit 8) naming the first failing record") and THR-035 ("fails naming the record when
   ... the bundle's leaf bytes or proofs are altered") are untrue for it. Fails closed (never 0). test_d1_pin
   (control: a leaf of ASCII that is not base64, '!!!!', is DAI-712 naming record 1); strict xfail test_d1_xfail.
   DEFECT D2 (export_verify.py:225-227 calling _rendered :241-246): when a line differs, _difference renders every
   other record of the bundle to name a moved record, unproven ones included, and _rendered catches ValueError,
   KeyError and TypeError only: a bundle with one added record whose leaf is 100,000 nested '[' (fhir and atna:
   RecursionError) or an entry whose details are a list (fhir: AttributeError) plus an edited first line ends in
   DAI-999, exit 70. test_d2_pin (control: the same added record with the shallow leaf '[1]' is DAI-712 naming
   record 1); strict xfail test_d2_xfail.
   N1 (no defect): json.loads keeps the last of duplicated keys, so a bundle with "bundle_version": 2 before the
   genuine 1, or a "selection" naming a study before the genuine empty one, verifies (exit 0): every check SRS-224
   lists holds on the values used, and the OK line states the selection used ("the whole log"). Likewise json.loads
   of bytes decodes with surrogatepass, so UTF-8-encoded surrogates in the (informative, unsigned) software field
   pass (test_n1). A receiver that reads the bundle with a first-key-wins parser would see another selection.

2. SRS-230 / THR-046 / IF-INSTALLED-SOFTWARE (self-check) - SRS-230 DEFECT (D3); 14e92ab's fixes HOLD.
   Holds (fake distributions as pip writes them in a temp site-packages on sys.path, review 142's fixture):
   hash-less entries open to others - a 0646 .pyc and a 0666 RECORD - are reported "open to others", exit 14 DAI-330
   after the list (installed_software.py:282-290; test_h10; control: untouched, exit 0 and the OK line). A damaged
   RECORD - four or two fields, an unterminated quote, an empty path, a size that is not a number, a hash without
   '=' value, a hash named 'md7', bytes that are not UTF-8 - is a finding "RECORD (...)" or "unreadable", exit 14
   DAI-330; a '..' path and an absolute path to a file that does not exist are "missing", an absolute path to a
   folder "unreadable" (pip writes '../../../bin/x' for scripts, so '..' is no damage in itself) (test_h11). A
   removed file is reported "missing" in a process that imported importlib_metadata and dask first, (N4 of review
   142; test_h12; control: the same process without the removal exits 0).
   DEFECT D3 (a damaged .dist-info is still an internal error, exit 70): (a) a NUL in a RECORD path - a torn write
   that zeroes a few bytes inside a line - raises ValueError ("embedded null byte") from os.path.realpath (:272);
   (b) a RECORD field longer than csv's 131,072-character limit (a zeroed block with no comma or line end) raises
   _csv.Error from the reader (:181), which is not a ValueError; (c) a hash named shake_128 raises TypeError in
   _digest (:205, digest() needs a length); (d) a direct_url.json that is not UTF-8 or nests too deeply (_editable,
   :210-214; pip lists it with a hash, so its damage should be "altered") and a METADATA that is not UTF-8
   (dist.requires, :128) end the same way. Each: "error DAI-999: internal error", exit 70, nothing listed. SRS-230
   (requirements.yaml:3004-3005: "otherwise it shall exit with DAI-330 (exit code 14) after the list") - the class
   of review 142 D3, for inputs its fix does not cover. Fails closed (never OK). test_d3_pin (control: the same
   RECORD line damaged without a NUL is a DAI-330 finding); strict xfail test_d3_xfail.
   IF-INSTALLED-SOFTWARE HOLDS: "reports each file that differs from its RECORD and each file or folder other
   accounts could write" is now true of hash-less files too (test_h10); D3 fails closed.
   THR-046 DEFECT (D6, text): its rationale says "device-ai self-check (SRS-230, draft)" - SRS-230 is approved at
   this content - and "built by helper-139, not re-reviewed" - review 142 re-reviewed it (test_t05_pin; strict xfail
   test_t05_xfail asserts the second, which stays untrue whatever SRS-230's status becomes).

3. SRS-231 / THR-013 (the secret check) - DEFECT (D4, D5); 0a330b0's fix HOLDS.
   Holds (test_h20): a password, a query value and a url that does not parse, in node_destinations spelled
   node_destinations, NODE_DESTINATIONS, Node_Destinations and nODE_dESTINATIONS (pydantic-settings matches names by
   str.lower(), as secrets_in now does, config.py:425), in a stow, a dimse and a folder destination, through a
   top-level YAML merge key ('<<:') and a '!!str' tag - each refused at 0644, 0640, 0604 and 0440, naming the file,
   the destination, the mode and chmod 600, never echoing the password; read at 0600 and 0400. A link to a 0644
   file is refused, a link to a 0600 file read. Control: a file without a secret is read at 0644. No other setting
   holds a secret (SECRET_FIELDS is empty; passphrases and keys are files; 'device_ai_node_destinations' and a url
   key spelled 'URL' are refused as unknown settings).
   DEFECT D4 (config.py:427-428), fails open: secrets_in looks at a url only when it is a str, but pydantic turns
   bytes into str: a 0644 file that writes the url as YAML binary (url: !!binary <base64 of
   https://user:password@host/...>) is read and the password used - config show masks it, the destination's
   credentials are the password (test_d4_pin; control: the same url as text is refused; strict xfail
   test_d4_xfail). SRS-231 ("shall refuse to read a configuration file ... that holds a secret") and THR-013 ("read
   only when no account but its owner can read it") are untrue for that spelling; base64 hides nothing from the
   accounts that can read the file.
   DEFECT D5 (config.py:428), fails closed: a url that urlsplit cannot split (an unclosed '[': "Invalid IPv6 URL")
   raises ValueError out of secrets_in, before the settings' own checks: a file holding
   'https://user:password@[pacs/...' ends in DAI-999, exit 70, at 0644 and at 0600, where SRS-231 asks for a typed
   ConfigError naming the file, the destination, the mode and chmod 600 (test_d5_pin; control: the same
   destination in DEVICE_AI_NODE_DESTINATIONS is DAI-100, exit 2; strict xfail test_d5_xfail). 3e9b70c brought it
   (before it the settings' validator made it DAI-100).
   THR-013 DEFECT (D4, and D7 text): besides D4, its rationale says "fixed by helper-137, not re-reviewed" - review
   143 re-reviewed helper-137's fix (test_t04_pin; strict xfail test_t04_xfail).

4. TEXTS.
   HOLDS IF-DICOM-SCU: ca_bundle or, without one, the system trust store, the host name unless check_hostname is
     off, a client certificate - as client_context does (transport_security.py:40-46; test_t01: without ca_bundle
     the context holds the system's CAs, with one only that CA; check_hostname follows the setting, CERT_REQUIRED
     always).
   HOLDS SUC-003: lists IF-DICOM-SCU and IF-STOW-RS and says the results go to the node's destinations (watch adds
     OUT to node_destinations, hot_folder.py:181-183; review 141 D7's probe) (test_t02). N2: its description's "reads
     the site's pseudonym key and the audit checkpoint key" leaves out the destinations' client keys watch checks at
     start (runtime.py:65, check_client_keys), which SUC-001 words "(and its TLS key files)"; IF-KEY-STORE is listed.
   HOLDS THR-018: no stale status; "fixed by helper-137 and independently re-reviewed (review 143)" is true.
   DEFECT THR-015 (D8, text): 0a330b0 removed "SRS-222 is draft" but kept "(SRS-217, since helper-137's fix of
     review 134 defect T7, not re-reviewed)" - review 143 re-reviewed that fix and it held (SRS-217 approved) - the
     kind of stale status review 143 D2 found (test_t03_pin; strict xfail test_t03_xfail). Its ratings hold.
   DEFECT THR-035 (D1, D2 above; rating I2 x E3 holds, the failures are closed). THR-046 (D6), THR-013 (D4, D7).
   HOLDS RISK-025: S2; residual p1 P4 x p2 P4 = P4 (plan p_combination), S2 x P4 = alara; the residual equals the
     initial estimate and no effectiveness entry credits RC-034; its rationale's "while SRS-092 is draft" matches
     requirements.yaml; the IFU precaution it names exists (device.yaml:104-106). Control: the withdrawn P1 reduction
     (to P2) would make it acceptable, so the test sees the withdrawal (test_t06). N3: the rationale ties the
     withdrawal to SRS-092 alone, but the PDU read whole (review 141 D4) is against SRS-094, which stays approved:
     SRS-092's fix alone would not earn the reduction back.
   DEFECT BENEFIT-RISK (D9, text): every state it claims matches the risk file and requirements.yaml (RISK-025
     alara, SRS-092 draft, the other risks by the matrix), but overall_residual_risk lists the risks "in the ALARA
     region with no reduction credited, ALARA not claimed as reached, each naming what would earn a reduction" as
     RISK-002 ... RISK-024 and RISK-014 - RISK-025 is now exactly that (residual = initial, alara, its rationale names
     SRS-092's fix) and is left out; it is named only in open item (3) (test_t07_pin; strict xfail test_t07_xfail).
   HOLDS DEVICE-DESCRIPTION (read whole): the THR-008 precaution (let only the modalities and PACS reach the port),
     the THR-046 and THR-006 precautions; inputs vs the manifest's input contract (256-512 px square, 0.5-1.0 mm,
     1-5 mm, 16-bit MONOCHROME2 with rescale, at most 1000 slices); pre/postprocessing names; SR flags COMPLETE,
     UNVERIFIED, PRELIMINARY (dicom/sr.py); explanation heat under 10 % uncoloured (explain/render.py SHOWN_FROM);
     previews 1-based, lowest first (inference/previews.py) (test_t08; control: a manifest range changed fails).

Re-checked at c6e66ff (the lead's fix of review 141 D3/D4, committed meanwhile): it changes none of the files above but
THR-008's rationale and SRS-092 (still draft); this file passes there. N6: RISK-025's rationale describes review 141
D3/D4 as present; c6e66ff fixes them (not re-reviewed) - the withdrawal stands until that is verified, as it says.

Notes: N4 a top-level YAML key that is not a string (e.g. '1: 2') ends in DAI-999, exit 70 (config.py:468,
name.upper(); since 1e42377, not SRS-231's). N5 a RECORD entry naming a FIFO or /dev/zero with a hash would make
self-check wait or read forever (_digest); only an account that can write RECORD can do it, and that account can
already do anything the check is for.

Mutation check (git archive HEAD into /tmp/h144src/tree by /tmp/h144src/mutate.py; each fix undone alone in the
copy, this file run there with the copy's src first on PYTHONPATH; /work/main untouched; null copy: 19 passed, 9
xfailed): M1 _read_bundle's RecursionError not caught: p01; M2 the checkpoint encoded outside the try: p01; M3
_difference's RecursionError not caught: p01; M4 hash-less entries skipped unchecked: h10; M5 Distribution.files
again: h11, h12, d3 pin; M6 a non-UTF-8 RECORD not caught: h11; M7 the RECORD size not checked: h11; M8 secrets_in by
the exact key: h20; T1 IF-DICOM-SCU's old text: t01; T2 SUC-003's old interfaces: t02; T3/T4 THR-015's and THR-018's
old sentences: t03 pin; T5 the THR-008 precaution removed: t06, t08; T6 RISK-025's P1 reduction back: t06, t07 (pin
and strict xfail); T7 BENEFIT-RISK's RISK-025 acceptable: t07 pin. 15 mutants, 15 killed. fa3e5a0 re-checked: reviews
140, 142 and 143 at HEAD (the same copy): 85 passed.

Records: `device-ai trace review ID --by "helper-144 (independent re-review 144)" --independent` for IF-INSTALLED-
SOFTWARE, IF-DICOM-SCU, SUC-003, THR-018, RISK-025, DEVICE-DESCRIPTION only; none for SRS-224, SRS-230, SRS-231,
THR-013, THR-015, THR-035, THR-046, BENEFIT-RISK (defects).

Lead, 2026-12-07 (not re-reviewed): D1-D9 fixed - D1 a leaf or proof that is not ASCII is DAI-712 (export_verify
catches ValueError, of which binascii.Error is one); D2 _rendered returns None for any record it cannot render;
D3 record_entries refuses a NUL in a path and a csv.Error (DamagedRecord), a shake_* hash is 'unreadable',
direct_url.json that is not UTF-8 JSON is a finding, METADATA that is not UTF-8 gives no requirements and version
'-' (its RECORD hash reports it); D4/D5 config._may_hold_secret reads a bytes url as UTF-8 text and takes a url
urlsplit refuses as holding a secret; D6-D8 the stale review statuses removed from THR-046, THR-013, THR-015; D9
RISK-025 in BENEFIT-RISK's ALARA list. SRS-224, SRS-230 and SRS-231 went back to draft (8a40986). The pins assert
the fixes with their controls; the strict xfails are plain tests.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai.config import load_settings
from device_ai.errors import ConfigError
from tests import fast_yaml
from tests.review.test_review_140 import _verify, trail  # noqa: F401 - the module-scoped genuine exports
from tests.review.test_review_142 import (DEVICE, _all_as_installed, _cli, _self_check_process,  # noqa: F401 - fake installs
                                         site)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "FAKE-PASSWORD-144"
SECRET_URL = f"https://fake-user:{PASSWORD}@pacs.example.test/dicom-web/studies"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEVICE_AI_CONFIG", "DEVICE_AI_NODE_DESTINATIONS", "DEVICE_AI_AUDIT_COPY_DIR"):
        monkeypatch.delenv(name, raising=False)


def _yaml(path: str) -> Any:
    return fast_yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def _item(path: str, key: str, item: str) -> dict[str, Any]:
    return next(i for i in _yaml(path)[key] if i["id"] == item)


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def _status(requirement: str) -> str:
    return _item("traceability/requirements.yaml", "software_requirements", requirement)["status"]


# === 1. SRS-224 / THR-035: verify-export ======================================================================

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _parts(trail: dict[str, Any], fmt: str) -> tuple[bytes, bytes, dict]:  # noqa: F811
    export, bundle = trail["whole"][fmt]
    return export, bundle, json.loads(bundle)


def _rest(export: bytes) -> bytes:
    return export.split(b"\n", 1)[1]


def _holding_cases(trail: dict[str, Any]) -> dict[str, tuple[bytes, bytes | dict, str]]:  # noqa: F811
    """Crafted inputs that end in DAI-712, and what the refusal names."""
    export, bundle, proof = _parts(trail, "fhir")
    first = proof["records"][0]
    return {
        "deep records": (export, bundle.replace(b'"records": [', b'"records": [' + DEEP + b",", 1), "nested too deeply"),
        "deep selection": (export, bundle.replace(b'"selection": {}', b'"selection": ' + DEEP), "nested too deeply"),
        "deep fhir line": (DEEP + b"\n" + _rest(export), bundle, "record 1 (leaf 0)"),
        "surrogate in checkpoint": (export, {**proof, "checkpoint": proof["checkpoint"] + "\ud800"},
                                    "checkpoint is not text"),
        "surrogate in selection value": (export, {**proof, "selection": {"since": "\ud800"}}, "since"),
        "surrogate in selection key": (export, {**proof, "selection": {"\ud800": "x"}}, "not one of the filter's"),
        "surrogate in software": (export, {**proof, "software": "\ud800", "rendering": 2}, "rendering 2"),
        "raw surrogate bytes in fhir line": (b'{"\xed\xa0\x80": 1}\n' + _rest(export), bundle, "record 1 (leaf 0)"),
        "duplicated key in fhir line": (export.replace(b'{"action": ', b'{"action": "R", "action": ', 1), bundle,
                                        "record 1 (leaf 0)"),
        "5000-digit rendering": (export, bundle.replace(b'"rendering": 1', b'"rendering": ' + b"9" * 5000),
                                 "Exceeds the limit"),
        "5000-digit index": (export, bundle.replace(b'"index": 0', b'"index": ' + b"9" * 5000, 1), "Exceeds the limit"),
        "index 10**400": (export, {**proof, "records": [{**first, "index": 10**400}, *proof["records"][1:]]},
                          "record 1: the bundle names leaf"),
        "bundle not UTF-8": (export, b"\xff\xfe\x00", "is not a proof bundle"),
        "fhir line not UTF-8": (b'{"a": "\xff"}\n' + _rest(export), bundle, "record 1 (leaf 0)"),
        "export cut": (export[: len(export) // 2], bundle, "record 4 (leaf 3)"),
        "bundle cut": (export, bundle[: len(bundle) // 2], "is not a proof bundle"),
        "bundle a list": (export, b"[1]", "is not a proof bundle"),
        "bundle a string": (export, b'"x"', "is not a proof bundle"),
        "bundle a number": (export, b"1e999", "is not a proof bundle"),
        "bundle empty": (export, b"", "is not a proof bundle"),
    }


@pytest.mark.req("SRS-224")
def test_p01_crafted_exports_and_bundles_are_refused_with_dai_712(trail: dict[str, Any],  # noqa: F811
                                                                  tmp_path: Path) -> None:
    for fmt in ("fhir", "atna", "leaves"):  # control: the genuine exports verify
        code, out, err = _verify(trail, tmp_path / fmt, *trail["whole"][fmt])
        assert code == 0 and out.startswith("OK: ") and err == "", err
    for index, (case, (export, bundle, named)) in enumerate(_holding_cases(trail).items()):
        code, out, err = _verify(trail, tmp_path / f"c{index}", export, bundle)
        assert (code, out) == (8, "") and err.startswith("error DAI-712") and named in err, (case, code, err[:300])


def _not_ascii(trail: dict[str, Any]) -> dict[str, tuple[bytes, dict]]:  # noqa: F811
    cases = {}
    for fmt in ("fhir", "atna", "leaves"):
        export, _, proof = _parts(trail, fmt)
        first = proof["records"][0]
        for where, value in (("leaf", "\u00e9"), ("leaf", "\ud800"), ("proof", ["\u00e9"])):
            record = {**first, where: value}
            cases[f"{fmt} {where} {value!r}"] = (export, {**proof, "records": [record, *proof["records"][1:]]})
    return cases


@pytest.mark.req("SRS-224")
def test_d1_pin_a_leaf_or_proof_that_is_not_ascii_is_an_internal_error(trail: dict[str, Any],  # noqa: F811
                                                                       tmp_path: Path) -> None:
    for index, (case, (export, bundle)) in enumerate(_not_ascii(trail).items()):
        code, out, err = _verify(trail, tmp_path / f"c{index}", export, bundle)
        # lead, 2026-12-07: D1 fixed - refused as the requirement says, naming the record
        assert code == 8 and out == "" and err.startswith("error DAI-712") and "record" in err, (case, err)
    # control: a leaf of ASCII that is not base64 is refused as the requirement says, naming the record
    export, _, proof = _parts(trail, "fhir")
    record = {**proof["records"][0], "leaf": "!!!!"}
    code, out, err = _verify(trail, tmp_path / "ascii", export, {**proof, "records": [record, *proof["records"][1:]]})
    assert code == 8 and err.startswith("error DAI-712") and "record 1 (leaf 0)" in err, err


@pytest.mark.req("SRS-224")
# was a strict xfail: "re-review 144 D1: a leaf or proof that is not ASCII ends in DAI-999, exit 70") (fixed by the lead, 2026-12-07)
def test_d1_xfail_a_leaf_or_proof_that_is_not_ascii_is_refused_naming_the_record(trail: dict[str, Any],  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    for index, (case, (export, bundle)) in enumerate(_not_ascii(trail).items()):
        code, _, err = _verify(trail, tmp_path / f"c{index}", export, bundle)
        assert code == 8 and err.startswith("error DAI-712") and "record 1" in err, (case, err)


_ENTRY = {"event": {"scheme": "DCM", "code": "110100", "meaning": "Application Activity"}, "seq": 1, "action": "E",
          "time_utc": "2026-12-07T00:00:00.000000Z", "outcome": 0, "actor": {"user": "u", "process": "p", "host": "h"},
          "objects": [], "details": [1]}


def _added_record(trail: dict[str, Any], fmt: str, leaf: bytes) -> tuple[bytes, dict]:  # noqa: F811
    """The genuine bundle with one record added (``leaf``, unproven), the export's first line edited."""
    export, _, proof = _parts(trail, fmt)
    added = {**proof["records"][0], "leaf": _b64(leaf)}
    return b"edited " + export, {**proof, "records": [*proof["records"], added]}


def _added_cases(trail: dict[str, Any]) -> dict[str, tuple[bytes, dict]]:  # noqa: F811
    return {"fhir deep": _added_record(trail, "fhir", DEEP), "atna deep": _added_record(trail, "atna", DEEP),
            "fhir details a list": _added_record(trail, "fhir", json.dumps(_ENTRY).encode())}


@pytest.mark.req("SRS-224")
def test_d2_pin_an_added_record_that_cannot_be_rendered_is_an_internal_error(trail: dict[str, Any],  # noqa: F811
                                                                             tmp_path: Path) -> None:
    for index, (case, (export, bundle)) in enumerate(_added_cases(trail).items()):
        code, out, err = _verify(trail, tmp_path / f"c{index}", export, bundle)
        assert code == 8 and out == "" and err.startswith("error DAI-712"), (case, err)  # lead: D2 fixed
    # control: the same added record with a shallow leaf: DAI-712 naming record 1
    code, out, err = _verify(trail, tmp_path / "shallow", *_added_record(trail, "fhir", b"[1]"))
    assert code == 8 and err.startswith("error DAI-712") and "record 1 (leaf 0)" in err, err


@pytest.mark.req("SRS-224")
# was a strict xfail: "re-review 144 D2: _rendered lets RecursionError/AttributeError through") (fixed by the lead, 2026-12-07)
def test_d2_xfail_an_added_record_that_cannot_be_rendered_is_refused(trail: dict[str, Any],  # noqa: F811
                                                                    tmp_path: Path) -> None:
    for index, (case, (export, bundle)) in enumerate(_added_cases(trail).items()):
        code, _, err = _verify(trail, tmp_path / f"c{index}", export, bundle)
        assert code == 8 and err.startswith("error DAI-712") and "record 1" in err, (case, err)


@pytest.mark.req("SRS-224")
def test_n1_duplicated_bundle_keys_are_read_last_wins_and_shown(trail: dict[str, Any],  # noqa: F811
                                                                tmp_path: Path) -> None:
    export, bundle, proof = _parts(trail, "fhir")
    study = '{"study": "study-0000000000000002"}'
    cases = [bundle.replace(b'"bundle_version": 1', b'"bundle_version": 2, "bundle_version": 1'),
             bundle.replace(b'"selection": {}', b'"selection": ' + study.encode() + b', "selection": {}'),
             bundle.replace(b'"software": "', b'"software": "\xed\xa0\x80')]
    for index, crafted in enumerate(cases):
        assert crafted != bundle
        code, out, err = _verify(trail, tmp_path / f"c{index}", export, crafted)
        assert code == 0 and out.rstrip().endswith("selection: the whole log"), err  # the values used, shown
    # control: the duplicated key that is used (the last) is checked
    crafted = bundle.replace(b'"selection": {}', b'"selection": {}, "selection": ' + study.encode())
    code, _, err = _verify(trail, tmp_path / "last", export, crafted)
    assert code == 8 and "DAI-712" in err and "study=study-0000000000000002" in err, err


# === 2. SRS-230 / THR-046 / IF-INSTALLED-SOFTWARE: self-check ===================================================

def _info(site: Path) -> Path:  # noqa: F811
    return site / "fake_device_h142-1.0.dist-info"


def _add_line(site: Path, line: bytes) -> None:  # noqa: F811
    record = _info(site) / "RECORD"
    record.write_bytes(record.read_bytes() + line)


@pytest.mark.req("SRS-230")
def test_h10_hash_less_files_open_to_others_are_reported(site: Path) -> None:  # noqa: F811
    code, out, err = _cli("self-check")  # control: untouched
    assert code == 0 and _all_as_installed(4) in out, out + err
    [compiled] = (site / "fake_device_h142" / "__pycache__").iterdir()
    compiled.chmod(0o646)
    (_info(site) / "RECORD").chmod(0o666)
    code, out, err = _cli("self-check")
    assert code == 14 and err.startswith("error DAI-330"), err
    assert f"open to others {DEVICE} 1.0: fake_device_h142/__pycache__/{compiled.name}" in out, out
    assert f"open to others {DEVICE} 1.0: fake_device_h142-1.0.dist-info/RECORD" in out, out
    assert out.index("open to others") < out.index("distribution(s)")  # the list, then the counts


DAMAGED = {"four fields": b"x.py,sha256=abc,1,extra\n", "two fields": b"x.py,sha256=abc\n",
           "unterminated quote": b'"x.py,,\n', "empty path": b",sha256=abc,1\n", "size not a number": b"x.py,,twelve\n",
           "hash without its value": b"x.py,abc,1\n", "not UTF-8": b"x\xff.py,,\n"}
LISTED = {"unknown hash": (b"fake_device_h142/__init__.py,md7=AAAA,6\n", "unreadable   ", "fake_device_h142/__init__.py"),
          "'..' to nowhere": (b"../../nowhere-h144/x.py,sha256=AAAA,1\n", "missing      ", "../../nowhere-h144/x.py"),
          "absolute, missing": (b"/nonexistent-h144/x.py,sha256=AAAA,1\n", "missing      ", "/nonexistent-h144/x.py"),
          "absolute folder": (b"/tmp,sha256=AAAA,1\n", "unreadable   ", "/tmp")}


@pytest.mark.req("SRS-230")
def test_h11_a_damaged_record_is_a_dai_330_finding(site: Path) -> None:  # noqa: F811
    genuine = (_info(site) / "RECORD").read_bytes()
    for label, line in DAMAGED.items():
        _add_line(site, line)
        code, out, err = _cli("self-check")
        assert code == 14 and err.startswith("error DAI-330") and f"{DEVICE} 1.0: RECORD (" in out, (label, out, err)
        (_info(site) / "RECORD").write_bytes(genuine)
    for label, (line, state, shown) in LISTED.items():
        _add_line(site, line)
        code, out, err = _cli("self-check")
        assert code == 14 and f"  {state}{DEVICE} 1.0: {shown}\n" in out, (label, out, err)
        (_info(site) / "RECORD").write_bytes(genuine)
    assert _cli("self-check")[0] == 0  # control: the genuine RECORD again


@pytest.mark.req("SRS-230")
def test_h12_a_removed_file_is_reported_whatever_was_imported_first(site: Path) -> None:  # noqa: F811
    first = "import importlib_metadata, dask  # the backport replaces the distribution finder"
    code, out, err = _self_check_process(site, first)  # control: nothing removed
    assert code == 0 and _all_as_installed(4) in out, out + err
    (site / "fake_dependency_h142" / "__init__.py").unlink()
    code, out, err = _self_check_process(site, first)
    assert code == 14 and "missing      fake-dependency-h142 1.0: fake_dependency_h142/__init__.py" in out, out + err


def _torn(site: Path) -> bytes:  # noqa: F811
    """RECORD with a few bytes inside its first path zeroed, as a torn write leaves them."""
    record = (_info(site) / "RECORD").read_bytes()
    return record[:5] + b"\0" * 4 + record[9:]


def _broken_dist_info(site: Path) -> dict[str, tuple[str, bytes]]:  # noqa: F811
    """Damage that is still an internal error: file (relative to site) -> bytes."""
    info, dependency = _info(site).name, "fake_dependency_h142-1.0.dist-info"
    record = (_info(site) / "RECORD").read_bytes()
    return {"NUL in a path": (f"{info}/RECORD", _torn(site)),
            "field over csv's limit": (f"{info}/RECORD", record + b"\0" * 140_000),
            "shake_128 hash": (f"{info}/RECORD", record + b"fake_device_h142/__init__.py,shake_128=AAAA,6\n"),
            "direct_url.json not UTF-8": (f"{info}/direct_url.json", b"\xff\xfe{"),
            "direct_url.json nested too deeply": (f"{info}/direct_url.json", DEEP),
            "METADATA not UTF-8": (f"{dependency}/METADATA",
                                   (site / dependency / "METADATA").read_bytes() + b"Summary: \xff\n")}


def _with(site: Path, path: str, data: bytes) -> tuple[int, str, str]:  # noqa: F811
    target = site / path
    before = target.read_bytes() if target.exists() else None
    target.write_bytes(data)
    try:
        return _cli("self-check")
    finally:
        if before is None:
            target.unlink()
        else:
            target.write_bytes(before)


@pytest.mark.req("SRS-230")
def test_d3_pin_a_damaged_dist_info_is_still_an_internal_error(site: Path) -> None:  # noqa: F811
    for label, (path, data) in _broken_dist_info(site).items():
        code, out, err = _with(site, path, data)
        assert code == 14 and err.startswith("error DAI-330"), (label, err)  # lead, 2026-12-07: D3 fixed
    # control: the same line torn with something other than NULs is a DAI-330 finding
    code, out, err = _with(site, f"{_info(site).name}/RECORD", _torn(site).replace(b"\0", b",", 2))
    assert code == 14 and "RECORD (RECORD line 1 is not path,hash,size)" in out, out + err


@pytest.mark.req("SRS-230")
# was a strict xfail: "re-review 144 D3: NUL path, csv field limit, shake hash, damaged "                        (fixed by the lead, 2026-12-07)
def test_d3_xfail_a_damaged_dist_info_is_reported_with_dai_330(site: Path) -> None:  # noqa: F811
    for label, (path, data) in _broken_dist_info(site).items():
        code, _, err = _with(site, path, data)
        assert code == 14 and err.startswith("error DAI-330"), (label, err)


# === 3. SRS-231 / THR-013: a configuration file with a secret ===================================================

def _config(folder: Path, text: str, mode: int, name: str = "device-ai.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _destination(url: str, kind: str = "stow") -> str:
    extra = {"stow": "", "dimse": ", ae_title: PACS, host: 127.0.0.1, port: 104", "folder": ", path: /tmp/h144-out"}
    return f"{{name: pacs, kind: {kind}, url: {url}{extra[kind]}}}"


def _secret_files() -> dict[str, str]:
    files = {}
    for key in ("node_destinations", "NODE_DESTINATIONS", "Node_Destinations", "nODE_dESTINATIONS"):
        files[f"{key}, password"] = f"{key}:\n- {_destination(repr(SECRET_URL))}\n"
    files["query value"] = f"node_destinations:\n- {_destination(repr('https://pacs.example.test/x?access_token=T'))}\n"
    files["url that does not parse"] = ("node_destinations:\n- "
                                        f"{_destination(repr(f'https://u:{PASSWORD}/x@pacs.example.test/x'))}\n")
    for kind in ("dimse", "folder"):
        files[f"{kind} with a url"] = f"NODE_DESTINATIONS:\n- {_destination(repr(SECRET_URL), kind)}\n"
    files["top-level merge key"] = f"<<: {{node_destinations: [{_destination(repr(SECRET_URL))}]}}\n"
    files["!!str tag"] = f"node_destinations:\n- {_destination('!!str ' + repr(SECRET_URL))}\n"
    return files


@pytest.mark.req("SRS-231")
def test_h20_a_secret_in_every_spelling_kind_and_form_is_refused(tmp_path: Path) -> None:
    for index, (case, text) in enumerate(_secret_files().items()):
        folder = tmp_path / f"c{index}"
        for mode in (0o644, 0o640, 0o604, 0o440):
            path = _config(folder, text, mode)
            with pytest.raises(ConfigError, match=f"holds a secret .*destination pacs.*mode {mode:04o}") as caught:
                load_settings(path)
            said = caught.value.message + (caught.value.hint or "")
            assert str(path) in said and f"chmod 600 {path}" in said and PASSWORD not in said, case
        for mode in (0o600, 0o400):  # only the owner can read it: read
            if "does not parse" not in case:
                assert load_settings(_config(folder, text, mode)).node_destinations[0].name == "pacs", case
    target = _config(tmp_path / "real", _secret_files()["NODE_DESTINATIONS, password"], 0o644)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="holds a secret .*mode 0644"):
        load_settings(link)
    target.chmod(0o600)
    assert load_settings(link).node_destinations[0].credentials == ("fake-user", PASSWORD)
    # control: a file without a secret is read at 0644
    clean = f"NODE_DESTINATIONS:\n- {_destination(repr('https://pacs.example.test/dicom-web/studies'))}\n"
    assert load_settings(_config(tmp_path / "clean", clean, 0o644)).node_destinations[0].credentials is None


def _binary_url() -> str:
    return f"node_destinations:\n- {_destination('!!binary ' + _b64(SECRET_URL.encode()))}\n"


@pytest.mark.req("SRS-231")
def test_d4_pin_a_url_written_as_yaml_binary_passes_the_secret_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds a secret"):  # lead, 2026-12-07: D4 fixed
        load_settings(_config(tmp_path / "binary", _binary_url(), 0o644))
    settings = load_settings(_config(tmp_path / "binary", _binary_url(), 0o600))  # owner-only: read and used
    assert settings.node_destinations[0].credentials == ("fake-user", PASSWORD)
    # control: the same url written as text is refused
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path / "text", f"node_destinations:\n- {_destination(repr(SECRET_URL))}\n", 0o644))


@pytest.mark.req("SRS-231")
# was a strict xfail: "re-review 144 D4: secrets_in skips a url that is not a str (YAML !!binary)") (fixed by the lead, 2026-12-07)
def test_d4_xfail_a_url_written_as_yaml_binary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path, _binary_url(), 0o644))


UNSPLITTABLE = f"https://fake-user:{PASSWORD}@[pacs.example.test/dicom-web/studies"


@pytest.mark.req("SRS-231")
def test_d5_pin_a_url_urlsplit_refuses_is_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mode in (0o644, 0o600):
        path = _config(tmp_path, f"node_destinations:\n- {_destination(repr(UNSPLITTABLE))}\n", mode)
        code, out, err = _cli("--config", str(path), "config", "show")
        # lead, 2026-12-07: D5 fixed - at 0644 refused as a file holding a secret, at 0600 the settings' own check
        assert code == 2 and out == "" and err.startswith("error DAI-100") and PASSWORD not in err, err
        assert ("holds a secret" in err) is (mode == 0o644), err
    # control: the same destination from the environment meets the settings' own check: typed, exit 2
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{"name": "pacs", "kind": "stow",
                                                                    "url": UNSPLITTABLE}]))
    code, out, err = _cli("config", "show")
    assert code == 2 and err.startswith("error DAI-100: invalid setting node_destinations.0"), err


@pytest.mark.req("SRS-231")
# was a strict xfail: "re-review 144 D5: secrets_in lets urlsplit's ValueError through") (fixed by the lead, 2026-12-07)
def test_d5_xfail_a_url_urlsplit_refuses_is_a_typed_refusal(tmp_path: Path) -> None:
    path = _config(tmp_path, f"node_destinations:\n- {_destination(repr(UNSPLITTABLE))}\n", 0o644)
    code, _, err = _cli("--config", str(path), "config", "show")
    assert code == 2 and "DAI-100" in err and str(path) in err and PASSWORD not in err, err


# === 4. Texts ==================================================================================================

@pytest.mark.req("SRS-216")
def test_t01_if_dicom_scu_says_what_client_context_trusts(tmp_path: Path) -> None:
    import ssl

    from device_ai.config import TransportSecurity
    from device_ai.node.transport_security import client_context
    from tests.node.test_tls import _certificate

    text = _flat(_item("security/interfaces.yaml", "interfaces", "IF-DICOM-SCU")["authentication"])
    assert "CA bundle (ca_bundle) or, without one, the system's trust store" in text
    assert "its host name unless the site turns check_hostname off" in text
    system = client_context(TransportSecurity(tls=True))
    unchecked = client_context(TransportSecurity(tls=True, check_hostname=False))
    assert system.cert_store_stats() == ssl.create_default_context().cert_store_stats()  # the system's CAs
    assert system.check_hostname and system.verify_mode == ssl.CERT_REQUIRED
    assert not unchecked.check_hostname and unchecked.verify_mode == ssl.CERT_REQUIRED
    _certificate(tmp_path, "ca", ca=True)  # control: with a ca_bundle, only that CA
    bundled = client_context(TransportSecurity(tls=True, ca_bundle=tmp_path / "ca.pem")).cert_store_stats()
    assert bundled["x509_ca"] == 1 and bundled != system.cert_store_stats()


@pytest.mark.req("SRS-216")
def test_t02_suc_003_lists_what_watch_sends_through() -> None:
    cases = {c["id"]: c for c in _yaml("security/use_cases.yaml")["security_use_cases"]}
    suc3 = cases["SUC-003"]
    assert {"IF-DICOM-SCU", "IF-STOW-RS", "IF-RESULT-FILES", "IF-KEY-STORE"} <= set(suc3["interfaces"])
    assert "to the node's configured destinations (C-STORE, STOW-RS)" in _flat(suc3["description"])
    sending = [cid for cid, c in cases.items() if "IF-DICOM-SCU" in c["interfaces"]]
    assert sending == ["SUC-001", "SUC-003"]  # control: a use case that sends nothing does not list it


def _rationale(threat: str) -> str:
    return _flat(_item("security/threats.yaml", "threats", threat)["rationale"])


def _review_docstring(number: int) -> str:
    return _flat((ROOT / f"tests/review/test_review_{number}.py").read_text(encoding="utf-8").split('"""')[1])


@pytest.mark.req("SRS-217")
def test_t03_pin_thr015_still_says_helper_137_s_fix_is_not_re_reviewed() -> None:
    assert "since the fix of review 134 defect T7)" in _rationale("THR-015")  # lead, 2026-12-07: D8 fixed
    assert "HOLDS SRS-217 (THR-018, THR-015's prevention" in _review_docstring(143) and _status("SRS-217") == "approved"
    # control: THR-018 says it of the same fix correctly, and neither keeps review 143 D2's sentences
    assert "fixed by helper-137 and independently re-reviewed (review 143)" in _rationale("THR-018")
    assert "SRS-222 is draft" not in _rationale("THR-015") and "back to draft" not in _rationale("THR-018")


@pytest.mark.req("SRS-217")
# was a strict xfail: "re-review 144 D8: THR-015 says helper-137's fix is not re-reviewed") (fixed by the lead, 2026-12-07)
def test_t03_xfail_thr015_states_no_stale_review_status() -> None:
    assert "not re-reviewed" not in _rationale("THR-015")


@pytest.mark.req("SRS-231")
def test_t04_pin_thr013_says_helper_137_s_fix_is_not_re_reviewed() -> None:
    rationale = _rationale("THR-013")
    # lead, 2026-12-07: D7 fixed (and D4: the claim below is true again)
    assert "re-review 144 (defects D4, D5)" in rationale and "DEFECT SRS-231 / THR-013" in _review_docstring(143)
    assert "read only when no account but its owner can read it (SRS-231" in rationale


@pytest.mark.req("SRS-231")
# was a strict xfail: "re-review 144 D7: THR-013 says helper-137's fix is not re-reviewed") (fixed by the lead, 2026-12-07)
def test_t04_xfail_thr013_states_no_stale_review_status() -> None:
    assert "not re-reviewed" not in _rationale("THR-013")


@pytest.mark.req("SRS-230")
def test_t05_pin_thr046_states_statuses_it_no_longer_has() -> None:
    rationale = _rationale("THR-046")
    # lead, 2026-12-07: D6 fixed - no review status in the text (SRS-230 went back to draft for D3 meanwhile)
    assert "device-ai self-check (SRS-230)" in rationale and "draft" not in rationale
    assert "not re-reviewed" not in rationale and "THR-046" in _review_docstring(142)


@pytest.mark.req("SRS-230")
# was a strict xfail: "re-review 144 D6: THR-046 says helper-139's SRS-230 is not re-reviewed") (fixed by the lead, 2026-12-07)
def test_t05_xfail_thr046_states_no_stale_review_status() -> None:
    assert "not re-reviewed" not in _rationale("THR-046")


def _matrix() -> tuple[dict, dict]:
    plan = _yaml("risk/plan.yaml")
    found: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update({k: v for k, v in node.items() if k in ("p_combination", "acceptability")})
            for value in node.values():
                walk(value)
    walk(plan)
    return found["p_combination"], found["acceptability"]


def _state(situation: dict[str, Any], residual: dict[str, str] | None = None) -> str:
    combination, acceptability = _matrix()
    residual = residual or situation["residual"]
    return acceptability[situation["severity"]][combination[residual["p1"]][residual["p2"]]]


@pytest.mark.req("SRS-183")
def test_t06_risk_025_is_stated_as_the_risk_file_has_it() -> None:
    risk = _item("risk/hazardous_situations.yaml", "hazardous_situations", "RISK-025")
    # lead, 2026-12-07: SRS-092's fixes held re-reviews 146 (after its D1 was fixed) and 152, SRS-092 is approved and
    # the P1 reduction (P4 to P2) is credited again, with its effectiveness measure; the rationale says why
    assert risk["severity"] == "S2" and risk["residual"] == {"p1": "P2", "p2": risk["p2"]} and risk["p1"] == "P4"
    assert _state(risk) == "acceptable" and risk["effectiveness"][0]["requirements"] == ["SRS-092", "SRS-094"]
    rationale = _flat(risk["residual_rationale"])
    assert "withdrawn after re-review 141" in rationale and "re-reviews 146 (after its D1 was fixed) and 152" in rationale
    assert "SRS-092" in _item("risk/controls.yaml", "risk_controls", "RC-034")["implemented_by"]
    assert _status("SRS-092") == "approved"
    assert "Let only the site's modalities and PACS reach the port" in _flat(json.dumps(_yaml("submission/device.yaml")))
    # control: without the reduction (P4) it would be ALARA - the test sees the reduction
    assert _state(risk, {"p1": "P4", "p2": "P4"}) == "alara"


def _alara_list() -> set[str]:
    text = _flat(_yaml("risk/benefit.yaml")["benefit_risk"]["overall_residual_risk"])
    listed = text.split("In the ALARA region with no reduction credited")[1].split("Open items")[0]
    return set(re.findall(r"RISK-\d{3}", listed))


def _alara_without_reduction() -> set[str]:
    return {s["id"] for s in _yaml("risk/hazardous_situations.yaml")["hazardous_situations"]
            if _state(s) == "alara" and s["residual"] == {"p1": s["p1"], "p2": s["p2"]}}


@pytest.mark.req("SRS-183")
def test_t07_pin_benefit_risk_leaves_risk_025_out_of_its_alara_list() -> None:
    benefit = _yaml("risk/benefit.yaml")["benefit_risk"]
    claims = {c["item"]: c["state"] for c in benefit["claims"]}
    situations = {s["id"]: s for s in _yaml("risk/hazardous_situations.yaml")["hazardous_situations"]}
    for item, state in claims.items():  # every state it claims of a risk or a requirement is the file's
        if item in situations:
            assert _state(situations[item]) == state, item
        elif item.startswith("SRS-") and state == "draft":
            assert _status(item) == "draft", item
    # lead, 2026-12-07: RISK-025's reduction credited again after re-review 152, so it left the ALARA list
    # SRS-092 is claimed verified (an approved requirement's state is its verdict: re-review 159 D3)
    assert claims["RISK-025"] == "acceptable" and claims["SRS-092"] == "verified" and _status("SRS-092") == "approved"
    assert _alara_without_reduction() - _alara_list() == set() and _alara_list() - _alara_without_reduction() == set()
    assert len(_alara_list()) == 10 and "RISK-025" not in _alara_list()  # control: the ten others are listed


@pytest.mark.req("SRS-183")
# was a strict xfail: "re-review 144 D9: overall_residual_risk's ALARA list omits RISK-025") (fixed by the lead, 2026-12-07)
def test_t07_xfail_benefit_risk_lists_every_alara_risk_without_a_reduction() -> None:
    assert _alara_without_reduction() <= _alara_list()


@pytest.mark.req("SRS-183")
def test_t08_the_device_description_matches_the_manifest_and_names_the_precautions() -> None:
    device = _yaml("submission/device.yaml")["device"]
    contract = json.loads((ROOT / "models/demo-dinov2-seg-1.0.0/manifest.json").read_text())["input_contract"]
    inputs = _flat(device["inputs"][0])

    def stated(contract: dict[str, Any]) -> str:
        rows, spacing, thickness = (contract[k] for k in ("rows_range", "pixel_spacing_range_mm",
                                                          "slice_thickness_range_mm"))
        return (f"{rows[0]} to {rows[1]} pixels square, pixel spacing {spacing[0]} to {spacing[1]} mm, slice "
                f"thickness {thickness[0]:g}\nto {thickness[1]:g} mm, {contract['bits_allocated'][0]}-bit "
                f"{contract['photometric'][0]} with rescale to HU, at most {contract['max_slices']} slices")
    assert _flat(stated(contract)) in inputs and contract["columns_range"] == contract["rows_range"]
    assert _flat(stated({**contract, "max_slices": 999})) not in inputs  # control: another contract is not stated
    precautions = _flat(" ".join(device["ifu"]["precautions"]))
    for words in ("Let only the site's modalities and PACS reach the port (a firewall rule or an isolated VLAN) "
                  "(THR-008)", "install the device into an environment that only administrators can write (THR-046)",
                  "the site that states one accepts that risk (THR-006)"):
        assert words in precautions
    from device_ai.explain.render import SHOWN_FROM

    assert SHOWN_FROM == 0.1 and "heat under 10 % is not coloured" in _flat(json.dumps(device["ifu"]["outputs"]))
    sr = (ROOT / "src/device_ai/dicom/sr.py").read_text(encoding="utf-8")
    assert all(flag in sr for flag in ("COMPLETE", "UNVERIFIED", "PRELIMINARY"))
