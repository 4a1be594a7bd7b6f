"""The proof bundle of an audit export (SRS-224): what a receiver needs to check the export.

It holds the signed checkpoint (C2SP signed note) the export is proven against and, for each
exported record in export order, its leaf index, its exact leaf bytes and its RFC 9162 inclusion
proof against that checkpoint's root; the export format, the rendering version and the filter
that selected the records (as given: the checkpoint does not sign it). Every export line is
rendered from its leaf bytes alone (:func:`device_ai.audit.export.render_line`), so a receiver
re-renders the lines from the bundle and compares bytes (:mod:`device_ai.audit.export_verify`).

The checkpoint is signed at export time over the whole log (and kept, as every checkpoint, in
``checkpoints/`` and the copy location), so the export is proven against the log as it was.
The bundle is a JSON document with sorted keys: the same log and the same request give the
same bytes (Ed25519 signatures are deterministic).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

import device_ai
from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, parse_checkpoint, parse_verifier_key, verify_note
from device_ai.audit.export import FORMATS, RENDERING, render_line
from device_ai.audit.log import AuditLog, log_bytes
from device_ai.audit.store import scan
from device_ai.errors import AuditIntegrityError

BUNDLE_KIND = "device-ai audit export proof"
BUNDLE_VERSION = 1


class ProvenRecord(BaseModel):
    """One exported record: leaf ``index`` of the log, its leaf bytes and inclusion proof (base64)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    index: int = Field(ge=0)
    leaf: str
    proof: list[str]


class ProofBundle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    bundle: Literal["device-ai audit export proof"]
    bundle_version: Literal[1]
    export_format: Literal["leaves", "fhir", "atna"]
    rendering: int  # export.RENDERING of the software that wrote the export
    software: str  # informative: the device's version, to re-render with the same one if RENDERING differs
    selection: dict[str, str]  # the filter as given; empty: the whole log (then checked as complete)
    checkpoint: str  # the signed note
    records: list[ProvenRecord]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1) + "\n").encode()


@dataclass(frozen=True)
class ProvenExport:
    lines: list[str]
    bundle: ProofBundle
    checkpoint: Checkpoint

    def export_bytes(self) -> bytes:
        return "".join(f"{line}\n" for line in self.lines).encode()


def proven_export(folder: Path, fmt: str, selected: Callable[[dict], bool] | None,
                  selection: dict[str, str]) -> ProvenExport:
    """The export lines of the entries ``selected`` (all when None) of the log in ``folder`` and
    their proof bundle, against a checkpoint signed now by the log's key (the device's)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    with AuditLog.open(folder) as log:
        note = log.checkpoint()
        origin, public = parse_verifier_key(log.public_key())
    head = parse_checkpoint(verify_note(note, origin, public))
    # records are only appended: the first head.size records are the ones the note signs
    payloads = [record.payload for record in scan(log_bytes(folder)).records[: head.size]]
    tree = merkle.MerkleTree(merkle.hash_leaf(payload) for payload in payloads)
    if len(tree) != head.size or tree.root() != head.root:
        raise AuditIntegrityError(f"the audit log in {folder} does not match the checkpoint just signed for it "
                                  f"(size {head.size}); nothing was exported",
                                  hint="run `device-ai audit verify`; keep the folder for investigation")
    lines, records = [], []
    for index, payload in enumerate(payloads):
        if selected is None or selected(json.loads(payload)):
            lines.append(render_line(payload, fmt))
            records.append(ProvenRecord(index=index, leaf=_b64(payload),
                                        proof=[_b64(node) for node in tree.inclusion_proof(index, head.size)]))
    bundle = ProofBundle(bundle=BUNDLE_KIND, bundle_version=BUNDLE_VERSION, export_format=fmt, rendering=RENDERING,
                         software=f"device_ai {device_ai.__version__}", selection=dict(selection),
                         checkpoint=note.decode(), records=records)
    return ProvenExport(lines, bundle, head)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
