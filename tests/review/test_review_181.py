"""Independent re-review 181 (reviewer helper-181) of SRS-234 and SRS-233 after the fixes of review 180 (1148b11):
a destination's CA bundle and the node's CA file, read only when no other account could change them, the checked
bytes given to OpenSSL's own CA-file reader from an anonymous memory file (memfd, ``cafile=``) and, when that reader
refuses them, as DER (``cadata=`` bytes). helper-181 wrote none of the code, texts or tests reviewed. Read: both
texts (traceability/requirements.yaml), ``git show 1148b11``, src/device_ai/trust_anchors.py, node/transport_security.py
(client_context, _verifying_context, check_transport_files), node/server.py (tls_context), the docstrings of reviews
178 and 180. OpenSSL here: 3.0.x (Python 3.11, x86_64); "cafile=" below is ``ssl.create_default_context(cafile=...)``
on the same bytes in a file, + ``get_ca_certs()``.

SRS-234 - DEFECT (D1, low). SRS-233 - DEFECT (the same reading, by the rule of SRS-234: D1 reaches the node's CA file).

D1 - the DER fallback trusts a leading DER CA of a file that is not DER: CPython's ``cadata=`` bytes reader
(_add_ca_certs) reads DER certificates until one fails and takes the failure as a clean end when OpenSSL's last error
is ASN1 HEADER_TOO_LONG. So a DER CA followed by bytes whose first ASN.1 header cannot be parsed - e.g. 0x1f then
0xff x10 (a high tag number too long), one stray byte, ``30 84``/``30 89 ff..`` - loads, whatever follows: a file
``DER(ca) + 1f ff.. + "\\n" + PEM(other-ca) + a truncated PEM block`` is refused whole by cafile= (PEM lib) and by a
strict DER reading, and the device trusts ["ca"] at start, at send and in the node's server context (fail-open
against cafile= and against "a file that reader refuses is read as DER": the file is not DER). Erratic edges of the
same rule: DER + "\\n" loads, DER + "\\r\\n" or "\\n\\n" is refused. Low: only the owner or root can write these
bytes (the owner/mode check holds) and the CA trusted is spelled out in the file. Fix proposed: accept the DER reading
only when the certificates read cover the bytes exactly (walk the top-level DER TLVs in Python first - tag 0x30,
definite length - and refuse any remainder, or compare the concatenation of the loaded certificates' DER with the
bytes), and say so in the texts ("a file that reader refuses is read as DER certificates, end to end").

Notes:
- N1 /proc not mounted (simulated: the memory file's path absent): cafile= raises FileNotFoundError, caught by every
  caller as OSError - typed ConfigError at start / TransportSecurityError at send / ConfigError in tls_context, but
  the message is "[Errno 2] No such file or directory" after the user's bundle path: it reads as if the user's file
  were missing. memfd_create failing (EMFILE simulated) is typed too ("Too many open files"). Suggest naming the
  memory file in that message.
- N2 a file cafile= loads with CRLs and no certificate (a lone CRL) gives a context that trusts nothing - same as
  cafile= (not the system store); not a defect, noted for the texts' "holds no certificate".

What holds (this file's tests):
- PEM corners of reviews 153-180 (byte-order mark at start and after a long END line, NUL-first line, text before
  BEGIN, CRLF, trailing blanks on BEGIN, TRUSTED CERTIFICATE, a truncated last block, an undecodable CRL block, a key
  block, random junk around blocks, a 4 MB junk file) - the device at start, at send and in the node trusts exactly
  what cafile= trusts, or refuses where it refuses; never the system store (empty, blank, junk, key-only all refused
  at start, send and node). A DER copy and DER+DER load (text).
- The bytes checked are the bytes loaded: the file swapped for another CA's right after read_owned_file - the
  device trusts the bytes read. The path OpenSSL gets is /proc/self/fd/N of a memfd made with MFD_CLOEXEC (not
  inheritable); no file left in the temporary folder; descriptors the same after success, PEM failure + DER success,
  both failing, and an exception inside the load.
- Errors: start - typed ConfigError naming the destination, setting and file; ``device-ai serve`` with a junk bundle
  exits 2 with DAI-100 naming the file (not 70); send - TransportSecurityError naming the file (no context, so
  nothing is sent); node - ConfigError naming node_tls_ca_file.
- Both texts name OpenSSL's own CA-file reader, memory, and the DER reading.

Figures: this file 42 passed, 4 xfailed (9.3 s, -n 2); brief's regression set (test_destination_ca_bundle,
test_tls_ca_file, test_tls, reviews 153, 156, 173, 175, 177, 178, 180): 237 passed (36.5 s, -n 2, shared cores).

Defects are strict xfails asserting the device refuses what neither cafile= nor a strict DER reading accepts, beside
a pin of today's behaviour and a control that passes; holds are plain tests. Scratch files only in tmp_path. Record:
not written (defects found).
"""

from __future__ import annotations

import errno
import os
import random
import ssl
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import CLI, _context, _destination, _pki, _start, _subjects
from tests.review.test_review_177 import _write
from tests.review.test_review_180 import _node_subjects

_END = b"-----END CERTIFICATE-----"
_BEGIN = b"-----BEGIN CERTIFICATE-----"


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki181"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))


def _cafile(path: Path) -> list[str] | None:
    try:
        return _subjects(ssl.create_default_context(cafile=str(path)))
    except ssl.SSLError:
        return None


def _at_start_and_send(path: Path) -> list[str] | None:
    """What the device trusts from the bundle (None: refused at start and at send, both typed)."""
    from device_ai.node.transport_security import TransportSecurityError

    try:
        _start(path)
    except ConfigError as exc:
        assert path.name in exc.message
        with pytest.raises(TransportSecurityError, match=path.name):
            _context(path)
        return None
    return _subjects(_context(path))


def _node(tmp_path: Path, path: Path) -> list[str] | None:
    try:
        return _node_subjects(tmp_path, path)
    except ConfigError as exc:
        assert "node_tls_ca_file" in exc.hint
        return None


# === D1: a leading DER CA of a file that is not DER ===============================================================

_TAIL = b"\x1f" + b"\xff" * 10  # an ASN.1 header OpenSSL cannot parse: HEADER_TOO_LONG, taken as the end


def _d1(tmp_path: Path, pems: tuple[bytes, bytes], case: str) -> Path:
    ca, other = pems
    data = {"pem-broken-after-der": _der(ca) + _TAIL + b"\n" + other + other[: len(other) // 2],
            "der-then-text": _der(ca) + _TAIL + b"any text at all, not a certificate\n",
            "der-then-30-89": _der(ca) + b"\x30\x89" + b"\xff" * 9 + b"junk"}[case]
    return _write(tmp_path / f"{case}.pem", data)


_D1 = ["pem-broken-after-der", "der-then-text", "der-then-30-89"]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", _D1)
def test_d1_a_file_neither_pem_nor_der_is_refused_at_start_and_send(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                    case: str) -> None:
    bundle = _d1(tmp_path, pems, case)
    assert _cafile(bundle) is None
    assert _at_start_and_send(bundle) is None


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", _D1)
def test_d1_pin_the_device_trusts_a_ca_cafile_refuses(tmp_path: Path, pems: tuple[bytes, bytes], case: str) -> None:
    bundle = _d1(tmp_path, pems, case)
    assert _cafile(bundle) is None
    # lead, 2026-12-07 (session 3): fixed - DER only when the file is exactly one certificate (was: ["ca"])
    assert _at_start_and_send(bundle) is None


@pytest.mark.req("SRS-233")
def test_d1_the_node_refuses_a_file_neither_pem_nor_der(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    assert _node(tmp_path, _d1(tmp_path, pems, "pem-broken-after-der")) is None


@pytest.mark.req("SRS-233")
def test_d1_pin_the_node_trusts_a_ca_cafile_refuses(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    # lead, 2026-12-07 (session 3): fixed (was: ["ca"])
    assert _node(tmp_path, _d1(tmp_path, pems, "pem-broken-after-der")) is None


@pytest.mark.req("SRS-234")
# lead, 2026-12-07 (session 3): two DER certificates back to back are refused since the fix of D1 (DER: exactly one
# certificate; was: ["ca", "other-ca"]); a bundle of several CAs is given as PEM
@pytest.mark.parametrize(("case", "expected"), [("der", ["ca"]), ("der+der", None),
                                                ("der+crlf", None), ("der+text-tail", None)])
def test_d1_control_der_copies_load_and_plain_trailing_text_is_refused(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                        case: str, expected: list[str] | None) -> None:
    ca, other = pems
    data = {"der": _der(ca), "der+der": _der(ca) + _der(other), "der+crlf": _der(ca) + b"\r\n",
            "der+text-tail": _der(ca) + b"\n" + other + other[:100]}[case]
    bundle = _write(tmp_path / "control.der", data)
    assert _at_start_and_send(bundle) == expected
    assert _node(tmp_path, bundle) == expected


# === holds: PEM corners equal cafile=, never the system store =====================================================

def _corners(ca: bytes, other: bytes) -> dict[str, bytes]:
    bom = b"\xef\xbb\xbf"
    crl = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"
    rng = random.Random(181)
    junk = bytes(rng.randrange(1, 256) for _ in range(3000)).replace(b"\n", b" ")
    return {
        "plain": ca + other,
        "bom-start": bom + ca + other,
        "bom-after-long-end": ca.replace(_END + b"\n", _END + b" " * 300 + b"\n") + bom + other,
        "bom-after-short-end": ca.replace(_END + b"\n", _END + b" " * 20 + b"\n") + bom + other,
        "nul-line-between": ca + b"\x00 x\n" + other,
        "nul-inside-line": ca + b"x\x00\n" + other,
        "text-before-begin": ca + b"# " + other,
        "crlf": (ca + other).replace(b"\n", b"\r\n"),
        "begin-trailing-blanks": ca.replace(_BEGIN + b"\n", _BEGIN + b" \t\r\r\n") + other,
        "trusted-certificate": ca + other.replace(b"CERTIFICATE-----", b"TRUSTED CERTIFICATE-----"),
        "truncated-last": ca + other[: len(other) // 2],
        "bad-crl-block": ca + crl + other,
        "key-block": ca + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "junk-around": b"junk\n" + junk + b"\n" + ca + junk + b"\n" + other + junk,
        "der-then-pem": _der(other) + b"\n" + ca,
        "pem-then-der": ca + _der(other),
    }


_CORNERS = ["bad-crl-block", "begin-trailing-blanks", "bom-after-long-end", "bom-after-short-end", "bom-start", "crlf",
            "der-then-pem", "junk-around", "key-block", "nul-inside-line", "nul-line-between", "pem-then-der", "plain",
            "text-before-begin", "truncated-last", "trusted-certificate"]


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", _CORNERS)
def test_pem_corners_trust_exactly_what_cafile_trusts_at_start_and_send(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                         case: str) -> None:
    bundle = _write(tmp_path / "corner.pem", _corners(*pems)[case])
    assert _at_start_and_send(bundle) == _cafile(bundle)


@pytest.mark.req("SRS-233")
@pytest.mark.parametrize("case", ["bom-after-long-end", "nul-line-between", "trusted-certificate", "truncated-last",
                                  "junk-around"])
def test_pem_corners_the_node_trusts_exactly_what_cafile_trusts(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                case: str) -> None:
    bundle = _write(tmp_path / "corner.pem", _corners(*pems)[case])
    assert _node(tmp_path, bundle) == _cafile(bundle)


@pytest.mark.req("SRS-234")
def test_a_4_mb_junk_file_with_a_ca_reads_as_cafile_in_bounded_time(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    ca, other = pems
    rng = random.Random(4181)
    junk = bytes(rng.randrange(1, 256) for _ in range(1 << 16)).replace(b"\n", b" ") * 64
    bundle = _write(tmp_path / "huge.pem", junk + b"\n" + ca + b"-----BEGIN CERTIFICATE-----\n" * 1000)
    began = time.monotonic()
    device = _at_start_and_send(bundle)
    assert time.monotonic() - began < 10
    assert device == _cafile(bundle)


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("data", [b"", b"\n \n", b"junk", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                  b"\x00" * 64])
def test_files_with_no_certificate_are_refused_never_the_system_store(tmp_path: Path, data: bytes) -> None:
    bundle = _write(tmp_path / "none.pem", data)
    assert _at_start_and_send(bundle) is None
    assert _node(tmp_path, bundle) is None


# === holds: the memory file ========================================================================================

@pytest.mark.req("SRS-234")
def test_the_bytes_checked_are_the_bytes_loaded(tmp_path: Path, pems: tuple[bytes, bytes],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import device_ai.trust_anchors as anchors

    ca, other = pems
    bundle = _write(tmp_path / "swap.pem", ca)
    checked = anchors.read_owned_file

    def read_then_swap(path: Path, what: str) -> bytes:
        data = checked(path, what)
        path.write_bytes(other)  # the file changes right after the check
        return data

    monkeypatch.setattr(anchors, "read_owned_file", read_then_swap)
    assert _subjects(_context(bundle)) == ["ca"]
    bundle.write_bytes(ca)
    assert _subjects(_context(bundle)) == ["ca"]  # control: each read takes the bytes checked


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.req("SRS-234")
def test_the_memory_file_is_private_not_inherited_and_closed_on_every_path(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import device_ai.trust_anchors as anchors

    ca, other = pems
    made: list[tuple[int, int]] = []
    real = os.memfd_create

    def recording(name: str, flags: int = 0) -> int:
        descriptor = real(name, flags)
        made.append((descriptor, flags))
        assert not os.get_inheritable(descriptor)
        return descriptor

    monkeypatch.setattr(os, "memfd_create", recording)
    seen: list[str] = []
    with anchors._memory_file(b"x") as path:
        seen.append(path)
        assert Path(path).read_bytes() == b"x"
    assert seen[0].startswith("/proc/self/fd/") and made[-1][1] & os.MFD_CLOEXEC
    temporary = set(os.listdir(tempfile.gettempdir()))
    before = _fds()
    cases = {"pem": ca, "der": _der(ca), "neither": b"junk", "der-partial": _der(ca) + b"\r\n"}
    for name, data in cases.items():
        bundle = _write(tmp_path / f"{name}.pem", data)
        try:
            anchors.trusting_client_context(bundle, "x")
        except ValueError:
            pass
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    anchors.load_trust_anchors(context, _write(tmp_path / "node.pem", other), "node_tls_ca_file")

    def boom(cafile: str | None, cadata: bytes | None) -> None:
        raise RuntimeError("inside the load")

    with pytest.raises(RuntimeError):
        anchors._loaded(ca, tmp_path / "x.pem", boom)
    assert _fds() == before
    assert len(made) >= 6
    assert not {name for name in set(os.listdir(tempfile.gettempdir())) - temporary if "trust-anchors" in name}


@contextmanager
def _absent(path: str):  # noqa: ANN202 - the memory file's path, absent (as when /proc is not mounted)
    yield path


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("failure", ["no-proc", "memfd-emfile"])
def test_no_memory_file_is_a_typed_refusal_at_start_send_and_node(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  failure: str) -> None:
    import device_ai.trust_anchors as anchors
    from device_ai.node.transport_security import TransportSecurityError

    if failure == "no-proc":
        monkeypatch.setattr(anchors, "_memory_file", lambda data: _absent(str(tmp_path / "no-proc" / "fd" / "3")))
    else:
        def emfile(name: str, flags: int = 0) -> int:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

        monkeypatch.setattr(os, "memfd_create", emfile)
    bundle = _write(tmp_path / "ca.pem", pems[0])
    with pytest.raises(ConfigError, match="ca.pem"):
        _start(bundle)
    with pytest.raises(TransportSecurityError, match="ca.pem"):
        _context(bundle)
    with pytest.raises(ConfigError):
        _node_subjects(tmp_path, bundle)


# === holds: errors at start (serve) ==================================================================================

@pytest.mark.req("SRS-234")
def test_serve_with_a_junk_bundle_exits_2_naming_the_file(tmp_path: Path) -> None:
    import json
    import sys

    from tests.review.test_review_173 import _free_port

    bundle = _write(tmp_path / "junk-bundle.pem", b"not a certificate\n")
    destination = [{"name": "pacs", "kind": "dimse", "ae_title": "PACS", "host": "127.0.0.1", "port": 104,
                    "transport": {"tls": True, "ca_bundle": str(bundle)}}]
    env = {**os.environ, "DEVICE_AI_HOME": str(tmp_path / "home"), "DEVICE_AI_NODE_PORT": str(_free_port()),
           "DEVICE_AI_NODE_ALLOWED_CALLING_AETS": "TESTSCU", "DEVICE_AI_NODE_MIN_FREE_MB": "0",
           "DEVICE_AI_DEMONSTRATION_MODE": "1", "DEVICE_AI_NODE_DESTINATIONS": json.dumps(destination)}
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "device_ai.cli"]
    served = subprocess.run([*command, "serve"], env=env, capture_output=True, text=True, timeout=40, check=False)
    assert served.returncode == 2, served.stderr
    assert "DAI-100" in served.stderr and "junk-bundle.pem" in served.stderr and "Traceback" not in served.stderr


@pytest.mark.req("SRS-234")
def test_a_send_with_a_junk_bundle_is_a_failed_attempt_naming_the_file(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError, dimse_tls_args

    bundle = _write(tmp_path / "junk-send.pem", b"junk")
    security = _destination(bundle)[1]
    with pytest.raises(TransportSecurityError, match="junk-send.pem"):
        dimse_tls_args(security, "127.0.0.1")  # raised before any association: nothing is sent


# === holds: the texts =============================================================================================

@pytest.mark.req("SRS-233")
def test_both_texts_name_openssls_reader_from_memory_and_der() -> None:
    from tests.review.test_review_180 import _texts

    texts = _texts()
    # lead, 2026-12-07 (session 3): 077a6c1 says "from an anonymous memory file" (review 183 D1; was: "from memory")
    assert "OpenSSL's own CA-file reader" in texts["SRS-234"] and "from an anonymous memory file" in texts["SRS-234"]
    assert "read as DER" in texts["SRS-234"]
    assert "as SRS-234 reads a CA bundle" in texts["SRS-233"] and "DER" in texts["SRS-233"]
