"""The Merkle tree against an independent implementation (pymerkle) and a real Certificate Transparency log.

Roots and inclusion proofs must equal pymerkle's for every size up to 300 and around the tile
boundaries; consistency proofs must pass RFC 9162's check and fail it when any byte changes;
and the proofs Google's Argon 2020 log served must pass our checks.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pymerkle import InmemoryTree

from petitions.infra.tlog import merkle, tiles

SIZES = [*range(1, 301), 511, 512, 513, 1023, 1024, 1025, 65535, 65536, 65537]


def entry(i: int) -> bytes:
    return f"entry {i}".encode()


def sample(stop: int, start: int = 0) -> list[int]:
    """Positions worth proving in range(start, stop): the ends, the tile edges, and some in between."""
    wanted = {start, start + 1, stop // 3, stop // 2, stop - 2, stop - 1, 63, 64, 127, 128, 255, 256, 257, 65535, 65536}
    return sorted(i for i in wanted if start <= i < stop)


@pytest.fixture(scope="module")
def reference() -> InmemoryTree:
    """pymerkle's tree of the largest size; its states at smaller sizes are the prefixes."""
    tree = InmemoryTree(algorithm="sha256")
    for i in range(max(SIZES)):
        tree.append(entry(i))
    return tree


@pytest.fixture(scope="module")
def ours() -> tiles.Appended:
    return tiles.build_tiles([merkle.leaf_hash(entry(i)) for i in range(max(SIZES))])


def reader(built: tiles.Appended, size: int) -> tiles.TileHashReader:
    """Our tree of `size` leaves, read from the tiles of the bigger tree as a log of that size would serve them."""
    full = {(t.level, t.index): data for t, data in built.tiles.items() if t.full}
    big = tiles.TileHashReader(built.size, lambda level, index, width: built.tiles[tiles.Tile(level, index, width)])

    def read(level: int, index: int, width: int) -> bytes:
        if width == tiles.TILE_WIDTH:
            return full[(level, index)]
        # A partial tile of a smaller tree: the first hashes of the bigger tree's tile.
        return b"".join(big.tile(level, index)[:width])

    return tiles.TileHashReader(size, read)


def test_the_empty_tree_hashes_the_empty_string() -> None:
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.tree_hash(0, lambda level, index: b"") == merkle.EMPTY_ROOT
    assert merkle.root_of([]) == merkle.EMPTY_ROOT


def test_leaf_and_node_hashes_are_rfc_6962s() -> None:
    # RFC 6962's leaf and interior domain separation, as pymerkle computes it.
    tree = InmemoryTree(algorithm="sha256")
    tree.append(b"a")
    tree.append(b"b")
    assert tree.get_leaf(1) == merkle.leaf_hash(b"a")
    assert tree.get_state() == merkle.node_hash(merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b"))


@pytest.mark.parametrize("size", SIZES)
def test_roots_match_pymerkle(size: int, reference: InmemoryTree, ours: tiles.Appended) -> None:
    want = reference.get_state(size)
    assert merkle.root_of([merkle.leaf_hash(entry(i)) for i in range(size)]) == want
    assert reader(ours, size).root() == want


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_match_pymerkle_and_verify(size: int, reference: InmemoryTree, ours: tiles.Appended) -> None:
    read = reader(ours, size)
    root = reference.get_state(size)
    indexes = range(size) if size <= 64 else sample(size)
    for index in indexes:
        proof = merkle.inclusion_proof(index, size, read)
        # pymerkle's path is the leaf followed by the RFC 6962 audit path.
        assert proof == reference.prove_inclusion(index + 1, size).path[1:], (size, index)
        leaf = merkle.leaf_hash(entry(index))
        merkle.verify_inclusion(index, size, leaf, proof, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, merkle.leaf_hash(b"not it"), proof, root)
        if index + 1 < size:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index + 1, size, leaf, proof, root)


def test_every_byte_of_an_inclusion_proof_matters(ours: tiles.Appended) -> None:
    size, index = 1000, 345
    read = reader(ours, size)
    proof, root, leaf = merkle.inclusion_proof(index, size, read), read.root(), merkle.leaf_hash(entry(index))
    for k in range(len(proof)):
        for byte in (0, 31):
            bad = [bytearray(h) for h in proof]
            bad[k][byte] ^= 1
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index, size, leaf, [bytes(h) for h in bad], root)
    with pytest.raises(merkle.ProofError, match="too short"):
        merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
    with pytest.raises(merkle.ProofError, match="too long"):
        merkle.verify_inclusion(index, size, leaf, [*proof, proof[0]], root)


@pytest.mark.parametrize("new_size", [*range(1, 130), 255, 256, 257, 300, 513, 1025, 65536, 65537])
def test_consistency_proofs_verify_and_catch_a_fork(
    new_size: int, reference: InmemoryTree, ours: tiles.Appended
) -> None:
    read = reader(ours, new_size)
    new_root = reference.get_state(new_size)
    olds = range(1, new_size + 1) if new_size <= 64 else sample(new_size + 1, start=1)
    for old_size in olds:
        old_root = reference.get_state(old_size)
        proof = merkle.consistency_proof(old_size, new_size, read)
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
        # Another history of the same size (a fork) is caught, whichever root differs.
        forked = merkle.leaf_hash(b"forked")
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, forked, new_root, proof)
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old_size, new_size, old_root, forked, proof)
        for k in range(len(proof)):
            bad = list(proof)
            bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(old_size, new_size, old_root, new_root, bad)


def test_consistency_of_equal_or_shrinking_sizes() -> None:
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    merkle.verify_consistency(5, 5, a, a, [])
    with pytest.raises(merkle.ProofError, match="two different trees of size 5"):
        merkle.verify_consistency(5, 5, a, b, [])
    with pytest.raises(merkle.ProofError, match="size went down"):
        merkle.verify_consistency(6, 5, a, a, [])
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(6, 5, lambda level, index: a)


def test_a_real_certificate_transparency_log_s_proofs_verify() -> None:
    # Proofs served by Google's Argon 2020 log for a tree of 961,984,013 certificates.
    data = json.loads((Path(__file__).parent / "argon2020.json").read_text())
    b64 = base64.b64decode
    root, size = b64(data["root"]), data["tree_size"]
    leaf = merkle.leaf_hash(b64(data["leaf_input"]))
    path = [b64(h) for h in data["audit_path"]]
    merkle.verify_inclusion(data["leaf_index"], size, leaf, path, root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(data["leaf_index"] + 1, size, leaf, path, root)
    consistency = [b64(h) for h in data["consistency"]]
    merkle.verify_consistency(data["old_size"], size, b64(data["old_root"]), root, consistency)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(data["old_size"] + 1, size, b64(data["old_root"]), root, consistency)
