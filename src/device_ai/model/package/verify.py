"""Verification of a locked model package before any byte reaches a parser.

Order (reference/audit_security.md §4.4): read every file of the package into memory once;
check the set of files; verify the Ed25519 signature over the manifest bytes against the
trusted keys; for a release key, require the manifest digest to be pinned in code; only then
parse the (now trusted) manifest and compare the SHA-256 of every other file's bytes. The
caller hands exactly these verified bytes to ONNX Runtime, so what was checked is what runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from device_ai.errors import ModelIntegrityError
from device_ai.model.package import pinned, signing
from device_ai.model.package.manifest import (
    MANIFEST_NAME,
    PACKAGE_FILES,
    SIGNATURE_NAME,
    ModelManifest,
)

MAX_PACKAGE_FILE_BYTES = 4 * 1024**3
_REINSTALL = "reinstall the model package from the manufacturer's release; do not use this one"


@dataclass(frozen=True)
class VerifiedPackage:
    """A package whose every byte has been verified. ``files`` are the verified bytes."""

    path: Path
    manifest: ModelManifest
    manifest_sha256: str
    signer_key_id: str
    pinned_release: bool
    files: dict[str, bytes]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def release_keys() -> dict[str, Ed25519PublicKey]:
    return {kid: signing.public_key_from_b64(b64) for kid, b64 in pinned.RELEASE_KEYS.items()}


def _read_package_files(path: Path) -> dict[str, bytes]:
    if not path.is_dir():
        raise ModelIntegrityError(
            f"model package {path} does not exist or is not a folder",
            hint="pass the folder of a released model package (it holds manifest.json)",
        )
    present = sorted(entry.name for entry in path.iterdir())
    missing = [name for name in PACKAGE_FILES if name not in present]
    extra = [name for name in present if name not in PACKAGE_FILES]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra))
        raise ModelIntegrityError(f"model package {path} is incomplete or altered ({'; '.join(parts)})", hint=_REINSTALL)
    files: dict[str, bytes] = {}
    for name in PACKAGE_FILES:
        files[name] = _read_regular_file(path / name)
    return files


def _read_regular_file(file_path: Path) -> bytes:
    # O_NOFOLLOW: a symlink in place of a package file is refused, not followed.
    try:
        # O_NONBLOCK: opening a FIFO put in place of a package file returns at once (then it is
        # refused as not regular) instead of waiting for a writer forever.
        fd = os.open(file_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ModelIntegrityError(f"cannot open model file {file_path}: {exc.strerror}", hint=_REINSTALL) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelIntegrityError(f"model file {file_path} is not a regular file", hint=_REINSTALL)
        if info.st_size > MAX_PACKAGE_FILE_BYTES:
            raise ModelIntegrityError(f"model file {file_path} is larger than {MAX_PACKAGE_FILE_BYTES} bytes", hint=_REINSTALL)
        chunks = []
        remaining = info.st_size
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 64 * 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_input_contract(manifest: ModelManifest) -> None:
    """The contract every input is checked against must itself be well formed at verify time,
    not discovered broken when the first series arrives (a site-signed package is signed, not
    necessarily right)."""
    from device_ai.dicom.contract import InputContract

    try:
        InputContract.model_validate(manifest.input_contract)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "input_contract"
        raise ModelIntegrityError(
            f"the signed model manifest's input contract is malformed ({where}: {first.get('msg', 'invalid')})",
            hint="the package's signer must fix and re-sign the manifest; this package cannot check its inputs",
        ) from exc


def verify_package(path: Path, trusted_keys: dict[str, Ed25519PublicKey] | None = None) -> VerifiedPackage:
    """Verify the package at ``path``; raise :class:`ModelIntegrityError` on any deviation.

    ``trusted_keys`` are site-configured signer keys in addition to the built-in release keys.
    """
    path = Path(path)
    files = _read_package_files(path)
    manifest_bytes = files[MANIFEST_NAME]
    builtin = release_keys()
    site = dict(trusted_keys or {})
    signer = signing.verify(manifest_bytes, files[SIGNATURE_NAME], {**site, **builtin})
    manifest_sha256 = sha256_hex(manifest_bytes)
    pinned_release = manifest_sha256 in pinned.RELEASED_MANIFESTS
    if signer in builtin and signer not in site and not pinned_release:
        raise ModelIntegrityError(
            f"model manifest digest {manifest_sha256[:16]}... is not a release pinned in this software version",
            hint="install the model package released with this software version, "
            "or have your administrator trust the signer explicitly",
        )
    try:
        manifest = ModelManifest.model_validate(json.loads(manifest_bytes))
    except (ValueError, ValidationError) as exc:
        raise ModelIntegrityError("the signed model manifest does not match the manifest schema", hint=_REINSTALL) from exc
    _check_input_contract(manifest)
    expected_names = sorted(set(PACKAGE_FILES) - {MANIFEST_NAME, SIGNATURE_NAME})
    if sorted(manifest.files) != expected_names:
        raise ModelIntegrityError("the model manifest does not list exactly the package files", hint=_REINSTALL)
    for name, expected in manifest.files.items():
        actual = sha256_hex(files[name])
        if actual != expected:
            raise ModelIntegrityError(
                f"model file {name} does not match its signed digest (expected {expected[:16]}..., found {actual[:16]}...)",
                hint=_REINSTALL,
            )
    return VerifiedPackage(
        path=path,
        manifest=manifest,
        manifest_sha256=manifest_sha256,
        signer_key_id=signer,
        pinned_release=pinned_release,
        files=files,
    )
