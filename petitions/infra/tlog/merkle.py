"""RFC 6962 (RFC 9162 section 2.1) Merkle trees over SHA-256.

A tree is read through a `HashReader`: a callable that returns the hash of the complete subtree
at (level, index), the one over leaves [index * 2**level, (index + 1) * 2**level). The server
answers it from its stored tiles, the verifier from downloaded ones (`tiles.TileHashReader`),
so the same proof code runs on both sides. Proofs are lists of hashes in the order RFC 9162
defines, and the checks are the RFC's verification algorithms, written out step by step.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32
# The root of the empty tree: the hash of the empty string (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

HashReader = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not check out, or cannot be made for these sizes."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a run of leaf hashes (or of any run of equal-height subtree hashes).

    Pairing left to right and carrying an odd last node up unchanged builds the same tree as
    RFC 6962's split at the largest power of two, without recursion.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(read: HashReader, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for a range that is a node of some tree (lo aligned as RFC 6962's splits leave it)."""
    n = hi - lo
    if n <= 0:
        raise ProofError(f"empty range [{lo}, {hi})")
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        if lo % n:
            raise ProofError(f"range [{lo}, {hi}) is not a subtree")
        return read(level, lo >> level)
    k = _split(n)
    return node_hash(subtree_hash(read, lo, lo + k), subtree_hash(read, lo + k, hi))


def tree_hash(size: int, read: HashReader) -> bytes:
    """The root of the tree of the first `size` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return subtree_hash(read, 0, size)


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root; each step records the sibling, so the list is reversed at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(subtree_hash(read, lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree_hash(read, lo, lo + k))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, read: HashReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 section 2.1.4.1 (empty when the sizes are equal)."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    proof: list[bytes] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    # SUBPROOF(m, D[lo:hi], whole), unrolled; siblings are collected top-down and reversed.
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                proof.append(subtree_hash(read, lo, hi))
            break
        k = _split(n)
        if m <= k:
            proof.append(subtree_hash(read, lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree_hash(read, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes]) -> None:
    if len(proof) > 128 or any(len(h) != HASH_SIZE for h in proof):
        raise ProofError("malformed proof")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2: raise ProofError unless `leaf` is entry `index` of the tree (size, root)."""
    _check_hashes(proof)
    if not 0 <= index < size:
        raise ProofError(f"entry {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    if not hmac.compare_digest(r, root):
        raise ProofError(f"entry {index} is not in the tree of size {size} with this root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 section 2.1.4.2: raise ProofError unless tree (new_size, new_root) extends (old_size, old_root)."""
    _check_hashes(proof)
    if old_size > new_size:
        raise ProofError(f"size went down from {old_size} to {new_size}")
    if old_size == new_size:
        if proof or not hmac.compare_digest(old_root, new_root):
            raise ProofError(f"two different trees of size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    path = list(proof)
    if not path:
        raise ProofError("empty consistency proof")
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if not hmac.compare_digest(fr, old_root):
        raise ProofError(f"the tree of size {new_size} does not contain the earlier tree of size {old_size}")
    if not hmac.compare_digest(sr, new_root):
        raise ProofError(f"the consistency proof does not lead to the root of the tree of size {new_size}")
