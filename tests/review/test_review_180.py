"""Independent re-review 180 (reviewer helper-180) of SRS-234 and SRS-233 after the fixes of review 178 (c312144):
a destination's CA bundle and the node's CA file, read only when no other account could change them, of a PEM file
only its blocks by the rule SRS-234 states. helper-180 wrote none of the code, texts or tests reviewed. Read: both
texts (traceability/requirements.yaml), ``git show c312144``, src/device_ai/trust_anchors.py (pem_blocks),
node/transport_security.py (_verifying_context, check_transport_files), node/server.py (tls_context), config.py
(_read_owned), the docstrings of reviews 173-178. OpenSSL here: 3.0.19 (Python 3.11.7, x86_64); "OpenSSL" below is
``ssl.create_default_context(cafile=...)`` + ``get_ca_certs()`` (X509_load_cert_crl_file -> pem_lib.c).

SRS-234 - DEFECT. SRS-233 - DEFECT (the same reader, by the rule of SRS-234: D1 and D2 reach the node's CA file).
D1 and D2 are fail-open against OpenSSL (the device trusts a CA that OpenSSL, loading the same file without error,
does not trust); D3 is the text. All low severity: only the file's owner or root can write these bytes (the
owner/mode check holds), and every CA trusted is a block the file spells out.

D1 - trust_anchors.py (``first_line = newline + 1`` after a taken block): OpenSSL strips the byte-order mark on the
first *piece* get_name reads after a block (BIO_gets, LINESIZE 255: pieces of 254 bytes), not on the first *line*.
An END line longer than 254 bytes with the newline - "-----END CERTIFICATE-----" then 229 or more bytes OpenSSL
strips (spaces, CR) - leaves its tail as that first piece; the marked BEGIN line after it is text to OpenSSL, which
loads the file and trusts ["ca"]; the device takes the mark and trusts ["ca", "other-ca"]. 228 bytes (one piece):
both trust both (control). New with c312144 (before it a mark after an END line was never taken). Fix proposed:
take the mark after an END line only when that END line, newline included, is at most 254 bytes (else: text), and
say so in SRS-234's text - or refuse a marked BEGIN after an over-long END line.

D2 - pem_blocks reads past a line whose first byte is NUL; OpenSSL's file BIO measures a line with strlen, gets 0
for it, and get_name takes 0 as the end of the file (PEM_R_NO_START_LINE, a clean end): CAs after such a line are
not trusted by OpenSSL, which loads those before it; the device trusts them all (a NUL line before the first block:
OpenSSL refuses the file, the device trusts its CA). Control: a NUL after other bytes on the line - both read on.
Since review 153's fix (blocks taken from the file); not a BOM matter, found while probing the rule. SRS-234's text
("other text is ignored") describes the device, so this is a divergence from OpenSSL, not from the text. Fix
proposed: stop reading blocks at a line starting with NUL (and refuse a file whose first such line precedes any
block), or state the divergence in the text.

D3 - SRS-234's text: "after a UTF-8 byte-order mark only on the file's first line or the line after an END line".
The device takes the mark only on the line after the END line of a block it took (BEGIN label of A-Z, 0-9, space;
END of the same label): after a stray END line (no block: OpenSSL agrees, text to it too) or after the END line of a
block with another label spelling ("my-thing": OpenSSL reads the CA after it, the device refuses the bundle) the
marked BEGIN line is text. Reading the text literally, a lead could "fix" the stray-END case and open the device
(OpenSSL does not take it). Fail-closed; fix in the text: "the line after a block's END line" (with D1's limit).

Notes:
- N1 (178's N1 again, with the mark): a marked BEGIN after an unmatched "-----BEGIN FOO-----" - OpenSSL refuses the
  whole file (BAD_END_LINE), the device loads the CA before it. A block whose base64 starts with a mark is refused
  by both (the device's ConfigError says "'ascii' codec can't decode byte 0xef", typed at start and send).
- N2 the mark stripped once: two marks before the first BEGIN line - both refuse.

What holds (this file's tests; scratch probes on the shared 2 cores):
- The rule as written for ordinary placements vs OpenSSL: a mark at the file start (LF, CRLF), after a taken block's
  END line (LF, CRLF), twice in a row, after a FOO block (a label other than CERTIFICATE), after a blank line (text
  to both), on a comment line before the block, inside a block (refused by both) - equal sets or both refuse.
- Cost linear on hostile 4 MB inputs: marked BEGIN lines without END (0.12 s), 108,000 marked blocks (0.21 s),
  marks only, marked blank lines, marked BEGINs then ENDs, marked mixed labels (0.06-0.20 s; 2 MB half the time).
- Owner/mode: a marked bundle at 0664 is refused at start (typed ConfigError naming the mode) and at send
  (TransportSecurityError), loads at 0644; the node's CA file at 0664 refused by tls_context, loads at 0644; another
  account's file refused (root only).
- Brief's regression set (test_destination_ca_bundle, test_tls_ca_file, reviews 153, 156, 173, 175, 177, 178): 190
  passed, 3 xfailed (40.4 s, -n 2, shared cores); this file 31 passed, 8 xfailed (3.4 s).

Defects are strict xfails asserting the device trusts what OpenSSL trusts (D3: the text), beside a pin of today's
behaviour and a control that passes; holds are plain tests. Scratch files only in tmp_path. Record: not written
(defects found).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _pki, _start, _subjects
from tests.review.test_review_177 import _device_reads, _openssl, _write

_BOM = b"\xef\xbb\xbf"
_END = b"-----END CERTIFICATE-----"


def _pair(tmp_path: Path) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path / "pki")
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _node_subjects(tmp_path: Path, ca_file: Path) -> list[str]:
    from device_ai.node.server import tls_context
    from tests.node.test_tls import _certificate

    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    _certificate(folder, "server", _certificate(folder, "server-ca", ca=True))
    node = SimpleNamespace(settings=SimpleNamespace(node_tls_cert_file=folder / "server.pem",
                                                    node_tls_key_file=folder / "server.key", node_tls_ca_file=ca_file))
    return _subjects(tls_context(node))


def _device(bundle: Path) -> list[str]:
    _start(bundle)
    return _subjects(_context(bundle))


# === D1: a mark after an END line longer than one of OpenSSL's line pieces ==========================================

def _long_end(tmp_path: Path, tail: bytes, count: int) -> Path:
    ca, other = _pair(tmp_path)
    return _write(tmp_path / "long-end.pem", ca.replace(_END + b"\n", _END + tail * count + b"\n") + _BOM + other)


_D1 = [(b" ", 229), (b" ", 300), (b"\r", 300)]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize(("tail", "count"), _D1)
def test_d1_the_device_trusts_what_openssl_trusts_after_a_long_end_line(tmp_path: Path, tail: bytes,
                                                                       count: int) -> None:
    bundle = _long_end(tmp_path, tail, count)
    assert _device(bundle) == _openssl(bundle) == ["ca"]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize(("tail", "count"), _D1)
def test_d1_pin_the_device_trusts_a_ca_openssl_does_not(tmp_path: Path, tail: bytes, count: int) -> None:
    bundle = _long_end(tmp_path, tail, count)
    assert _openssl(bundle) == ["ca"]  # OpenSSL loads the file without error
    # lead, 2026-12-07 (session 3): fixed - OpenSSL's own reader reads the checked bytes (was: ["ca", "other-ca"])
    assert _device(bundle) == ["ca"]


@pytest.mark.req("SRS-233")
def test_d1_the_node_trusts_what_openssl_trusts_after_a_long_end_line(tmp_path: Path) -> None:
    bundle = _long_end(tmp_path, b" ", 229)
    assert _node_subjects(tmp_path, bundle) == _openssl(bundle) == ["ca"]


@pytest.mark.req("SRS-233")
def test_d1_pin_the_node_trusts_a_ca_openssl_does_not(tmp_path: Path) -> None:
    bundle = _long_end(tmp_path, b" ", 229)
    assert _openssl(bundle) == ["ca"]
    assert _node_subjects(tmp_path, bundle) == ["ca"]  # lead, 2026-12-07 (session 3): fixed (was: both CAs)


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize(("tail", "count"), [(b" ", 228), (b" ", 0), (b"\r", 228)])
def test_d1_control_an_end_line_within_one_piece_both_take_the_mark(tmp_path: Path, tail: bytes, count: int) -> None:
    bundle = _long_end(tmp_path, tail, count)
    assert _device(bundle) == _openssl(bundle) == ["ca", "other-ca"]


# === D2: a line starting with NUL ends OpenSSL's reading ============================================================

def _nul(tmp_path: Path, case: str) -> Path:
    ca, other = _pair(tmp_path)
    data = {"nul-line-between": ca + b"\x00junk\n" + other, "nul-empty-line-between": ca + b"\x00\n" + other,
            "nul-line-first": b"\x00\n" + ca, "nul-after-text": ca + b"x\x00junk\n" + other}[case]
    return _write(tmp_path / f"{case}.pem", data)


_D2 = {"nul-line-between": ["ca"], "nul-empty-line-between": ["ca"], "nul-line-first": None}


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", sorted(_D2))
def test_d2_the_device_trusts_no_ca_after_a_nul_line(tmp_path: Path, case: str) -> None:
    bundle = _nul(tmp_path, case)
    if _D2[case] is None:
        with pytest.raises(ConfigError):
            _start(bundle)
    else:
        assert _device(bundle) == _openssl(bundle) == _D2[case]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", sorted(_D2))
def test_d2_pin_the_device_trusts_cas_openssl_does_not(tmp_path: Path, case: str) -> None:
    import ssl

    bundle = _nul(tmp_path, case)
    # lead, 2026-12-07 (session 3): fixed - the device reads what OpenSSL reads (was: ["ca"] where OpenSSL refuses,
    # ["ca", "other-ca"] where it trusts ["ca"])
    if _D2[case] is None:
        with pytest.raises(ssl.SSLError):
            _openssl(bundle)
        with pytest.raises(ConfigError, match="cannot be read as certificates"):
            _start(bundle)
    else:
        assert _openssl(bundle) == _D2[case]
        assert _device(bundle) == _D2[case]


@pytest.mark.req("SRS-233")
def test_d2_pin_the_node_trusts_a_ca_openssl_does_not(tmp_path: Path) -> None:
    bundle = _nul(tmp_path, "nul-line-between")
    assert _openssl(bundle) == ["ca"]
    assert _node_subjects(tmp_path, bundle) == ["ca"]  # lead, 2026-12-07 (session 3): fixed (was: both CAs)


@pytest.mark.req("SRS-234")
def test_d2_control_a_nul_after_other_bytes_on_its_line_both_read_on(tmp_path: Path) -> None:
    bundle = _nul(tmp_path, "nul-after-text")
    assert _device(bundle) == _openssl(bundle) == ["ca", "other-ca"]


# === D3: the text's "the line after an END line" ======================================================================

def _texts() -> dict[str, str]:
    import yaml

    root = Path(__file__).resolve().parents[2]
    items = yaml.safe_load((root / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))
    return {item["id"]: " ".join(item["text"].split()) for item in items["software_requirements"]}


@pytest.mark.req("SRS-234")
def test_d3_the_text_names_a_blocks_end_line() -> None:
    assert "the line after an END line" not in _texts()["SRS-234"]


@pytest.mark.req("SRS-234")
def test_d3_pin_a_mark_after_a_stray_end_line_or_another_label_spelling_is_text(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): fixed - the text names OpenSSL's own reader, which reads the checked bytes, and
    # the lower-case label's CA loads as OpenSSL loads it (was: the text's "the line after an END line"; the bundle
    # refused)
    ca, other = _pair(tmp_path)
    assert "the line after an END line" not in _texts()["SRS-234"]
    stray = _write(tmp_path / "stray.pem", ca + _END + b"\n" + _BOM + other)
    assert _device(stray) == _openssl(stray) == ["ca"]  # text to both, though it follows "an END line"
    lower = _write(tmp_path / "lower.pem", b"-----BEGIN my-thing-----\nAAAA\n-----END my-thing-----\n" + _BOM + other)
    assert _openssl(lower) == _device(lower) == ["other-ca"]


@pytest.mark.req("SRS-234")
def test_d3_control_a_mark_after_a_foo_blocks_end_line_is_taken_by_both(tmp_path: Path) -> None:
    ca, other = _pair(tmp_path)
    bundle = _write(tmp_path / "foo.pem", b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n" + _BOM + other)
    assert _device(bundle) == _openssl(bundle) == ["other-ca"]


# === holds ============================================================================================================

_SAME = {"mark-at-start": lambda ca, o: _BOM + ca + o,
         "mark-at-start-crlf": lambda ca, o: (_BOM + ca + o).replace(b"\n", b"\r\n"),
         "mark-after-end": lambda ca, o: ca + _BOM + o,
         "mark-after-end-crlf": lambda ca, o: (ca + _BOM + o).replace(b"\n", b"\r\n"),
         "marks-twice-in-a-row": lambda ca, o: _BOM + ca + _BOM + o,
         "mark-after-blank-line": lambda ca, o: ca + b"\n" + _BOM + o,
         "mark-after-crlf-blank-line": lambda ca, o: (ca + b"\n" + _BOM + o).replace(b"\n", b"\r\n"),
         "mark-on-a-comment-line": lambda ca, o: _BOM + b"# bundle\n" + ca + b"# next\n" + _BOM + o,
         "mark-after-end-with-trailing-blanks": lambda ca, o: ca.replace(_END + b"\n", _END + b" \t\r\n") + _BOM + o}


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", sorted(_SAME))
def test_marks_where_the_rule_places_them_trust_exactly_what_openssl_trusts(tmp_path: Path, case: str) -> None:
    ca, other = _pair(tmp_path)
    bundle = _write(tmp_path / "b.pem", _SAME[case](ca, other))
    expected = _openssl(bundle)
    assert expected
    assert _device(bundle) == expected


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["two-marks", "mark-inside-base64", "mark-before-end-line"])
def test_marks_openssl_refuses_are_refused_at_start_and_send(tmp_path: Path, case: str) -> None:
    import ssl

    from device_ai.node.transport_security import TransportSecurityError

    ca, _ = _pair(tmp_path)
    data = {"two-marks": _BOM + _BOM + ca, "mark-inside-base64": ca.replace(b"\n", b"\n" + _BOM, 2),
            "mark-before-end-line": ca.replace(_END, _BOM + _END)}[case]
    bundle = _write(tmp_path / "r.pem", data)
    with pytest.raises(ssl.SSLError):
        _openssl(bundle)
    with pytest.raises(ConfigError, match=re.escape(f"transport.ca_bundle {bundle} cannot be read")):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match=re.escape(str(bundle))):
        _context(bundle)


@pytest.mark.req("SRS-233")
def test_the_node_reads_a_marked_bundle_as_a_destination_does(tmp_path: Path) -> None:
    ca, other = _pair(tmp_path)
    bundle = _write(tmp_path / "node.pem", (_BOM + ca + _BOM + other).replace(b"\n", b"\r\n"))
    assert _node_subjects(tmp_path, bundle) == _device(bundle) == _openssl(bundle) == ["ca", "other-ca"]
    late = _write(tmp_path / "late.pem", ca + b"# next\n" + _BOM + other)
    assert _node_subjects(tmp_path, late) == _openssl(late) == ["ca"]


@pytest.mark.req("SRS-234")
def test_pem_blocks_costs_linear_time_on_hostile_marked_inputs(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): through the device's reading (OpenSSL's reader) - was: pem_blocks' block counts
    size = 4_000_000
    hostile = {"marked-begins": (_BOM + b"-----BEGIN A-----\n") * (size // 21),
               "marked-blocks": (_BOM + b"-----BEGIN A-----\n-----END A-----\n") * (size // 37),
               "marks": _BOM * (size // 3), "marked-blank-lines": (_BOM + b"\n") * (size // 4),
               "marked-begins-then-ends": (_BOM + b"-----BEGIN A-----\n") * (size // 42)
               + b"-----END B-----\n" * (size // 32),
               "marked-mixed-labels": b"".join(_BOM + b"-----BEGIN %d-----\n-----END %d-----\n" % (i, i + 1)
                                               for i in range(size // 40))}
    started = time.perf_counter()
    found = {name: _device_reads(tmp_path, data) for name, data in hostile.items()}
    assert time.perf_counter() - started < 15
    assert found == dict.fromkeys(hostile)  # no certificate in any: refused


@pytest.mark.req("SRS-234")
def test_a_marked_bundle_others_can_write_is_refused_at_start_and_send(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    ca, other = _pair(tmp_path)
    bundle = _write(tmp_path / "marked.pem", _BOM + ca + _BOM + other)
    bundle.chmod(0o664)
    with pytest.raises(ConfigError, match=re.escape(f"transport.ca_bundle {bundle} is writable by other accounts "
                                                    "(mode 0664)")):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="0664"):
        _context(bundle)
    bundle.chmod(0o644)  # control
    assert _device(bundle) == ["ca", "other-ca"]


@pytest.mark.req("SRS-233")
def test_a_marked_node_ca_file_others_can_write_is_refused(tmp_path: Path) -> None:
    ca, _ = _pair(tmp_path)
    bundle = _write(tmp_path / "marked.pem", _BOM + ca)
    bundle.chmod(0o646)
    with pytest.raises(ConfigError, match=re.escape(f"node_tls_ca_file {bundle} is writable by other accounts "
                                                    "(mode 0646)")):
        _node_subjects(tmp_path, bundle)
    bundle.chmod(0o644)  # control
    assert _node_subjects(tmp_path, bundle) == ["ca"]


@pytest.mark.req("SRS-234")
def test_another_accounts_marked_bundle_is_refused_at_start_and_send(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another account")
    ca, _ = _pair(tmp_path)
    bundle = _write(tmp_path / "marked.pem", _BOM + ca)
    os.chown(bundle, 54321, -1)
    with pytest.raises(ConfigError, match=re.escape(f"transport.ca_bundle {bundle} is owned by another account")):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="owned by another account"):
        _context(bundle)
    with pytest.raises(ConfigError, match="node_tls_ca_file .* is owned by another account"):
        _node_subjects(tmp_path, bundle)
