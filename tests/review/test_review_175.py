"""Independent re-review 175 (reviewer helper-175) of SRS-234 after the fixes of review 173 (13de75b), a destination's
CA bundle read only when no other account could change it. helper-175 wrote none of the code, texts or tests reviewed.
Read: SRS-234's text (traceability/requirements.yaml), ``git show 13de75b`` whole, src/device_ai/trust_anchors.py,
config._read_owned, node/transport_security.py (client_context, _verifying_context, check_transport_files),
node/runtime.py (NodeRuntime.open), tests/review/test_review_173.py and the lead's edits to it and to review 141.

SRS-234 - DEFECT (D1 a PEM bundle whose BEGIN line ends in spaces - RFC 7468 allows them, OpenSSL reads it - is
refused; since 13de75b serve does not start with it).

D1 - src/device_ai/trust_anchors.py:16: ``_PEM_BLOCK`` requires ``-----BEGIN <label>-----`` to be followed directly by
``\\r?\\n``. RFC 7468's ABNF allows white space there (``textualmsg = preeb *WSP eol ...``) and OpenSSL reads such a
file (``create_default_context(cafile=...)``, what the destination used before 2b3e34d: trusts ["ca"]). trust_anchors
finds no block, hands the whole file over as DER, and OpenSSL refuses it: ConfigError "cannot be read as
certificates: not enough data" at start (serve exits DAI-100 since 13de75b parses at start), TransportSecurityError at
send. Contradicts the text's "(PEM or DER; text around the PEM blocks ignored, as OpenSSL ignores it)" and its
acceptance "a PEM file with text around the block load[s]". Fail-closed (a typed refusal naming the file; no trust is
widened), so low severity; also reaches node_tls_ca_file (SRS-233, server.py:114 uses the same helper). Reproduction:
``sed -i '1s/-----$/----- /' ca.pem`` then client_context(TransportSecurity(tls=True, ca_bundle=ca.pem)).

What holds (this file's tests and scratch probes, run on the shared 2 cores):
- D1 of review 173: a zero-byte bundle is refused at start (ConfigError "destination pacs: transport.ca_bundle <file>
  cannot be read as certificates: <file> holds no certificate") and at send (TransportSecurityError); so are
  whitespace-only, one NUL byte, a PEM with only a private-key block, a block relabelled "X509 CRL", a good CA followed
  by a corrupt CERTIFICATE block: none of them gives the system trust store. A CA followed by its private key loads
  exactly ["ca"].
- D2 of review 173: missing, a folder, a stray BEGIN with non-ASCII text, a symlink loop (ELOOP): ConfigError naming
  the destination, the setting and the file at start; TransportSecurityError naming the file at send; ``device-ai
  serve`` with a zero-byte bundle exits 2 with DAI-100 naming the file, nothing listening, no traceback.
- A bundle changed after the start check: every send re-reads it - truncated to zero bytes, a dimse and a stow send
  through Outbound.send_due are failed attempts (last_error "destination pacs: cannot read the CA bundle <file>:
  <file> holds no certificate"; nothing in sent/); rewritten with another CA,
  the next context trusts exactly ["other-ca"].
- Large bundles: 200 copies of two CAs with text between (~200 KB) load in well under 5 s with exactly the two CAs;
  the system bundle x20 (4.3 MB) passed the start check in 1.5 s (scratch).
- R1 of review 141: its d6 pin now records cafile and cadata; passes (brief's set below).
- The lead's edits to review 173: the xfail marks are gone only from tests that now pass; the pins were turned into
  assertions of the fixed state and say so in comments. One is weaker than it could be: test_d2_pin asserts
  ``returncode != 70`` (serve's exit is 2, asserted here). The docstring of 173 still reads as at 2b3e34d (its record).
- SRS-233 / SRS-216 / SRS-232 as before: tests/node/test_destination_ca_bundle.py, test_tls_ca_file.py,
  test_transport_security.py, test_tls_key_modes.py, reviews 141, 153, 173: 145 passed (36 s, -n 2). This file:
  16 passed, 1 xfailed (9 s, -n 2).

Notes (no defect against the text):
N1 - a bundle holding only a non-CA certificate (a server's leaf) passes the start check and loads
  (cert_store_stats x509 1, x509_ca 0): every handshake then fails verification. The text refuses "one that holds no
  certificate"; a bundle with no certificate authority is not refused at start.
N2 - "-----BEGIN TRUSTED CERTIFICATE-----" blocks (OpenSSL's trusted format, ``openssl x509 -trustout``) were loaded by
  cafile= before 2b3e34d; now refused at start and send (typed). OpenSSL-specific, not RFC 7468 - a note.
N3 - trust_anchors.py:16 ``.*?`` with a back-reference is quadratic on BEGIN lines without an END: 8,000 such lines
  (144 KB) take ~8 s per read, 20,000 (360 KB) ~53 s, at start and at every send (scratch timings, shared cores). Only
  an account allowed to write the bundle can cause it; real bundles are linear (see above). Not pinned (timing).
N4 - SRS-234's text allows the start refusal of junk: "a missing file or one that holds no certificate is a typed
  refusal naming the file" says not where; the start refusal "naming ... its mode or owner" is for mode/owner. The
  acceptance does not list an empty or junk bundle; the text does not require it at start, nor forbid it.
N5 - at send a bundle with no certificate is named "the CA bundle <file>" (client_context's own message), not
  "transport.ca_bundle"; the text asks only that such a refusal name the file (mode/owner refusals name the setting).

Defects are strict xfails asserting the text, beside a pin of today's behaviour and a control that passes; holds are
plain tests. Scratch files only in tmp_path. Record: not written (a defect found).
"""

from __future__ import annotations

import json
import os
import ssl
import time
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _destination, _free_port, _pki, _serve, _start, _subjects

REQ = "SRS-234"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o644)
    return path


# === D1: a BEGIN line with trailing white space =====================================================================

def _spaced(tmp_path: Path) -> Path:
    pki = _pki(tmp_path / "pki")
    text = (pki / "ca.pem").read_bytes()
    assert text.startswith(b"-----BEGIN CERTIFICATE-----\n")
    return _write(tmp_path / "spaced.pem", text.replace(b"-----BEGIN CERTIFICATE-----\n",
                                                        b"-----BEGIN CERTIFICATE----- \n", 1))


@pytest.mark.req(REQ)
# lead, 2026-12-07: fixed (white space may end a BEGIN line; pem_blocks linear); the xfail mark removed
def test_d1_a_pem_bundle_whose_begin_line_ends_in_a_space_loads(tmp_path: Path) -> None:
    spaced = _spaced(tmp_path)
    _start(spaced)
    assert _subjects(_context(spaced)) == ["ca"]


@pytest.mark.req(REQ)
def test_d1_pin_it_is_refused_at_start_and_send_though_openssl_reads_it(tmp_path: Path) -> None:
    # lead, 2026-12-07, after the fix: the pin asserts the fixed behaviour (was: refused at start and at send)
    spaced = _spaced(tmp_path)
    _start(spaced)
    assert _subjects(_context(spaced)) == ["ca"]
    assert _subjects(ssl.create_default_context(cafile=str(spaced))) == ["ca"]  # OpenSSL (cafile=, before 2b3e34d)


@pytest.mark.req(REQ)
def test_d1_control_the_same_bundle_without_the_space_loads(tmp_path: Path) -> None:
    spaced = _spaced(tmp_path)
    plain = _write(tmp_path / "plain.pem", spaced.read_bytes().replace(b"----- \n", b"-----\n"))
    _start(plain)
    assert _subjects(_context(plain)) == ["ca"]


# === review 173's D1: a bundle with no certificate never gives the system store ====================================

def _no_certificate(tmp_path: Path) -> dict[str, bytes]:
    pki = _pki(tmp_path / "pki")
    ca = (pki / "ca.pem").read_bytes()
    return {"empty": b"", "whitespace": b"  \n\t\r\n", "nul": b"\0", "key-only": (pki / "ca.key").read_bytes(),
            "crl-label": ca.replace(b"CERTIFICATE", b"X509 CRL"),
            "ca-then-corrupt": ca + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}


@pytest.mark.req(REQ)
@pytest.mark.parametrize("case", ["empty", "whitespace", "nul", "key-only", "crl-label", "ca-then-corrupt"])
def test_a_bundle_without_a_usable_certificate_is_refused_at_start_and_send(tmp_path: Path, case: str) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    bundle = _write(tmp_path / f"{case}.pem", _no_certificate(tmp_path)[case])
    with pytest.raises(ConfigError) as refused:
        _start(bundle)
    assert refused.value.message.startswith(f"destination pacs: transport.ca_bundle {bundle} ")
    with pytest.raises(TransportSecurityError, match=str(bundle)):
        _context(bundle)


@pytest.mark.req(REQ)
def test_a_ca_followed_by_its_key_trusts_exactly_the_ca(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    mixed = _write(tmp_path / "mixed.pem", (pki / "ca.pem").read_bytes() + (pki / "ca.key").read_bytes())
    _start(mixed)
    context = _context(mixed)
    assert _subjects(context) == ["ca"] and context.cert_store_stats()["x509"] == 1
    assert context.cert_store_stats() != ssl.create_default_context().cert_store_stats()


# === review 173's D2: every unreadable bundle typed at start ======================================================

@pytest.mark.req(REQ)
def test_a_symlink_loop_is_typed_at_start_and_send(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    loop = tmp_path / "loop.pem"
    os.symlink(loop, loop)
    with pytest.raises(ConfigError, match=f"destination pacs: transport.ca_bundle {loop} .*symbolic links"):
        _start(loop)
    with pytest.raises(TransportSecurityError, match=str(loop)):
        _context(loop)


@pytest.mark.req(REQ)
def test_serve_with_an_empty_bundle_refuses_with_dai_100_before_listening(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.pem", b"")
    served, _home = _serve(tmp_path / "serve", empty)
    assert served.returncode == 2, served.stderr
    assert f"error DAI-100: destination pacs: transport.ca_bundle {empty}" in served.stderr
    assert "holds no certificate" in served.stderr
    assert "listening on" not in served.stdout + served.stderr and "Traceback" not in served.stderr


# === a bundle changed after the start check =======================================================================

@pytest.mark.req(REQ)
@pytest.mark.parametrize("kind", ["dimse", "stow"])
def test_a_bundle_emptied_after_start_makes_a_failed_attempt_nothing_marked_sent(tmp_path: Path, kind: str) -> None:
    from device_ai.config import Settings
    from device_ai.node.outbound import Outbound, ResultFile
    from device_ai.node.transport_security import check_transport_files

    pki = _pki(tmp_path / "pki")
    bundle = pki / "ca.pem"
    destination, _security = _destination(bundle, kind, port=_free_port())  # nothing listens there
    check_transport_files([destination])  # the start check passes
    settings = Settings(node_destinations=[destination], node_send_max_attempts=5)
    root = tmp_path / "node"
    result = root / "work" / "segmentation.dcm"
    result.parent.mkdir(parents=True)
    result.write_bytes(b"result")
    queue = Outbound(root, settings)
    queue.enqueue("k", study="s", series="r", generation=1, files=[ResultFile("seg", result, "1.2", "2.25.175")])
    pending = root / "outbound" / "pending" / destination.name
    bundle.write_bytes(b"")  # truncated after the start check
    assert queue.send_due() == 0
    [entry] = [json.loads(p.read_text()) for p in pending.glob("*.json")]
    assert entry["attempts"] == 1 and entry["destination"] == destination.name
    # at send the setting is named "the CA bundle" (the start refusal names transport.ca_bundle): the file is named
    assert "CA bundle" in entry["last_error"] and f"{bundle} holds no certificate" in entry["last_error"]
    assert not list((root / "outbound" / "sent").rglob("*.json"))
    bundle.write_bytes((pki / "other-ca.pem").read_bytes())  # control: re-read at the next send
    assert _subjects(_context(bundle)) == ["other-ca"]
    assert queue.send_due(now=time.time() + 3600) == 0  # fails further on (no server), not for the bundle
    [entry] = [json.loads(p.read_text()) for p in pending.glob("*.json")]
    assert entry["attempts"] == 2 and "CA bundle" not in entry["last_error"]
    assert not list((root / "outbound" / "sent").rglob("*.json"))


# === large bundle ==================================================================================================

@pytest.mark.req(REQ)
def test_a_large_bundle_loads_quickly_with_exactly_its_cas(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    pair = b"Issuer: ca\n" + (pki / "ca.pem").read_bytes() + b"Issuer: other\n" + (pki / "other-ca.pem").read_bytes()
    large = _write(tmp_path / "large.pem", pair * 200)
    assert large.stat().st_size > 100_000
    began = time.monotonic()
    _start(large)
    context = _context(large)
    assert time.monotonic() - began < 5
    assert _subjects(context) == ["ca", "other-ca"]


# === notes =========================================================================================================

@pytest.mark.req(REQ)
def test_n1_pin_a_bundle_of_only_a_leaf_certificate_passes_start_and_holds_no_ca(tmp_path: Path) -> None:
    from tests.node.test_tls import _certificate

    pki = _pki(tmp_path / "pki")
    issuer = _certificate(pki, "issuer", ca=True)
    _certificate(pki, "leaf", issuer)
    leaf = pki / "leaf.pem"
    leaf.chmod(0o644)
    _start(leaf)
    stats = _context(leaf).cert_store_stats()
    assert stats["x509"] == 1 and stats["x509_ca"] == 0


@pytest.mark.req(REQ)
def test_n2_pin_a_trusted_certificate_block_is_refused_though_cafile_read_it(tmp_path: Path) -> None:
    pki = _pki(tmp_path / "pki")
    trusted = _write(tmp_path / "trusted.pem", (pki / "ca.pem").read_bytes().replace(b"CERTIFICATE",
                                                                                      b"TRUSTED CERTIFICATE"))
    # lead, 2026-12-07 (session 3): loaded as cafile= loads it, since OpenSSL's own reader reads the checked bytes
    # (after review 180; was: refused at start and at send)
    _start(trusted)
    assert _subjects(_context(trusted)) == ["ca"]
    assert _subjects(ssl.create_default_context(cafile=str(trusted))) == ["ca"]
