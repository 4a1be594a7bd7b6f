"""Independent re-review 186 (reviewer helper-186) of SRS-234 and SRS-233 after the fix of review 185 (c83151d):
a file over 16 MiB refused on fstat's size before any read; the checked bytes given to OpenSSL's own CA-file reader
(``cafile=``) from an anonymous memory file, DER only when the file is exactly one certificate, at least one
certificate loaded, no /proc a typed refusal. helper-186 wrote none of the code, texts or tests reviewed. Read: both
texts, ``git show 077a6c1``, ``b3da890``, ``7856c87``, ``c83151d``, trust_anchors.py, config._read_owned,
node/transport_security.py, node/server.py (tls_context), reviews 180-185. "cafile=" is
``ssl.create_default_context(cafile=...)`` on the same bytes.

SRS-234 - HOLDS. SRS-233 - HOLDS. No defect found: no fail-open, never the system store, every refusal typed,
descriptors closed.

Why equality with cafile= holds by construction (read in the code, probed below): the device calls the very same
loader (create_default_context / load_verify_locations with cafile=) on a name that reads exactly the checked bytes;
OpenSSL 3.0's X509_load_cert_crl_file_ex builds the whole PEM list before adding anything, so a refused PEM file
leaves no partial store behind for the DER fallback (the node's context is shared between the two tries). The only
departures from cafile= are all refusals or documented: an empty file, a file of CRLs alone, a file over 16 MiB,
a non-regular file (all refused, where cafile= would load or fail differently), and one DER certificate (loaded by
cadata=, which the text names: "read as DER only when it is exactly one certificate").

N1 (note, not a defect) - a file that grows past 16 MiB between fstat and read is read to 16 MiB + 1 and then
refused with the message "it is not read". Only the file's owner or root can grow it; fail-closed; c83151d keeps the
bounded read on purpose. Not probed here (needs a race).
N2 (note) - memfd_create present but failing at run time (seccomp, ENOSYS/EPERM) is an OSError: typed at start
(ConfigError naming the file), at send (TransportSecurityError) and at the node (ConfigError) - probed below. The
message is the errno text, not the "/proc" wording of the text's refusal; fail-closed.

What holds (start = check_transport_files, send = client_context, node = tls_context):
- The whole store (cert_store_stats and every CA, DER) equals cafile='s at start, send and node for: leaf only,
  expired CA, not-yet-valid CA, CA + leaf, CA + CRL, two CAs, TRUSTED CERTIFICATE blocks; review 183's/185's cases
  still pass in the regression set.
- A PEM file OpenSSL refuses as a whole (second CA truncated) is refused everywhere, as cafile= refuses it (no
  fallback to the system store, nothing of the first CA kept by the node).
- One DER CA equals cadata=DER everywhere; a DER CA + one byte is refused everywhere.
- /dev/null (a character device) and a FIFO: typed refusals at start/send/node naming the file (refused on fstat, before any read), descriptors unchanged.
- A symlink to a good CA loads that CA; a symlink to a 0666 file is refused on the opened file's mode.
- memfd_create raising OSError: typed everywhere, descriptors unchanged.
- ``device-ai serve`` with a PEM file OpenSSL refuses exits 2 with DAI-100 naming the file, no traceback; a send is
  a failed attempt naming it.
- Texts: both still say what 185's check asked (limit, OpenSSL's reader, memory file, /proc refusal, DER rule).

Figures: this file 15 passed (-n 2, 10 s). The brief's regression set (test_destination_ca_bundle, test_tls_ca_file,
test_tls, reviews 153, 156, 173, 175, 177, 178, 180-185): 370 passed (-n 2, 83 s).
Scratch files only in tmp_path. Record: written for both (both hold).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
import yaml

from device_ai.config import MAX_OWNED_FILE_BYTES
from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _pki, _start
from tests.review.test_review_177 import _write
from tests.review.test_review_183 import _cafile, _certificate, _everywhere, _fds, _node_cafile, _node_context, _store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki186"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _refused_everywhere(tmp_path: Path, path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    with pytest.raises(ConfigError) as start:
        _start(path)
    assert path.name in start.value.message and "Traceback" not in start.value.message
    with pytest.raises(TransportSecurityError, match=path.name):
        _context(path)
    with pytest.raises(ConfigError, match="node_tls_ca_file|node's TLS files"):
        _node_context(tmp_path, path)


def _trusted(pem: bytes) -> bytes:
    text = pem.decode("ascii").replace("BEGIN CERTIFICATE", "BEGIN TRUSTED CERTIFICATE")
    return text.replace("END CERTIFICATE", "END TRUSTED CERTIFICATE").encode("ascii")


# === holds: the whole store equals cafile='s ======================================================================

@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["leaf-only", "expired-ca", "not-yet-valid-ca", "ca-and-leaf", "ca-and-crl",
                                  "two-cas", "trusted-certificate"])
def test_the_whole_store_is_cafiles_at_start_send_and_node(tmp_path: Path, pems: tuple[bytes, bytes],
                                                            case: str) -> None:
    from tests.review.test_review_183 import _cases

    cases = _cases(pems[0])
    if case == "ca-and-crl":
        from tests.review.test_review_182 import _crl_only

        data = pems[0] + _crl_only(tmp_path).read_bytes()
    elif case == "two-cas":
        data = pems[0] + pems[1]
    elif case == "trusted-certificate":
        data = _trusted(pems[1])
    else:
        data = cases[case]
    bundle = _write(tmp_path / f"{case}.pem", data)
    expected = _cafile(bundle)
    assert expected is not None and expected[0]["x509"] >= 1, case
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected, case
    assert node == _node_cafile(bundle), case


@pytest.mark.req("SRS-234")
def test_a_pem_file_openssl_refuses_as_a_whole_is_refused_everywhere(tmp_path: Path,
                                                                      pems: tuple[bytes, bytes]) -> None:
    second = pems[1].split(b"\n")
    truncated = b"\n".join(second[:3] + second[-3:])  # base64 cut: the block cannot be decoded
    bundle = _write(tmp_path / "truncated.pem", pems[0] + truncated)
    assert _cafile(bundle) is None and _node_cafile(bundle) is None  # control: cafile= refuses it
    _refused_everywhere(tmp_path, bundle)


@pytest.mark.req("SRS-234")
def test_one_der_ca_is_cadatas_and_der_plus_a_byte_is_refused(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    from tests.review.test_review_182 import _der

    der = _der(pems[0])
    bundle = _write(tmp_path / "one.der", der)
    expected = _store(ssl.create_default_context(cadata=der))
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected and expected[0]["x509_ca"] == 1
    assert node is not None and node[1] == expected[1]
    _refused_everywhere(tmp_path, _write(tmp_path / "one-plus.der", der + b"\0"))


@pytest.mark.req("SRS-233")
@pytest.mark.parametrize("kind", ["dev-null", "fifo"])
def test_non_regular_files_are_typed_refusals_everywhere(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "fifo.pem"
        os.mkfifo(path, 0o644)
    else:
        path = tmp_path / "null.pem"
        path.symlink_to("/dev/null")
    before = _fds()
    with pytest.raises(ConfigError, match="not a regular file"):
        _start(path)
    _refused_everywhere(tmp_path, path)
    assert _fds() == before


@pytest.mark.req("SRS-233")
def test_symlinks_are_checked_on_the_file_opened(tmp_path: Path, pems: tuple[bytes, bytes]) -> None:
    good = tmp_path / "good-link.pem"
    good.symlink_to(_write(tmp_path / "ca.pem", pems[0]))
    device, node, _ = _everywhere(tmp_path, good)
    assert device == _cafile(good) and node == _node_cafile(good)
    target = _write(tmp_path / "open.pem", pems[1])
    target.chmod(0o666)
    bad = tmp_path / "bad-link.pem"
    bad.symlink_to(target)
    with pytest.raises(ConfigError, match="writable by other accounts"):
        _start(bad)
    _refused_everywhere(tmp_path, bad)


@pytest.mark.req("SRS-234")
def test_memfd_failing_at_run_time_is_typed_everywhere(tmp_path: Path, pems: tuple[bytes, bytes],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import device_ai.trust_anchors as anchors

    bundle = _write(tmp_path / "ca.pem", pems[0])
    _node_context(tmp_path, bundle)  # the server's own files made before memfd fails

    def refused(*_: object) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(anchors.os, "memfd_create", refused)
    before = _fds()
    _refused_everywhere(tmp_path, bundle)
    assert _fds() == before


@pytest.mark.req("SRS-234")
def test_serve_and_a_send_with_a_refused_pem_are_typed_and_name_the_file(tmp_path: Path,
                                                                          pems: tuple[bytes, bytes]) -> None:
    from tests.review.test_review_182 import _send_error, _serve

    second = pems[1].split(b"\n")
    bundle = _write(tmp_path / "truncated.pem", pems[0] + b"\n".join(second[:3] + second[-3:]))
    (tmp_path / "serve").mkdir()
    done = _serve(tmp_path / "serve", bundle)
    assert done.returncode == 2 and "DAI-100" in done.stderr and "truncated.pem" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "send").mkdir()
    assert "truncated.pem" in _send_error(tmp_path / "send", bundle)


# === holds: the texts ==============================================================================================

@pytest.mark.req("SRS-233")
def test_both_texts_say_what_is_refused_and_what_loads() -> None:
    requirements = yaml.safe_load((ROOT / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))[
        "software_requirements"]
    texts = {r["id"]: " ".join(r["text"].split()) for r in requirements if r["id"] in ("SRS-233", "SRS-234")}
    for text in texts.values():
        assert "is refused without being read, and so is a file larger than 16 MiB" in text
    assert "OpenSSL's own CA-file reader reads the bytes checked, from an anonymous memory file" in texts["SRS-234"]
    assert "without one, on a system without /proc, the file is refused" in texts["SRS-234"]
    assert "read as DER only when it is exactly one certificate" in texts["SRS-234"]
    assert "one that holds no certificate is a typed refusal naming the file" in texts["SRS-234"]
    assert "as SRS-234 reads a CA bundle" in texts["SRS-233"]
    assert MAX_OWNED_FILE_BYTES == 16 * 1024 * 1024
