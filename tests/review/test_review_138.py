"""Independent review 138 (reviewer helper-138) of the cybersecurity file, part 2 (issue 19), at 4f21951 with the
working tree of 2026-12-07 (helper-136's uncommitted fixes touch THR-005/008/012 only, none of the items below):
THR-023, 024, 025, 026, 027, 028, 029, 030, 031, 032, 033, 034, 037, 040, 041, 042, 043, 044, 045 - the part-2
threats that `trace check --release` listed as "author review only". helper-138 wrote none of these items, their
controls or their tests. Read: security/plan.yaml (scales, matrix), threats.yaml, interfaces.yaml (IF-KEY-STORE),
assets.yaml (ASSET-KEYS), /work/shared/reference/audit_security.md, every RC-*/SRS-* these threats name (all exist
and are approved; each SRS has a verifying test, test_controls_exist...) and the code each claim points at:
keystore.py, pseudonyms.py, config.py (read_owned_file, masked, display_url), node/server.py (tls_context),
node/transport_security.py, batch/cluster_security.py, model/package/{verify,signing,manifest,pinned}.py,
inference/{engine,onnx_guard}.py, dicom/deidentify/{run,crosswalk}.py, batch/{crosswalk,anonymize_job,unit_work}.py,
app/{audited,deidentification,model}.py, audit/notefiles.py, node/{trail,worker,spool,runtime,hot_folder}.py,
dicom/series.py, dicom/contract.py, model/dinov2/checkpoint.py. Scratch probes (not kept) under /tmp/h138. Line
numbers: the working tree's (threats.yaml as above).

Acceptability, impact x residual on the plan's matrix, agrees with each rationale's wording for all 19 (THR-040,
042, 044, 045 ALARA; the others acceptable); every STRIDE class fits its attack.

HOLDS (14):
  THR-023 (crosswalk AES-256-GCM under the crosswalk key, also each batch unit's part, crosswalk.py:37-43,
    batch/crosswalk.py:42-55; the secret is read from the key store by every worker, only an HMAC check value
    travels, unit_work.py:38-40, 100-104), THR-024 (output names are keyed pseudonyms checked against the pattern,
    run.py:350-361, and _inside before every rename, run.py:897-900, 983-989; retain-uids keeps '../' UIDs in the
    data only - tests/dicom/test_deid_isolation.py), THR-025 and THR-026 (every file read once with O_NOFOLLOW,
    signature then pin then digests, verify.py:121-161; ORT gets package.files' bytes, engine.py:94-103; external
    data refused in graphs, functions, sparse and training tensors, onnx_guard.py; N1), THR-031 (residual = E2 as
    inherent; the rationale says who can still rewrite; N2), THR-032 (anonymize: crosswalk pending until the entry
    is durable, deidentification.py:71-92; node analyses go through the audited analyze, worker.py:1-34; failure
    entries carry the error code only, audited.py:77-95), THR-033 (N3), THR-034 (notes read one at a time, regular
    files of at most 64 KiB, FIFOs not blocking, notefiles.py:17-50; only notes signed by the log's key count),
    THR-037 (E2 for a deliberate kill; an accidental one loses and duplicates nothing under SRS-162), THR-041
    (display_url masks userinfo and every query value, config.py:191-205; status/dead letters use address();
    keys by place and state, keystore.py:239-250), THR-042 (N4), THR-043 (home and node folder owner-only,
    runtime.py:34; N5), THR-044 (no digest between stages, as stated: spool.py keeps digests only for purged
    series), THR-045 (N6).

DEFECTS (5):
  D1 THR-028 (threats.yaml:519-520), behavioural: "a folder or key file open to group or others is refused, never
    re-moded" is untrue of the keys IF-KEY-STORE names besides the key store's own (interfaces.yaml:125-133:
    "the node's TLS key files", "owner-only checked before use"; ASSET-KEYS names "the node's TLS key"). serve
    loads node_tls_key_file with ssl.load_cert_chain whatever its mode (server.py:102); a destination's
    transport.client_key likewise (transport_security.py:46); batch_tls_key_file is refused only when every
    account may read it, so 0640 is used (config.py:391). Another account that reads the node's key can pose as the
    node to the modalities that send it studies (E3 on the plan's scale): I4 x E3 is unacceptable, where the
    rationale gives E1 (test_d1_pin; control: the key store's own loader refuses the same 0640/0644 modes;
    strict xfail test_d1_xfail: tls_context refuses a 0644 key).
  D2 THR-029 (threats.yaml:531-535), rating: residual E1 is not justified for the half "a key file is swapped for
    the attacker's ... pseudonyms stop matching". Nothing checks that the pseudonym, de-identification or
    crosswalk key is the one used before: keystore.secret (keystore.py:253-262) takes any 32 owner-only bytes and
    pseudonyms.pseudonym (pseudonyms.py:14-17) just uses them - a swap by the device's account (the threat's own E2)
    goes unnoticed; for the audit key SRS-156's own rationale says write access to DEVICE_AI_HOME with the local
    evidence deleted defeats audit verify under the default origin. What remains is E2 (I3 x E2 still acceptable,
    so only the rating and the rationale are wrong); the O_EXCL half (concurrent first use) holds (test_d2;
    control: a group-readable key file is refused).
  D3 THR-027 (threats.yaml:502-504), text: "the manifest's provenance names who trained and signed it" is untrue:
    ModelManifest and TrainingInfo (manifest.py:116-220) hold no trainer, signer or organisation field, and the
    released manifest has none; the signer is known only by the key id in the signature file (signing.py:60-64).
    RC-033 records data digest, seed, export and metrics, not who. The rating rests on RC-005 and holds (test_d3).
  D4 THR-030 (threats.yaml:558-559), text: "SRS-223 is draft (author review only), so the threat stays open until
    it is approved" is stale: SRS-223 is approved (requirements.yaml, "Approved by the lead, 2026-12-07") (test_d4).
  D5 THR-040 (threats.yaml:753-754), text: "SRS-218 is draft (author review only), so the threat stays open until
    it is approved" is stale: SRS-218 is approved (test_d4, the same check) - review 134's T7 found the same
    sentence stale in THR-018.

Lead, 2026-12-07 (not re-reviewed): D2 fixed as a rating (THR-029 residual E2 with the swap stated; I3 x E2
acceptable), D3 fixed (THR-027 says the signer is known by the signature's key id and the manifest does not say who
trained it), D4/D5 fixed (the stale "is draft" sentences of THR-030 and THR-040 removed). test_d2, test_d3 and
test_d4 assert the fixed texts. D1 (THR-028) goes to helper-137.

helper-137, 2026-12-07 (fixer, not re-reviewed): D1 fixed. keystore.read_private_key_file - the key store's own
check (read_private_file: a regular file neither group nor others can reach) plus an owner check (this account or
root) - is used for node_tls_key_file by tls_context before serve listens, for a destination's transport.client_key
by NodeRuntime.open before serve or watch starts and by client_context at each send (a failed attempt, nothing
sent), and for batch_tls_key_file by site_scheduler (DAI-124; config.read_owned_file lost its private= flag). Each
refusal names the setting, the file, its mode or owner and chmod 600. New draft SRS-232 (THR-028 lists it); SRS-220's
text says the group-readable key is refused too and goes back to draft. test_d1_pin is inverted (0644 and 0640 keys
refused by the node and the batch check; control: 0600 loads, and the key store's own loader still refuses), the
strict xfail is a plain test; test_controls_exist accepts SRS-232 as draft (ADDED_BY_FIXERS) until it is re-reviewed.

Notes (no defect):
N1 THR-025/026/027: E1's wording names only the manufacturer's release signing key; a site signer listed in
   trusted_model_keys is an equal trust root whose custody the device does not control (`train --signing-key`
   reads the private key without a mode check, signing.py:43-51, train.py:276), and a site-signed package stays
   valid for as long as its key is listed - whoever may write the model folder (THR-025's own E3 attacker) can
   put back an older, withdrawn site-signed package (no digest pin, no revocation). Worth one sentence in
   THR-025/027.
N2 THR-031: "makes any edit or truncation visible to audit verify" needs audit_copy_dir (default None,
   config.py:240) or a pinned verifier key; the rationale's second half and the unchanged E2 cover it.
N3 THR-033: "no UID or value of a received data set is written" is wider than the code: Series Refused entries
   carry the typed refusal's message, which quotes technical values (Modality, SOPClassUID, TransferSyntaxUID,
   up to 60 characters of a non-numeric numeric attribute: contract.py:102, 160-182); no identity attribute, UID of
   a study/series/instance, name or file name is written (trail.py:5-9, the spool's files are pseudonyms).
N4 THR-042: besides file names, a refusal of an input holding several series prints each series' quoted
   SeriesDescription (series.py:386-397) - PS3.15 removes that attribute because it may hold identity; same
   ALARA residual.
N5 THR-043: by SRS-150's design a generation with a dead-lettered result or never queued (serve without any
   destination: a warning at start, server.py:355-358) is kept until the operator acts; not "indefinitely" by
   default, but a site running serve without destinations keeps every study.
N6 THR-045: "the backbone checkpoint's SHA-256 is pinned" - by whoever runs training (checkpoint.py:20-24 pins
   none), so the one who substitutes the checkpoint also gives its digest; the residual is not lowered, so the
   rating holds (review 134 N2 says the same of IF-TRAINING-INPUT).

Records: `device-ai trace review ID --by "helper-138 (independent review 138)" --independent` for the 14 HOLDS
items; none for THR-027, THR-028, THR-029, THR-030, THR-040.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from tests import fast_yaml

ROOT = Path(__file__).resolve().parents[2]
REVIEWED = ("THR-023", "THR-024", "THR-025", "THR-026", "THR-027", "THR-028", "THR-029", "THR-030", "THR-031",
            "THR-032", "THR-033", "THR-034", "THR-037", "THR-040", "THR-041", "THR-042", "THR-043", "THR-044",
            "THR-045")


ADDED_BY_FIXERS = {"SRS-232"}  # THR-028's control added by helper-137's fix of D1, not re-reviewed


def _threats() -> dict[str, dict]:
    return {t["id"]: t for t in fast_yaml.safe_load((ROOT / "security/threats.yaml").read_text())["threats"]}


def _requirements() -> dict[str, dict]:
    return {r["id"]: r for r in fast_yaml.safe_load((ROOT / "traceability/requirements.yaml").read_text())
            ["software_requirements"]}


def _flat(text: str) -> str:
    return " ".join(text.split())


# === every control named exists, is approved and has a verifying test =======================================

@pytest.mark.req("SRS-194")
def test_controls_exist_are_approved_and_verified() -> None:
    threats, srs = _threats(), _requirements()
    controls = {c["id"]: c for c in fast_yaml.safe_load((ROOT / "risk/controls.yaml").read_text())["risk_controls"]}
    tests = "".join(p.read_text() for folder in ("tests", "verification", "validation")
                    for p in (ROOT / folder).rglob("test_*.py") if "review_138" not in p.name)
    for threat in REVIEWED:
        for name in threats[threat]["controls"]:
            item = controls.get(name) or srs.get(name)
            # a control a fixer added after this review is draft until its own re-review (helper-137: SRS-232)
            approved = {"approved"} | ({"draft"} if name in ADDED_BY_FIXERS else set())
            assert item is not None and item["status"] in approved, (threat, name)
            for requirement in controls[name]["implemented_by"] if name in controls else [name]:
                assert srs[requirement]["status"] in approved
                assert re.search(rf'req\([^)]*"{requirement}"', tests), (threat, requirement)
    assert "RC-999" not in controls and not re.search(r'req\([^)]*"SRS-9999"', tests)  # control: the lookups can fail


# === D1 THR-028: keys outside the key store are used whatever their mode ======================================

def _pki(folder: Path) -> Path:
    from tests.node.test_tls import _certificate

    _certificate(folder, "server", _certificate(folder, "ca", ca=True))
    return folder


def _node_context(pki: Path) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=pki / "server.pem",
                                                    node_tls_key_file=pki / "server.key", node_tls_ca_file=None))


@pytest.mark.req("SRS-232", "SRS-036", "SRS-107")
def test_d1_pin_inverted_the_node_and_batch_tls_keys_are_refused_when_other_accounts_can_read_them(tmp_path) -> None:  # noqa: ANN001
    from device_ai.errors import ConfigError
    from device_ai.keystore import load_ed25519_private_key, read_private_key_file
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    for mode in (0o644, 0o640):  # helper-137's fix: the node's key as the key store's own
        (pki / "server.key").chmod(mode)
        with pytest.raises(ConfigError, match=f"node_tls_key_file .* has mode {mode:04o}"):
            tls_context(_node_context(pki))
    with pytest.raises(ConfigError, match="batch_tls_key_file .* has mode 0640"):  # group-readable: refused
        read_private_key_file(pki / "server.key", "batch_tls_key_file")
    (pki / "server.key").chmod(0o600)  # control: owner-only, it is used
    assert tls_context(_node_context(pki)) is not None
    assert read_private_key_file(pki / "server.key", "batch_tls_key_file")
    # control: the key store refuses the same modes for its own keys (what the rationale describes)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    audit_key = tmp_path / "audit.pem"
    audit_key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for mode in (0o644, 0o640):
        audit_key.chmod(mode)
        with pytest.raises(ConfigError, match="others can"):
            load_ed25519_private_key(audit_key, None, read_hint="", passphrase_hint="", damaged_hint="")
    audit_key.chmod(0o600)
    assert load_ed25519_private_key(audit_key, None, read_hint="", passphrase_hint="", damaged_hint="")
    threat = _threats()["THR-028"]
    assert "key file open to group or others is refused" in _flat(threat["rationale"])
    assert "SRS-232" in threat["controls"]


@pytest.mark.req("SRS-232", "SRS-036", "SRS-107")
def test_d1_a_node_tls_key_every_account_can_read_is_refused(tmp_path) -> None:  # noqa: ANN001
    """Was the strict xfail of review 138 D1 (node_tls_key_file loaded whatever its mode, server.py:102)."""
    from device_ai.errors import ConfigError
    from device_ai.node.server import tls_context

    pki = _pki(tmp_path)
    (pki / "server.key").chmod(0o644)
    with pytest.raises(ConfigError):
        tls_context(_node_context(pki))


# === D2 THR-029: a swapped secret is used without notice ====================================================

@pytest.mark.req("SRS-036", "SRS-037")
def test_d2_a_swapped_pseudonym_key_is_used_and_nothing_says_so() -> None:
    from device_ai.config import load_settings
    from device_ai.errors import ConfigError
    from device_ai.pseudonyms import pseudonym

    before = pseudonym("series", "1.2.826.0.1.3680043.8.498.138")
    assert pseudonym("series", "1.2.826.0.1.3680043.8.498.138") == before  # same key, same pseudonym
    key = Path(load_settings().home) / "keys" / "pseudonym-key.bin"
    swapped = key.with_name("swap.tmp")
    fd = os.open(swapped, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    os.replace(swapped, key)  # the attacker's key, owner-only, in its place
    after = pseudonym("series", "1.2.826.0.1.3680043.8.498.138")
    assert after != before  # pseudonyms stop matching, no error, no refusal
    key.chmod(0o640)
    with pytest.raises(ConfigError, match="others can read it"):  # control: the mode check exists
        pseudonym("series", "1.2.826.0.1.3680043.8.498.138")
    # lead's fix: the rating says what this test shows (E2: the device's account), and the rationale the swap
    assert _threats()["THR-029"]["residual_exploitability"] == "E2"
    assert "is not detected" in _flat(_threats()["THR-029"]["rationale"])


# === D3 THR-027: the manifest does not say who trained or signed =============================================

@pytest.mark.req("SRS-079", "SRS-082")
def test_d3_the_manifest_names_no_trainer_and_no_signer() -> None:
    import json

    from device_ai.model.package.manifest import ModelManifest, TrainingInfo

    fields = set(ModelManifest.model_fields) | set(TrainingInfo.model_fields)
    who = re.compile(r"sign|author|trained_by|organi[sz]ation|manufacturer|owner|creator", re.IGNORECASE)
    assert not [name for name in fields if who.search(name)]
    released = json.loads((ROOT / "models/demo-dinov2-seg-1.0.0/manifest.json").read_text())
    assert not [name for name in (*released, *released["training"]) if who.search(name)]
    assert {"data_manifest_sha256", "seed"} <= set(TrainingInfo.model_fields)  # control: what RC-033 does record
    # lead's fix: the rationale no longer says the manifest names who trained and signed
    assert "provenance names who trained and signed it" not in _flat(_threats()["THR-027"]["rationale"])
    assert "not who trained it" in _flat(_threats()["THR-027"]["rationale"])


# === D4/D5 THR-030, THR-040: stale "is draft" sentences ======================================================

@pytest.mark.req("SRS-223", "SRS-218")
@pytest.mark.parametrize(("threat", "requirement"), [("THR-030", "SRS-223"), ("THR-040", "SRS-218")])
def test_d4_the_rationale_no_longer_says_an_approved_control_is_draft(threat: str, requirement: str) -> None:
    rationale = _flat(_threats()[threat]["rationale"])
    # lead's fix: the stale sentences are gone
    assert f"{requirement} is draft" not in rationale and "stays open until it is approved" not in rationale
    assert _requirements()[requirement]["status"] == "approved"
    # control: the status field does tell drafts apart (SRS-034 is planned; SRS-227 was the control until the lead
    # approved it, c2effc8)
    assert _requirements()["SRS-034"]["status"] != "approved"
