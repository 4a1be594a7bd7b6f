"""Our Merkle core against the RFC definition and the published golden values (SRS-025)."""

from __future__ import annotations

import hashlib

import pytest

from device_ai.audit import merkle
from tests.audit.reference_rfc9162 import mth

LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"]]
ROOT_PREFIXES = ["6e340b9c", "fac54203", "aeb6bcfe", "d37ee418", "4e3bbb1f", "76e67dad", "ddb89be4", "5dc9da79"]


@pytest.mark.req("SRS-025")
def test_golden_roots_and_hashes() -> None:
    assert merkle.EMPTY_ROOT.hex().startswith("e3b0c442")
    assert merkle.hash_leaf(b"").hex().startswith("6e340b9c")
    hashes = [merkle.hash_leaf(leaf) for leaf in LEAVES]
    for n, prefix in enumerate(ROOT_PREFIXES, start=1):
        assert merkle.root(hashes[:n]).hex().startswith(prefix)
    # domain separation: a node is never a leaf of the concatenation, and order matters
    a, b = hashes[0], hashes[1]
    assert merkle.hash_children(a, b) != merkle.hash_leaf(a + b)
    assert merkle.hash_children(a, b) != merkle.hash_children(b, a)


@pytest.mark.req("SRS-025")
def test_every_proof_up_to_64_leaves_verifies_and_matches_the_definition() -> None:
    for n in range(1, 65):
        data = [f"entry {i}".encode() for i in range(n)]
        hashes = [merkle.hash_leaf(d) for d in data]
        root = merkle.root(hashes)
        assert root == mth(data)
        for index in range(n):
            merkle.verify_inclusion(index, n, hashes[index], merkle.inclusion_proof(index, hashes), root)
        for size1 in range(1, n + 1):
            proof = merkle.consistency_proof(size1, hashes)
            merkle.verify_consistency(size1, n, proof, mth(data[:size1]), root)


@pytest.mark.req("SRS-025")
def test_tampered_proofs_fail() -> None:
    hashes = [merkle.hash_leaf(bytes([i])) for i in range(13)]
    root = merkle.root(hashes)
    proof = merkle.inclusion_proof(5, hashes)
    for position in range(len(proof)):
        bad = list(proof)
        bad[position] = bytes([bad[position][0] ^ 8]) + bad[position][1:]
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(5, 13, hashes[5], bad, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(6, 13, hashes[5], proof, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(5, 13, hashes[5], proof + [root], root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(0, 0, hashes[0], [], merkle.EMPTY_ROOT)
    consistency = merkle.consistency_proof(6, hashes)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 13, consistency, root, merkle.root(hashes[:6]))  # swapped roots
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 13, consistency[:-1], merkle.root(hashes[:6]), root)
    x, y = hashlib.sha256(b"x").digest(), hashlib.sha256(b"y").digest()
    merkle.verify_consistency(0, 0, [], x, x)  # the same (empty) tree: as transparency-dev
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(0, 0, [], x, y)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, root)  # no proof from the empty tree


@pytest.mark.req("SRS-025", "SRS-028")
def test_incremental_tree_equals_the_reference_root_and_proofs_for_every_size() -> None:
    """MerkleTree (subtree hashes kept as leaves are appended) against the recomputing reference
    functions and the RFC definition: every prefix root up to 300 leaves (several powers of two
    crossed), every consistency proof up to 70."""
    data = [f"entry {i}".encode() for i in range(300)]
    hashes = [merkle.hash_leaf(d) for d in data]
    tree = merkle.MerkleTree()
    assert tree.root() == merkle.EMPTY_ROOT and len(tree) == 0
    for n, leaf in enumerate(hashes, start=1):
        tree.append(leaf)
        assert tree.root() == merkle.root(hashes[:n])
    batch = merkle.MerkleTree(hashes)
    for n in range(301):
        assert batch.root(n) == merkle.root(hashes[:n]), n
    assert batch.root(37) == mth(data[:37])
    for n in range(71):
        for m in range(n + 1):
            assert batch.consistency_proof(m, n) == merkle.consistency_proof(m, hashes[:n]), (m, n)
    with pytest.raises(merkle.ProofError):
        batch.root(301)
    with pytest.raises(merkle.ProofError):
        batch.consistency_proof(5, 301)


@pytest.mark.req("SRS-025")
def test_negative_control_incremental_tree_sees_a_changed_leaf_only_in_the_prefixes_holding_it() -> None:
    hashes = [merkle.hash_leaf(bytes([i])) for i in range(40)]
    changed = list(hashes)
    changed[17] = merkle.hash_leaf(b"rewritten")
    tree, other = merkle.MerkleTree(hashes), merkle.MerkleTree(changed)
    assert all(tree.root(n) == other.root(n) for n in range(18))
    assert all(tree.root(n) != other.root(n) for n in range(18, 41))
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(10, 40, other.consistency_proof(10, 40), tree.root(10), tree.root(40))
