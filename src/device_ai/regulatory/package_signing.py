"""Signing a submission package: document approvals and the manifest seal (issue 19 item 3).

``device-ai review sign DOC-ID --role ROLE --name NAME --key KEY --package DIR`` (:func:`sign_document`):

- for a document, signs the *signed SHA-256* the manifest lists for it (the document without its
  approval region, :func:`device_ai.regulatory.render.control.signed_sha256`), appends the signature
  to ``approvals.json`` and refreshes the package: every page's approval region and printed header,
  the manifest's approval blocks and file digests, and the PDF of each page that changed;
- for ``DAI-DOC-MANIFEST``, signs the SHA-256 of ``manifest.json`` into ``manifest.sig``: the seal.
  A sealed package is not changed again (a further document signature is refused), since any
  change would rewrite the manifest under the seal.

The signature files live in the package folder, beside the bytes they sign, because the
signatures are over those exact bytes: a repository file would outlive them, and committing it
would change the revision every page carries. The manifest does not list them; each signature
verifies itself, and what the pages show is checked against them (:func:`check_signatures`).

A signature is made with any key; whether it counts is the verifier's trusted signers' call
(:func:`device_ai.regulatory.approvals.judge`), at signing (for what the pages show) and again at
every verification.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai.atomic_io import atomic_write_bytes
from device_ai.errors import TraceabilityError
from device_ai.regulatory import approvals
from device_ai.regulatory.approvals import Signature, TrustedSigner
from device_ai.regulatory.package import MANIFEST, manifest_bytes, verify_package
from device_ai.regulatory.render import control

_ALTERATION = ("signed other content", "signed another revision", "malformed", "invalid signature")


@dataclass(frozen=True)
class SignOutcome:
    """What ``review sign`` did: the document, the signature, whether it counts, the document's state."""

    file: str
    signature: Signature
    status: str
    state: str
    missing_roles: tuple[str, ...]


@dataclass(frozen=True)
class SignatureReport:
    """The signatures of a package as the verifier's trusted signers see them.

    ``problems``: evidence of alteration (a signature that does not verify or covers other bytes,
    a page or manifest that shows another approval than its signatures give, a seal that does not
    verify); ``notes``: what does not count without being an alteration (an untrusted key, a key
    used under another name or role, an unsigned manifest); ``states``: each document's approval state."""

    problems: tuple[str, ...]
    notes: tuple[str, ...]
    states: Mapping[str, str]
    seal: str


def _read_manifest(folder: Path) -> tuple[bytes, dict[str, Any]]:
    path = folder / MANIFEST
    try:
        data = path.read_bytes()
        manifest = json.loads(data)
        manifest["documents"], manifest["files"]  # noqa: B018 - the shape every step relies on
    except FileNotFoundError as exc:
        raise TraceabilityError(f"{folder} is not a submission package (no {MANIFEST})",
                                hint="--package must name a folder written by device-ai report package") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TraceabilityError(f"cannot read the manifest of {folder}: {exc}",
                                hint="--package must name a folder written by device-ai report package") from exc
    return data, manifest


def _file_of(manifest: Mapping[str, Any], document_id: str) -> str:
    for name, entry in manifest["documents"].items():
        if entry.get("id") == document_id:
            return str(name)
    known = ", ".join(sorted(str(e.get("id")) for e in manifest["documents"].values()))
    raise TraceabilityError(f"the package holds no document {document_id}", hint=f"sign one of: {known}")


def sign_document(folder: Path, document_id: str, *, role: str, name: str, key: Ed25519PrivateKey, date: str,
                  trusted: Mapping[str, TrustedSigner], chromium: str | None = None) -> SignOutcome:
    """Sign one document of the package at ``folder`` (or seal its manifest) and refresh the package.

    Refused, with nothing written: a package whose files differ from its manifest, a sealed
    package, an unknown document, a role not in :data:`approvals.ROLES`, the same person signing
    the same content in the same role with the same key twice."""
    folder = Path(folder)
    altered = verify_package(folder)
    if altered:
        raise TraceabilityError(f"{folder} differs from its manifest; nothing was signed", problems=tuple(altered),
                                hint="sign only an intact package: rebuild it with device-ai report package")
    if (folder / approvals.SEAL).exists():
        raise TraceabilityError(f"{folder} is sealed ({approvals.SEAL}): a further signature would rewrite the "
                                "manifest under the seal; nothing was signed",
                                hint="sign documents before the manifest; to reopen the package, remove "
                                     f"{approvals.SEAL} knowingly and seal it again afterwards")
    raw, manifest = _read_manifest(folder)
    file = _file_of(manifest, document_id)
    entry = manifest["documents"][file]
    if file == MANIFEST:
        seal = approvals.sign(key, document=document_id, revision=str(entry["revision"]),
                              sha256=hashlib.sha256(raw).hexdigest(), role=role, name=name, date=date)
        atomic_write_bytes(folder / approvals.SEAL, approvals.seal_text(seal).encode("utf-8"))
        status = approvals.judge(seal, revision=seal.revision, sha256=seal.sha256, trusted=trusted)
        return SignOutcome(file, seal, status, "sealed" if status == approvals.VALID else "unsealed", ())
    signed = control.signed_sha256(file, (folder / file).read_bytes())
    if signed != entry.get("signed_sha256"):
        raise TraceabilityError(f"{file}: its signed SHA-256 is not the one the manifest lists; nothing was signed",
                                hint="rebuild the package with device-ai report package")
    signature = approvals.sign(key, document=document_id, revision=str(entry["revision"]), sha256=signed,
                               role=role, name=name, date=date)
    signatures = approvals.read_signatures(folder / approvals.APPROVALS)
    same = (signature.document, signed, signature.role, signature.name, signature.key_id)
    if any((s.document, s.sha256, s.role, s.name, s.key_id) == same for s in signatures):
        raise TraceabilityError(f"{signature.name} already signed {file} as {signature.role} with key "
                                f"{signature.key_id}; nothing was signed",
                                hint="each person signs a document's content once per role and key")
    signatures.append(signature)
    _refresh(folder, manifest, signatures, trusted, chromium)
    approval = approvals.approval(document_id, revision=signature.revision, sha256=signed, signatures=signatures,
                                  trusted=trusted)
    status = approval["signatures"][-1]["status"]
    return SignOutcome(file, signature, status, approval["state"], tuple(approval["missing_roles"]))


def _refresh(folder: Path, manifest: dict[str, Any], signatures: list[Signature], trusted: Mapping[str, TrustedSigner],
             chromium: str | None) -> None:
    """Show ``signatures`` in every page and the manifest; everything is computed (the PDFs
    printed) before the first file is written."""
    changed: dict[str, bytes] = {}
    for file, entry in sorted(manifest["documents"].items()):
        if file == MANIFEST:
            continue
        approval = approvals.approval(str(entry["id"]), revision=str(entry["revision"]),
                                      sha256=str(entry["signed_sha256"]), signatures=signatures, trusted=trusted)
        entry["approval"] = approval
        data = (folder / file).read_bytes()
        shown = control.with_approval(file, data, approval)
        if shown != data:
            changed[file] = shown
    changed.update(_reprinted(manifest, changed, chromium))
    for file, data in changed.items():
        manifest["files"][file] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    atomic_write_bytes(folder / approvals.APPROVALS, approvals.signatures_text(signatures).encode("utf-8"))
    for file, data in sorted(changed.items()):
        atomic_write_bytes(folder / file, data)
    atomic_write_bytes(folder / MANIFEST, manifest_bytes(manifest))


def _reprinted(manifest: Mapping[str, Any], changed: Mapping[str, bytes], chromium: str | None) -> dict[str, bytes]:
    """The PDFs of the pages whose approval changed, printed again by the Chromium that printed the
    package (a PDF shows the approval state on every page)."""
    pages = {file: data.decode("utf-8") for file, data in changed.items() if manifest["documents"][file].get("pdf")}
    if not pages:
        return {}
    from device_ai.regulatory.pdf import Printer, print_documents

    printer = Printer.find(chromium)
    if printer.version != manifest.get("pdf_printer"):
        raise TraceabilityError(f"the package's PDFs were printed by {manifest.get('pdf_printer')}, this Chromium is "
                                f"{printer.version}; nothing was signed",
                                hint="sign with the same Chromium (--chromium PATH), or rebuild the package")
    dates = {str(manifest["documents"][file]["date"]) for file in pages}
    recorded = next(iter(dates)) if len(dates) == 1 and next(iter(dates))[:1].isdigit() else None
    return print_documents(pages, binary=printer.binary, recorded_utc=recorded)


def check_signatures(folder: Path, trusted: Mapping[str, TrustedSigner]) -> SignatureReport:
    """Every signature of the package at ``folder`` judged with ``trusted``; every page and the
    manifest compared with what the signatures give; the seal checked (:class:`SignatureReport`)."""
    folder = Path(folder)
    raw, manifest = _read_manifest(folder)
    signatures = approvals.read_signatures(folder / approvals.APPROVALS)
    problems: list[str] = []
    notes: list[str] = []
    states: dict[str, str] = {}
    ids = {str(entry.get("id")): file for file, entry in manifest["documents"].items()}
    for signature in signatures:
        if signature.document not in ids or ids[signature.document] == MANIFEST:
            problems.append(f"{approvals.APPROVALS}: a signature for {signature.document}, which is no document of "
                            "this package")
    own = (manifest["documents"].get(MANIFEST) or {}).get("approval")
    if own is not None and own != json.loads(json.dumps(approvals.draft_approval())):
        # no signature approves the manifest: its seal does (review 128 defect 3)
        problems.append(f"{MANIFEST}: its own entry lists the approval {own.get('state')!r} with signatures, but the "
                        f"manifest is approved only by its seal ({approvals.SEAL}); the entry must show the draft block")
    for file, entry in sorted(manifest["documents"].items()):
        if file == MANIFEST or not (folder / file).is_file():
            continue  # a missing file is reported by the hash check
        data = (folder / file).read_bytes()
        try:
            signed = control.signed_sha256(file, data)
        except (TraceabilityError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: {exc}")
            continue
        approval = approvals.approval(str(entry.get("id")), revision=str(entry.get("revision")), sha256=signed,
                                      signatures=signatures, trusted=trusted)
        states[file] = approval["state"]
        for shown in approval["signatures"]:
            line = f"{file}: signature as {shown['role']} by {shown['name']} ({shown['date']}): {shown['status']}"
            if shown["status"].startswith(_ALTERATION):
                problems.append(line)
            elif shown["status"] != approvals.VALID:
                notes.append(line + " - not counted")
        if control.with_approval(file, data, approval) != data:
            missing = ", missing " + ", ".join(approval["missing_roles"]) if approval["missing_roles"] else ""
            problems.append(f"{file}: the page does not show what its signatures give ({approval['state']}{missing})")
        listed = entry.get("approval") or {}
        if listed.get("state") != approval["state"]:
            problems.append(f"{file}: the manifest lists the approval {listed.get('state')!r}, "
                            f"its signatures give {approval['state']!r}")
        elif listed != json.loads(json.dumps(approval)):  # the whole block, signatures included (review 116 d1)
            problems.append(f"{file}: the manifest lists other signatures or roles than {approvals.APPROVALS} "
                            "gives for it")
    seal = _seal_state(folder, raw, manifest, trusted, problems, notes)
    return SignatureReport(tuple(problems), tuple(notes), states, seal)


def _seal_state(folder: Path, raw: bytes, manifest: Mapping[str, Any], trusted: Mapping[str, TrustedSigner],
                problems: list[str], notes: list[str]) -> str:
    seal = approvals.read_seal(folder / approvals.SEAL)
    if seal is None:
        notes.append(f"{MANIFEST}: unsigned (no {approvals.SEAL}): the package is not sealed")
        return "unsigned"
    entry = manifest["documents"].get(MANIFEST) or {}
    status = approvals.judge(seal, revision=str(entry.get("revision")), sha256=hashlib.sha256(raw).hexdigest(),
                             trusted=trusted)
    if seal.document != entry.get("id"):
        status = f"signed {seal.document}, not this manifest"
    line = f"{MANIFEST}: seal by {seal.name} as {seal.role} ({seal.date}, key {seal.key_id}): {status}"
    if status == approvals.VALID:
        notes.append(line)
        return "sealed"
    (notes if status.startswith(("untrusted key", "key ")) or " may not sign " in status else problems).append(line)
    return f"not sealed ({status})"
