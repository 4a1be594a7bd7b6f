"""Independent re-review 184 (reviewer helper-184) of SRS-234 and SRS-233 after the fixes of review 183 (b3da890):
a destination's CA bundle and the node's CA file, checked on the opened file (config.read_owned_file, the descriptor
now checked raw and closed on every path), the checked bytes given to OpenSSL's own CA-file reader (``cafile=``) from
an anonymous memory file (memfd, /proc/self/fd/N), read as DER (``cadata=``) only when the file is exactly one
certificate, at least one certificate loaded, and without memfd or /proc a typed refusal. helper-184 wrote none of
the code, texts or tests reviewed. Read: both texts, ``git show 077a6c1`` and ``b3da890``, trust_anchors.py,
node/transport_security.py, node/server.py (tls_context), config._read_owned, reviews 180-183's docstrings.
Python 3.11.7, OpenSSL 3.0.19. "cafile=" is ``ssl.create_default_context(cafile=...)`` on the same bytes.

SRS-234 - DEFECT (D1, low, fail-closed). SRS-233 - DEFECT (D1, the same read). Trust itself holds in every case
tried: no fail-open, never the system store, descriptors closed.

D1 - a CA file larger than the memory the device may use is no typed refusal (brief item 2 "no traceback anywhere",
"huge files (the read limit of read_owned_file)"; both texts: a file that "holds no certificate is a typed refusal
naming the file" / "is not a certificate ... a typed refusal naming the TLS settings"). read_owned_file has no read
limit: the file is read whole (then copied whole into the memfd, at start and at every send). A sparse 4 GiB file of
zeros (mode 0644, the device's own account; no disk used) under an address-space limit of 2.5 GB (a simulated small
device) raises MemoryError, which none of the callers catches (they catch OSError, ssl.SSLError, ValueError):
``device-ai serve`` exits 70 with "DAI-999: internal error (MemoryError: )", the file not named; a send records
"internal error: MemoryError" (nothing sent, the file not named); the node's tls_context raises it untyped.
Control: the same zeros in a 4 KiB file are a typed refusal naming the file (serve exit 2, DAI-100). Reviews 183 N1
noted the missing limit; here it is shown to break the typed-refusal clause. Fail-closed; only the device's account
or root can make such a file (or point the setting at one, e.g. a disk image). Fix: refuse a CA file above a
stated size (a few MB; fstat before reading, so a sparse file is never read) with a typed error naming it, and say
the limit in both texts.

What holds (this file's tests; start = check_transport_files, send = client_context, node = tls_context):
- 183 D2's fix: a folder is "not a regular file" at start, send and node, no descriptor left; serve with a folder
  exits 2 with DAI-100 naming it, no traceback. Descriptors also unchanged after the MemoryError path (D1).
- The whole store (cert_store_stats and every CA, DER) equals cafile='s at start, send and node for: a leaf only
  (x509_ca 0, as cafile=), a leaf and an expired CA, a not-yet-valid CA only, CA + CRL, two CAs of which one
  expired; a PEM CA with 1 MB of text after it.
- DER variants: a DER leaf, a DER expired CA load exactly that certificate (what cadata= gives) at start, send and
  node; a DER CA with one trailing NUL, two DER certificates, a DER cut short by one byte are typed refusals.
- The brief's regression set passes (reviews 181/182 text checks included).
- Texts, word by word: SRS-234 names OpenSSL's reader, the anonymous memory file, the refusal without /proc, DER
  "only when it is exactly one certificate", "not a regular file ... refused without being read", "holds no
  certificate is a typed refusal naming the file"; SRS-233 reads "as SRS-234 reads a CA bundle".

Figures: this file 18 passed, 3 xfailed (-n 2, 22 s); the brief's regression set (test_destination_ca_bundle,
test_tls_ca_file, test_tls, reviews 153, 156, 173, 175, 177, 178, 180-183): 337 passed (69 s, -n 2).
Defects are strict xfails asserting what the texts need, beside a pin of today's state and a control that passes;
holds are plain tests. Scratch files only in tmp_path. Record: not written (defect found).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai.errors import ConfigError
from tests.review.test_review_173 import _context, _pki, _start
from tests.review.test_review_177 import _write
from tests.review.test_review_182 import _der
from tests.review.test_review_183 import _cafile, _certificate, _everywhere, _fds, _node_cafile, _store

ROOT = Path(__file__).resolve().parents[2]
_LIMIT = 2_500_000_000  # bytes of address space: a simulated small device
_HUGE = 4 * 1024 ** 3  # a sparse file of zeros: no disk used


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    pki = _pki(tmp_path_factory.mktemp("pki184"))
    return (pki / "ca.pem").read_bytes(), (pki / "other-ca.pem").read_bytes()


def _zeros(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    path.chmod(0o644)
    return path


def _limited(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a child whose address space is limited (the limit set before anything is imported)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))

    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, preexec_fn=limit,  # noqa: PLW1509
                          capture_output=True, text=True, timeout=60, check=False)


_SERVE = """
import resource, subprocess, sys, pathlib
import tests.review.test_review_182 as r
run = subprocess.run
def limited(*a, **k):
    k["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    return run(*a, **k)
r.subprocess.run = limited
done = r._serve(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
print(done.returncode); print(done.stderr)
"""

_SEND = """
import sys, pathlib
from tests.review.test_review_182 import _send_error
print(_send_error(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
"""

_NODE = """
import sys, pathlib
from device_ai.errors import ConfigError
from tests.review.test_review_183 import _node_context
try:
    _node_context(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
    print("loaded")
except ConfigError as exc:
    print("ConfigError", exc.message)
except BaseException as exc:
    print("untyped", type(exc).__name__)
"""


def _serve_limited(tmp_path: Path, bundle: Path) -> tuple[int, str]:
    folder = tmp_path / "serve"
    folder.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-c", _SERVE.format(limit=_LIMIT), str(folder), str(bundle)], cwd=ROOT,
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    code, _, stderr = done.stdout.partition("\n")
    return int(code), stderr


def _send_limited(tmp_path: Path, bundle: Path) -> str:
    folder = tmp_path / "send"
    folder.mkdir(exist_ok=True)
    done = _limited(_SEND, str(folder), str(bundle))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _node_limited(tmp_path: Path, bundle: Path) -> str:
    folder = tmp_path / "node-tls"
    folder.mkdir(exist_ok=True)
    done = _limited(_NODE, str(folder), str(bundle))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# === D1: a CA file larger than the device's memory is no typed refusal ============================================

@pytest.mark.req("SRS-234")
def test_d1_a_huge_bundle_is_a_typed_refusal_at_start_naming_the_file(tmp_path: Path) -> None:
    bundle = _zeros(tmp_path / "huge.pem", _HUGE)
    code, stderr = _serve_limited(tmp_path, bundle)
    assert code == 2 and "DAI-100" in stderr and "huge.pem" in stderr and "Traceback" not in stderr


@pytest.mark.req("SRS-234")
def test_d1_a_send_with_a_huge_bundle_is_a_failed_attempt_naming_the_file(tmp_path: Path) -> None:
    assert "huge.pem" in _send_limited(tmp_path, _zeros(tmp_path / "huge.pem", _HUGE))


@pytest.mark.req("SRS-233")
def test_d1_the_node_refuses_a_huge_ca_file_typed(tmp_path: Path) -> None:
    assert _node_limited(tmp_path, _zeros(tmp_path / "huge.pem", _HUGE)).startswith("ConfigError")


@pytest.mark.req("SRS-234")
def test_d1_pin_memory_error_escapes_at_start_send_and_node(tmp_path: Path) -> None:
    # lead, 2026-12-07 (session 3): fixed - files the configuration names are read to 16 MiB at most, a larger one is
    # a typed refusal naming it (was: MemoryError everywhere, serve exit 70 DAI-999, the file unnamed)
    bundle = _zeros(tmp_path / "huge.pem", _HUGE)
    code, stderr = _serve_limited(tmp_path, bundle)
    assert code == 2 and "DAI-100" in stderr and "huge.pem is larger than 16 MiB" in stderr
    assert "huge.pem is larger than 16 MiB" in _send_limited(tmp_path, bundle)
    assert _node_limited(tmp_path, bundle).startswith("ConfigError") and "MemoryError" not in stderr


@pytest.mark.req("SRS-234")
def test_d1_control_the_same_zeros_in_a_small_file_are_typed_everywhere(tmp_path: Path) -> None:
    bundle = _zeros(tmp_path / "small.pem", 4096)
    code, stderr = _serve_limited(tmp_path, bundle)
    assert code == 2 and "DAI-100" in stderr and "small.pem" in stderr and "Traceback" not in stderr, stderr
    assert "small.pem" in _send_limited(tmp_path, bundle)
    assert _node_limited(tmp_path, bundle).startswith("ConfigError")


@pytest.mark.req("SRS-234")
def test_d1_descriptors_closed_on_the_memory_error_path(tmp_path: Path) -> None:
    code = ("import resource, pathlib, sys, os\n"
            "from device_ai.trust_anchors import trusting_client_context as t\n"
            "before = sorted(os.listdir('/proc/self/fd'))\n"
            "from device_ai.errors import ConfigError\n"
            "try:\n    t(pathlib.Path(sys.argv[1]), 'x')\nexcept ConfigError:\n    print('ConfigError')\n"
            "print(sorted(os.listdir('/proc/self/fd')) == before)\n")
    done = _limited(code, str(_zeros(tmp_path / "huge.pem", _HUGE)))
    # lead, 2026-12-07 (session 3): a typed refusal since D1's fix (was: MemoryError), descriptors still closed
    assert done.stdout.split() == ["ConfigError", "True"], done.stderr


# === holds: 183 D2's fix (a folder) =================================================================================

@pytest.mark.req("SRS-234")
def test_a_folder_is_not_a_regular_file_everywhere_no_descriptor_left(tmp_path: Path) -> None:
    from device_ai.node.transport_security import TransportSecurityError

    folder = tmp_path / "bundle-folder"
    folder.mkdir(mode=0o755)
    before = _fds()
    for _ in range(3):
        with pytest.raises(ConfigError, match="bundle-folder is not a regular file"):
            _start(folder)
        with pytest.raises(TransportSecurityError, match="bundle-folder is not a regular file"):
            _context(folder)
        from tests.review.test_review_183 import _node_context

        with pytest.raises(ConfigError, match="not a regular file"):
            _node_context(tmp_path, folder)
    assert _fds() == before


@pytest.mark.req("SRS-234")
def test_serve_with_a_folder_exits_2_naming_it(tmp_path: Path) -> None:
    from tests.review.test_review_182 import _serve

    folder = tmp_path / "bundle-folder"
    folder.mkdir(mode=0o755)
    served = _serve(tmp_path, folder)
    assert served.returncode == 2 and "DAI-100" in served.stderr and "bundle-folder" in served.stderr
    assert "Traceback" not in served.stderr


# === holds: the whole store equals cafile='s ======================================================================

def _pem_cases(ca: bytes) -> dict[str, bytes]:
    return {"leaf-only": _certificate("fake-leaf", ca=False)[2],
            "leaf-and-expired-ca": _certificate("fake-leaf", ca=False)[2]
            + _certificate("fake-expired-ca", ca=True, days=(-30, -1))[2],
            "future-ca-only": _certificate("fake-future-ca", ca=True, days=(2, 30))[2],
            "ca-and-expired-ca": ca + _certificate("fake-expired-ca", ca=True, days=(-30, -1))[2],
            "ca-then-1mb-text": ca + b"# fake trailer\n" * 70_000}


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["leaf-only", "leaf-and-expired-ca", "future-ca-only", "ca-and-expired-ca",
                                  "ca-then-1mb-text", "ca-and-crl"])
def test_the_whole_store_is_cafiles_at_start_send_and_node(tmp_path: Path, pems: tuple[bytes, bytes],
                                                            case: str) -> None:
    if case == "ca-and-crl":
        from tests.review.test_review_182 import _crl_only

        data = _crl_only(tmp_path).read_bytes() + pems[0]
    else:
        data = _pem_cases(pems[0])[case]
    bundle = _write(tmp_path / f"{case}.pem", data)
    expected = _cafile(bundle)
    assert expected is not None and expected[0]["x509"] >= 1
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected and node == _node_cafile(bundle)
    if case == "leaf-only":
        assert expected[0]["x509_ca"] == 0


# === holds: DER variants ===========================================================================================

@pytest.mark.req("SRS-233")
@pytest.mark.parametrize("case", ["leaf", "expired-ca"])
def test_a_der_certificate_loads_exactly_itself_everywhere(tmp_path: Path, case: str) -> None:
    ca = case != "leaf"
    pem = _certificate(f"fake-der-{case}", ca=ca, days=(-30, -1) if ca else (-1, 1))[2]
    der = _der(pem)
    bundle = _write(tmp_path / f"{case}.der", der)
    expected = _store(ssl.create_default_context(cadata=der))
    device, node, _ = _everywhere(tmp_path, bundle)
    assert device == expected and node is not None and node[0]["x509"] == 1


@pytest.mark.req("SRS-234")
@pytest.mark.parametrize("case", ["trailing-nul", "two-ders", "cut-short"])
def test_a_der_file_that_is_not_exactly_one_certificate_is_refused(tmp_path: Path, pems: tuple[bytes, bytes],
                                                                   case: str) -> None:
    der = _der(pems[0])
    data = {"trailing-nul": der + b"\0", "two-ders": der + _der(pems[1]), "cut-short": der[:-1]}[case]
    bundle = _write(tmp_path / f"{case}.der", data)
    assert _cafile(bundle) is None
    device, node, _ = _everywhere(tmp_path, bundle)
    assert (device, node) == (None, None)


# === holds: texts ==================================================================================================

@pytest.mark.req("SRS-233")
def test_texts_word_by_word() -> None:
    from tests.review.test_review_180 import _texts

    texts = _texts()
    srs234, srs233 = texts["SRS-234"], texts["SRS-233"]
    for phrase in ("OpenSSL's own CA-file reader reads the bytes checked, from an anonymous memory file",
                   "without one, on a system without /proc, the file is refused",
                   "exactly the CAs that loading the same bytes as cafile gives",
                   "read as DER only when it is exactly one certificate",
                   "A path that is not a regular file (a FIFO, a device) is refused without being read",
                   "a missing file or one that holds no certificate is a typed refusal naming the file"):
        assert phrase in srs234, phrase
    assert "as SRS-234 reads a CA bundle" in srs233 and "is refused without being read" in srs233
    assert "is empty or is missing is a typed refusal naming the TLS settings" in srs233


@pytest.mark.req("SRS-234")
def test_the_send_error_of_a_junk_bundle_names_the_file(tmp_path: Path) -> None:
    from tests.review.test_review_182 import _send_error

    error = _send_error(tmp_path, _write(tmp_path / "junk.pem", b"fake junk\n"))
    assert "junk.pem" in error and "internal error" not in error
