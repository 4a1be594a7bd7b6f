"""Checking an audit export against its proof bundle, as a receiver does (SRS-224).

Needs only the export, the bundle and the device's verifier key (as `audit public-key` prints
it): no private key, no device home, no setting. The checks, in this order:

1. the bundle's checkpoint is signed by the verifier key and names its origin;
2. for each record, in export order: its leaf index comes after the previous one (and, for an
   export of the whole log, is the next leaf), its inclusion proof leads from its leaf bytes to
   the checkpoint's root, and the export's line at that place is, byte for byte, the line the
   device renders from those leaf bytes;
3. the export holds no line past the last proven record, and an export of the whole log proves
   every leaf the checkpoint covers.

The first failure is an :class:`~device_ai.errors.ExportNotVerified` naming the record (its place
in the export) and what failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from device_ai.audit import merkle
from device_ai.audit.checkpoint import Checkpoint, key_id, parse_checkpoint, signed_by, signer_ids, verify_note
from device_ai.audit.export import RENDERING, render_line
from device_ai.audit.export_proof import ProofBundle, ProvenRecord
from device_ai.errors import AuditIntegrityError, ExportNotVerified

_HINT = ("this export is not as the device exported it: keep the file and its bundle for investigation and ask the "
         "device's operator for a new export (`device-ai audit export --out FILE`)")


@dataclass(frozen=True)
class VerifiedExport:
    checkpoint: Checkpoint
    export_format: str
    indices: tuple[int, ...]  # the leaf index of each exported record, in export order
    selection: dict[str, str]  # as the bundle states it (not signed); empty: the whole log, checked complete

    @property
    def whole_log(self) -> bool:
        return not self.selection


def verify_export(export: bytes, bundle_bytes: bytes, key: tuple[str, Ed25519PublicKey], *,
                  export_name: str, bundle_name: str,
                  selection_test: Callable[[dict[str, str]], Callable[[dict], bool]] | None = None) -> VerifiedExport:
    """The export's description when every check holds; else ExportNotVerified.

    ``selection_test(selection)`` gives the test an entry meets to be in an export of that
    selection (the app's filter). The selection is not signed: every proven record must meet it,
    so a whole-log export cut down and relabelled as filtered holds only records the filter
    chooses, and says so (review 128 defect 2)."""
    bundle = _read_bundle(bundle_bytes, bundle_name)
    head = _signed_head(bundle, key, bundle_name)
    chosen = _selection_test(bundle, bundle_name, selection_test)
    lines, ended = _lines(export)
    whole_log = not bundle.selection
    indices: list[int] = []
    for position in range(1, max(len(bundle.records), len(lines)) + 1):
        where = f"{export_name}: record {position}"
        if position > len(bundle.records):
            raise ExportNotVerified(f"{where} is not in the proof bundle {bundle_name}, which proves "
                                    f"{len(bundle.records)} record(s): a record was added", position=position,
                                    hint=_HINT)
        record = bundle.records[position - 1]
        leaf = _check_record(record, position, indices, head, whole_log, where)
        if chosen is not None and not _chosen(chosen, leaf):
            raise ExportNotVerified(f"{where} (leaf {record.index}) is not chosen by the selection the bundle states "
                                    f"({_shown(bundle.selection)}): the selection was altered, or records were added",
                                    position=position, hint=_HINT)
        if position > len(lines):
            raise ExportNotVerified(f"{where} (leaf {record.index}) is missing: the export holds only {len(lines)} "
                                    "record(s), the bundle proves more; a record was removed or the file cut short",
                                    position=position, hint=_HINT)
        try:
            expected = render_line(leaf, bundle.export_format).encode()
        except (ValueError, KeyError, TypeError) as exc:  # a proven leaf this software cannot render
            raise ExportNotVerified(f"{where} (leaf {record.index}): its proven leaf cannot be rendered by this "
                                    f"software ({type(exc).__name__}: {exc})", position=position,
                                    hint=f"verify with the device-ai version that wrote the export "
                                         f"({_cut(bundle.software)})") from exc
        if lines[position - 1] != expected:
            why = _difference(lines[position - 1], expected, bundle, position)
            raise ExportNotVerified(f"{where} (leaf {record.index}) is not the record the device rendered from that "
                                    f"leaf: {why}", position=position, hint=_HINT)
        indices.append(record.index)
    if lines and not ended:
        raise ExportNotVerified(f"{export_name}: record {len(lines)} has no line end: the file was cut or re-encoded "
                                "(the device ends every line with LF)", position=len(lines), hint=_HINT)
    if whole_log and len(indices) != head.size:
        raise ExportNotVerified(f"{export_name}: the bundle states an export of the whole log, whose signed checkpoint "
                                f"covers {head.size} record(s), but it proves {len(indices)}: record "
                                f"{len(indices) + 1} onwards were removed", position=len(indices) + 1, hint=_HINT)
    return VerifiedExport(head, bundle.export_format, tuple(indices), dict(bundle.selection))


def _selection_test(bundle: ProofBundle, name: str,
                    make: Callable[[dict[str, str]], Callable[[dict], bool]] | None) -> Callable[[dict], bool] | None:
    if make is None or not bundle.selection:
        return None
    try:
        return make(dict(bundle.selection))
    except (TypeError, ValueError) as exc:
        raise ExportNotVerified(f"{name}: the selection it states ({_shown(bundle.selection)}) is not one audit export "
                                f"makes ({exc})", hint=_HINT) from exc


def _chosen(test: Callable[[dict], bool], leaf: bytes) -> bool:
    try:
        return bool(test(json.loads(leaf)))
    except (ValueError, KeyError, TypeError):  # a proven leaf the filter cannot read is not chosen by it
        return False


def _shown(selection: dict[str, str]) -> str:
    return ", ".join(f"{_cut(k)}={_cut(v)}" for k, v in sorted(selection.items()))


def _cut(text: str, limit: int = 64) -> str:
    """A word of the bundle or the export (a key, a value, a software name) for a message, cut to
    ``limit`` characters: they are any length, and a refused one is quoted (review 133 defect 1b).
    The CLI prints every message with what a terminal acts on shown as '?' (defect 1a)."""
    return text if len(text) <= limit else f"{text[:limit - 4]}... ({len(text)} characters)"


def _read_bundle(data: bytes, name: str) -> ProofBundle:
    try:
        bundle = ProofBundle.model_validate(json.loads(data))
    except RecursionError as exc:  # JSON nested deeper than the parser goes (review 142 D1)
        raise ExportNotVerified(f"{name} is not a proof bundle of device-ai audit export (nested too deeply)",
                                hint="pass the .proof.json file written beside the export") from exc
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        detail = (f"{'.'.join(_cut(str(p)) for p in first['loc'])}: {first['msg']}" if first
                  else str(exc).splitlines()[0])
        raise ExportNotVerified(f"{name} is not a proof bundle of device-ai audit export ({detail})",
                                hint="pass the .proof.json file written beside the export") from exc
    if bundle.rendering != RENDERING:
        software = _cut(bundle.software)  # the bundle's word, unchecked
        raise ExportNotVerified(
            f"{name}: the export was rendered by {software} with export rendering {bundle.rendering}; this "
            f"software renders version {RENDERING} and cannot re-render it byte for byte",
            hint=f"verify with the device-ai version that wrote the export ({software})")
    return bundle


def _signed_head(bundle: ProofBundle, key: tuple[str, Ed25519PublicKey], bundle_name: str) -> Checkpoint:
    """The checkpoint of the bundle, once its signature by ``key`` and its origin hold."""
    name, public = key
    label = f"{name}+{key_id(name, public).hex()}"
    try:
        note = bundle.checkpoint.encode()  # a lone surrogate does not encode (review 142 D1)
    except UnicodeEncodeError as exc:
        raise ExportNotVerified(f"{bundle_name}: the checkpoint is not text a signed note can be",
                                hint="pass the .proof.json file written beside the export") from exc
    try:
        if not signed_by(note, name, public):
            signers = signer_ids(note)
            found = ", ".join(f"{_cut(signer)} (key ID {kid})" for signer, kid in signers[:8]) or "none that parses"
            found += f" and {len(signers) - 8} more" if len(signers) > 8 else ""  # review 140 D3: names are any length
            raise ExportNotVerified(
                f"{bundle_name}: the checkpoint is not signed by the verifier key {label}; its signatures: {found}. "
                "It is another log's or another key's checkpoint, or the verifier key is not this device's",
                hint="pass the verifier key pinned when the log was made (`device-ai audit public-key` on the device, "
                     "kept in the site's key custody record)")
        body = verify_note(note, name, public)
        head = parse_checkpoint(body)
    except ExportNotVerified:
        raise
    except (AuditIntegrityError, ValueError) as exc:
        message = exc.message if isinstance(exc, AuditIntegrityError) else str(exc)
        raise ExportNotVerified(f"{bundle_name}: the checkpoint does not verify with the verifier key {label}: "
                                f"{message}", hint=_HINT) from exc
    if head.origin != name:
        raise ExportNotVerified(f"{bundle_name}: the checkpoint is of the log {head.origin!r}, the verifier key "
                                f"{label} signs the log {name!r}", hint=_HINT)
    return head


def _check_record(record: ProvenRecord, position: int, indices: list[int], head: Checkpoint, whole_log: bool,
                  where: str) -> bytes:
    """The record's leaf bytes, once its place and inclusion proof hold."""
    if record.index >= head.size:
        raise ExportNotVerified(f"{where}: the bundle names leaf {record.index}, past the signed checkpoint's "
                                f"{head.size} records", position=position, hint=_HINT)
    if indices and record.index <= indices[-1]:
        raise ExportNotVerified(f"{where}: the bundle names leaf {record.index} after leaf {indices[-1]}; an export "
                                "lists records in log order: records were reordered or repeated",
                                position=position, hint=_HINT)
    if whole_log and record.index != len(indices):
        raise ExportNotVerified(f"{where}: the bundle states an export of the whole log, but this record is leaf "
                                f"{record.index}, not leaf {len(indices)}: records were removed",
                                position=position, hint=_HINT)
    try:
        leaf = base64.b64decode(record.leaf, validate=True)
        proof = [base64.b64decode(node, validate=True) for node in record.proof]
        merkle.verify_inclusion(record.index, head.size, merkle.hash_leaf(leaf), proof, head.root)
    except (ValueError, merkle.ProofError) as exc:  # ValueError: binascii.Error, or a str that is not ASCII (review 144 D1)
        raise ExportNotVerified(f"{where} (leaf {record.index}): its inclusion proof does not lead from the "
                                f"bundle's leaf bytes to the signed root ({exc}): the leaf bytes or the proof were "
                                "altered", position=position, hint=_HINT) from exc
    return leaf


def _lines(export: bytes) -> tuple[list[bytes], bool]:
    """The export's lines, and whether the last one ends with LF."""
    if not export:
        return [], True
    lines = export.split(b"\n")
    ended = lines[-1] == b""
    return (lines[:-1] if ended else lines), ended


def _difference(line: bytes, expected: bytes, bundle: ProofBundle, position: int) -> str:
    """What differs, in words: line ends, a record of another place, or which fields."""
    if line == expected + b"\r":
        return "its line ends in CR LF: the line ends were converted (the device writes LF)"
    for other, record in enumerate(bundle.records, start=1):
        if other != position and line == _rendered(record, bundle.export_format):
            return (f"it is the device's record {other} (leaf {record.index}): records were removed, added or "
                    "reordered")
    if bundle.export_format == "fhir":
        try:
            got, want = json.loads(line), json.loads(expected)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes (review 142 D1)
            return "it is not a JSON object: the line was edited or cut"
        if isinstance(got, dict):
            fields = sorted(_cut(k) for k in set(got) | set(want) if got.get(k) != want.get(k))  # the export's keys
            named = ", ".join(fields[:8]) + (f" and {len(fields) - 8} more" if len(fields) > 8 else "")
            return f"its field(s) {named or '(formatting only)'} differ: the record was edited"
    return "its bytes differ: the record was edited"


def _rendered(record: ProvenRecord, fmt: str) -> bytes | None:
    """The rendering of another record's leaf, for a message only (its proof is not checked here)."""
    try:
        return render_line(base64.b64decode(record.leaf, validate=True), fmt).encode()
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # an unproven record may be anything
        return None  # (review 144 D2)
