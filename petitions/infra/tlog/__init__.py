"""The public log of a petition: an RFC 6962 Merkle tree served as C2SP tlog-tiles.

- `merkle`: leaf and node hashes, tree roots, inclusion and consistency proofs and their checks;
- `tiles`: tile and entry-bundle paths and bytes, which tiles a tree has, appending leaves,
  reading any tree hash from tiles;
- `note`: C2SP signed notes (Ed25519 keys, signing, verifying) and tlog-checkpoints;
- `entries`: the JSON entries, the signer's commitment, and the replay that turns entries into counts.

These modules import only the standard library and `cryptography`, so that the standalone
verifier (`python -m petitions.verify`) runs anywhere with nothing else installed.
"""
