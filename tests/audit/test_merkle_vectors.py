"""Our RFC 9162 verifiers against the transparency-dev/merkle proof vectors (SRS-025).

The vectors live in ``vectors/transparency-dev-merkle/`` (provenance, commit, renaming and the
full file list in its ``SOURCE.md``). Every file is one case: ``wantErr: true`` must raise
``ProofError``, ``wantErr: false`` must return ``None``. Any other exception is a failure.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

import pytest

from device_ai.audit.merkle import ProofError, verify_consistency, verify_inclusion

VECTORS = Path(__file__).parent / "vectors" / "transparency-dev-merkle"
SOURCE_MD = VECTORS / "SOURCE.md"
KINDS = ("inclusion", "consistency")
KEYS = {
    "inclusion": {"leafIdx", "treeSize", "root", "leafHash", "proof", "desc", "wantErr"},
    "consistency": {"size1", "size2", "root1", "root2", "proof", "desc", "wantErr"},
}


def _vector_files() -> list[Path]:
    return sorted(p for kind in KINDS for p in (VECTORS / kind).rglob("*.json"))


def _name(path: Path) -> str:
    return path.relative_to(VECTORS).with_suffix("").as_posix()


def _kind(path: Path) -> str:
    return path.relative_to(VECTORS).parts[0]


def _load(path: Path) -> dict[str, Any]:
    vector = json.loads(path.read_bytes())
    assert isinstance(vector, dict), f"{_name(path)}: not a JSON object"
    # A missing "proof" is allowed (read as empty); every other field must be there.
    assert KEYS[_kind(path)] - {"proof"} <= set(vector) <= KEYS[_kind(path)], (
        f"{_name(path)}: unexpected fields {sorted(vector)}")
    assert isinstance(vector["wantErr"], bool)
    return vector


def _hash(value: str | None) -> bytes:
    """Base64 (standard, padded) to bytes; JSON null is the empty byte string."""
    if value is None:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:  # a corrupt vector file, not a verifier result
        raise AssertionError(f"bad base64 {value!r}") from exc


def _proof(vector: dict[str, Any]) -> list[bytes]:
    """A JSON null or missing proof is the empty proof."""
    return [_hash(h) for h in vector.get("proof") or []]


def _recorded_count() -> int:
    match = re.search(r"^Vector files: (\d+)\b", SOURCE_MD.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "SOURCE.md has no 'Vector files: N' line"
    return int(match.group(1))


def _recorded_files() -> set[str]:
    rows = re.findall(r"^\| `((?:inclusion|consistency)/[^`]+\.json)` \|",
                      SOURCE_MD.read_text(encoding="utf-8"), re.MULTILINE)
    return set(rows)


FILES = _vector_files()


@pytest.mark.req("SRS-025")
@pytest.mark.parametrize("path", FILES, ids=[_name(p) for p in FILES])
def test_vector(path: Path) -> None:
    vector = _load(path)
    proof = _proof(vector)
    if _kind(path) == "inclusion":
        def call() -> object:
            return verify_inclusion(vector["leafIdx"], vector["treeSize"], _hash(vector["leafHash"]),
                                    proof, _hash(vector["root"]))
    else:
        def call() -> object:
            return verify_consistency(vector["size1"], vector["size2"], proof,
                                      _hash(vector["root1"]), _hash(vector["root2"]))
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            call()
    else:
        assert call() is None


@pytest.mark.req("SRS-025")
def test_vector_count_matches_source_md() -> None:
    """A lost, added or renamed vector file fails here."""
    found = {p.relative_to(VECTORS).as_posix() for p in FILES}
    assert len(found) == _recorded_count()
    assert found == _recorded_files()


@pytest.mark.req("SRS-025")
def test_both_kinds_have_passing_and_failing_vectors() -> None:
    for kind in KINDS:
        want_errs = {_load(p)["wantErr"] for p in FILES if _kind(p) == kind}
        assert want_errs == {True, False}, kind
