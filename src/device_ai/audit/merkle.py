"""The Merkle tree of RFC 9162 §2.1 (= RFC 6962 §2.1): hashing, proofs, verifiers.

- Leaf hash ``SHA-256(0x00 || d)``, node hash ``SHA-256(0x01 || left || right)``; the empty
  tree's root is ``SHA-256()``. The split point is the largest power of two below ``n``.
- Inclusion proofs ``PATH(m, D[n])`` (§2.1.3.1) and consistency proofs ``PROOF(m, D[n])``
  (§2.1.4.1) are built from the leaf hashes; the verifiers (§2.1.3.2, §2.1.4.2) follow the
  decomposition used by transparency-dev/merkle ``proof/verify.go`` and are tested against its
  vectors. Every hash must be 32 bytes; a size-0 tree has no inclusion proofs.
- The functions ``root``/``consistency_proof`` recompute every subtree: O(n) per call, the
  reference. :class:`MerkleTree` keeps every complete subtree's hash as leaves are appended, so
  the root of any prefix and any consistency proof cost O(log n) hashes: the log and
  ``audit verify`` use it (verifying C checkpoints of an n-record log is O(n + C log² n)), and
  ``audit export`` takes from it the inclusion proof of each record it exports (O(log² n) each).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or its inputs are malformed."""


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf hashes."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return hash_children(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) (RFC 9162 §2.1.3.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ProofError(f"index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(index, leaf_hashes[:k]) + [root(leaf_hashes[k:])]
    return inclusion_proof(index - k, leaf_hashes[k:]) + [root(leaf_hashes[:k])]


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(size1, D[n]) (RFC 9162 §2.1.4.1); empty for size1 in {0, n}."""
    n = len(leaf_hashes)
    if not 0 <= size1 <= n:
        raise ProofError(f"size {size1} is outside 0..{n}")
    if size1 in (0, n):
        return []
    return _subproof(size1, leaf_hashes, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root(leaves[:k])]


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} has {len(value)} bytes, expected {HASH_SIZE}")


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, node in enumerate(proof):
        seed = hash_children(seed, node) if (index >> i) & 1 == 0 else hash_children(node, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, node in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = hash_children(node, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for node in proof:
        seed = hash_children(node, seed)
    return seed


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Inner (below the split with the last leaf) and border parts of an inclusion proof."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    if size <= 0 or not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf_hash)
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root_hash: bytes) -> None:
    """Raise :class:`ProofError` unless ``leaf_hash`` is leaf ``index`` of the tree ``root_hash``."""
    _check_hash("root", root_hash)
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root_hash:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise :class:`ProofError` unless the tree ``root2`` (size2) extends the tree ``root1`` (size1)."""
    if size1 < 0 or size2 < size1:
        raise ProofError(f"sizes {size1} and {size2} are not 0 <= size1 <= size2")
    if size1 == size2:
        # the same tree (the empty one included): nothing to prove but that the roots are equal
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    if size1 == 0:
        # RFC 9162 defines no proof from the empty tree to a larger one
        raise ProofError("a consistency proof from the empty tree to a larger one is not defined")
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    if not proof:
        raise ProofError("empty consistency proof")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift
    seed, start = proof[0], 1
    if size1 == 1 << shift:
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {start + inner + border}")
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise ProofError("consistency proof does not lead to the first root")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise ProofError("consistency proof does not lead to the second root")


class MerkleTree:
    """Leaf hashes appended in order, with the hash of every complete (power-of-two, aligned)
    subtree kept: ``levels[h]`` holds, 32 bytes each, the roots of leaves
    ``[i * 2**h, (i + 1) * 2**h)``. About 64 bytes per leaf, in a few contiguous buffers."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return len(self.levels[0]) // HASH_SIZE

    def append(self, leaf_hash: bytes) -> None:
        _check_hash("leaf hash", leaf_hash)
        self.levels[0] += leaf_hash
        height = 0
        # each new right child completes its parent: carry up while the level has an even count
        while (len(self.levels[height]) // HASH_SIZE) % 2 == 0:
            level = self.levels[height]
            parent = hash_children(bytes(level[-2 * HASH_SIZE : -HASH_SIZE]), bytes(level[-HASH_SIZE:]))
            if height + 1 == len(self.levels):
                self.levels.append(bytearray())
            self.levels[height + 1] += parent
            height += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for leaf_hash in leaf_hashes:
            self.append(leaf_hash)

    def leaf(self, index: int) -> bytes:
        return bytes(self.levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ProofError(f"size {size} is outside 0..{len(self)}")
        return EMPTY_ROOT if size == 0 else self._range_root(0, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[size2]), equal to :func:`consistency_proof` (size1, leaves[:size2])."""
        if not 0 <= size1 <= size2 <= len(self):
            raise ProofError(f"sizes {size1} and {size2} are not 0 <= size1 <= size2 <= {len(self)}")
        if size1 in (0, size2):
            return []
        return self._subproof(size1, 0, size2, True)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]), equal to :func:`inclusion_proof` (index, leaves[:size]) in
        O(log² n) hashes instead of O(n): an export proves each of its records (SRS-224)."""
        size = len(self) if size is None else size
        if not 0 <= index < size <= len(self):
            raise ProofError(f"index {index} is outside a tree of size {size} (of {len(self)} leaves)")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self._path(m, start, start + k) + [self._range_root(start + k, end)]
        return self._path(m - k, start + k, end) + [self._range_root(start, start + k)]

    def _range_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the subtrees RFC 9162 recursion reaches (start aligned to the
        largest power of two that fits): stored complete subtrees, recursing on the right part."""
        n = end - start
        height = n.bit_length() - 1
        if n == 1 << height and start % n == 0 and height < len(self.levels):
            index = start >> height
            return bytes(self.levels[height][index * HASH_SIZE : (index + 1) * HASH_SIZE])
        k = _split(n)
        return hash_children(self._range_root(start, start + k), self._range_root(start + k, end))

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._range_root(start, end)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [self._range_root(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self._range_root(start, start + k)]
