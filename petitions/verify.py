"""Check a petition's public log and its count, trusting nothing but the log's key.

    python -m petitions.verify https://site.example/petitions/<slug> [--key KEY]
        [--receipt INDEX:NONCE:EMAIL] [--state FILE] [--json]

Downloads the signed checkpoint, every entry bundle and every tile of the petition's log,
checks the checkpoint's signature, recomputes the Merkle tree from the entries (every served
tile must match it, and its root the signed root), replays the entries and prints the count,
by country and by supporter group. `--receipt` checks that a signer's entry is in the log
(with an inclusion proof from the tiles) and whether it still counts. `--state` remembers the
last verified checkpoint, and proves the new one extends it: a log that rewrote or forked its
history fails loudly, so this can run from cron as a monitor.

Needs only the Python standard library and `cryptography`. Exit status 0 when everything
checks out, 1 when anything does not (the message says what), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from petitions.infra.tlog import entries, merkle, note, tiles
from petitions.infra.tlog.fetch import Fetch, HttpFetcher, NotFound, VerifyError


@dataclass(frozen=True)
class Site:
    """Where a petition's log is: the site's base URL, the slug, the log prefix and the expected origin."""

    base: str
    slug: str

    @classmethod
    def from_url(cls, url: str) -> Site:
        parts = urlsplit(url.rstrip("/"))
        head, marker, slug = parts.path.rpartition("/petitions/")
        if parts.scheme not in ("http", "https") or not parts.netloc or not marker or not slug or "/" in slug:
            raise VerifyError(f"{url} is not a petition's address (https://site/petitions/<slug>)")
        return cls(f"{parts.scheme}://{parts.netloc}{head}", slug)

    @property
    def prefix(self) -> str:
        return f"{self.base}/petitions/{self.slug}/log/"

    @property
    def origin(self) -> str:
        return note.log_origin(self.base, self.slug)


@dataclass
class Verified:
    """A verified log: its checkpoint, the counts its entries add up to, and its tiles (for proofs)."""

    checkpoint: note.Checkpoint
    tally: entries.Tally
    tiles: dict[tuple[int, int, int], bytes]
    commitments: dict[int, str]

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        data = self.tiles.get((level, index, width))
        if data is None:
            raise tiles.TileMissing(tiles.tile_path(level, index, width))
        return data


Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def fetch_tile(fetch: Fetch, prefix: str, tile: tiles.Tile) -> bytes:
    """A tile or bundle; a partial one that is gone is cut from the full one that replaced it (as tlog-tiles allows)."""
    try:
        return fetch(prefix + tile.path)
    except NotFound:
        if tile.full:
            raise
    data = fetch(prefix + tiles.Tile(tile.level, tile.index, tiles.TILE_WIDTH).path)
    if tile.level == tiles.ENTRIES:
        try:
            return tiles.encode_bundle(tiles.decode_bundle(data)[: tile.width])
        except tiles.BundleError as exc:
            raise VerifyError(f"{tile.path}: {exc}") from None
    return data[: tile.width * merkle.HASH_SIZE]


def _fetch_all(fetch: Fetch, prefix: str, wanted: list[tiles.Tile], jobs: int) -> Iterator[tuple[tiles.Tile, bytes]]:
    """Fetch tiles in parallel, a window at a time, yielding them in order.

    A window is fetched while the caller waits, then handed over whole: download threads that
    ran beside the caller's hashing would each wait for the interpreter lock at every system
    call, and a million-entry log would take several times as long to download.
    """
    window = max(16, jobs * 8)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for start in range(0, len(wanted), window):
            chunk = wanted[start : start + window]
            yield from zip(chunk, list(pool.map(lambda t: fetch_tile(fetch, prefix, t), chunk)), strict=True)


def verify_log(
    site: Site,
    verifier: note.Verifier,
    fetch: Fetch | None = None,
    jobs: int = 8,
    progress: Progress = _no_progress,
    keep: set[int] | None = None,
) -> Verified:
    """Check the checkpoint's signature, rebuild the tree from the entries against every served tile, replay."""
    if fetch is None:
        fetcher = HttpFetcher()
        try:
            return verify_log(site, verifier, fetcher, jobs, progress, keep)
        finally:
            fetcher.close()
    try:
        checkpoint = note.open_checkpoint(fetch(site.prefix + "checkpoint"), verifier, site.origin)
    except note.NoteError as exc:
        raise VerifyError(f"checkpoint: {exc}") from None
    size = checkpoint.size
    tally = entries.Tally()
    kept: dict[tuple[int, int, int], bytes] = {}
    commitments: dict[int, str] = {}
    bundles = tiles.bundles_for_size(size)
    # Level 0 and the entries, bundle by bundle: each entry's leaf hash must be the tile's hash.
    level0 = tiles.level_tiles(0, size)
    pairs = [t for pair in zip(bundles, level0, strict=True) for t in pair]
    upper: list[bytes] = []  # hashes of the full tiles of the level being checked, for the level above
    fetched = _fetch_all(fetch, site.prefix, pairs, jobs)
    for done, bundle in enumerate(bundles):
        _, bundle_data = next(fetched)
        tile, tile_data = next(fetched)
        try:
            items = tiles.decode_bundle(bundle_data)
        except tiles.BundleError as exc:
            raise VerifyError(f"{bundle.path}: {exc}") from None
        if len(items) != bundle.width:
            raise VerifyError(f"{bundle.path} holds {len(items)} entries, expected {bundle.width}")
        leaves = [merkle.leaf_hash(item) for item in items]
        if b"".join(leaves) != tile_data:
            raise VerifyError(f"{tile.path} does not match the hashes of the entries in {bundle.path}")
        for item in items:
            try:
                entry = tally.apply(item)
            except entries.EntryError as exc:
                raise VerifyError(str(exc)) from None
            if keep and tally.size - 1 in keep and entry.op == "add":
                commitments[tally.size - 1] = entry.commitment
        kept[(0, tile.index, tile.width)] = tile_data
        if tile.full:
            upper.append(tiles.tile_root(leaves))
        progress("entries", done + 1, len(bundles))
    # The levels above: each served tile must hold the hashes of the full tiles below it.
    for level in range(1, tiles.tree_levels(size)):
        computed, upper = upper, []
        wanted = tiles.level_tiles(level, size)
        for tile, data in _fetch_all(fetch, site.prefix, wanted, jobs):
            expected = computed[tile.index * tiles.TILE_WIDTH : tile.index * tiles.TILE_WIDTH + tile.width]
            if data != b"".join(expected):
                raise VerifyError(f"{tile.path} does not match the tiles below it")
            kept[(level, tile.index, tile.width)] = data
            if tile.full:
                upper.append(tiles.tile_root(expected))
        progress(f"level {level}", len(wanted), len(wanted))
    verified = Verified(checkpoint, tally, kept, commitments)
    root = tiles.TileHashReader(size, verified.read_tile).root()
    if root != checkpoint.root:
        raise VerifyError(
            f"root mismatch: the entries hash to {base64.b64encode(root).decode()}, "
            f"the signed checkpoint says {checkpoint.root_b64}"
        )
    return verified


@dataclass(frozen=True)
class Receipt:
    index: int
    nonce: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Receipt:
        index, _, rest = text.partition(":")
        nonce, _, email = rest.partition(":")
        if not index.isdigit() or not nonce or not email:
            raise VerifyError(f"a receipt is INDEX:NONCE:EMAIL, not {text!r}")
        return cls(int(index), nonce.strip().lower(), email)


def check_receipt(site: Site, log: Verified, receipt: Receipt) -> str:
    """Say whether a signer's entry is in the log and counts; VerifyError if it is not theirs or not in it."""
    size, index = log.checkpoint.size, receipt.index
    if index >= size:
        raise VerifyError(f"receipt: entry {index} is not in the log yet (it has {size} entries)")
    try:
        expected = entries.commitment(site.slug, receipt.email, receipt.nonce)
    except entries.EntryError as exc:
        raise VerifyError(f"receipt: {exc}") from None
    if log.commitments.get(index) != expected:
        raise VerifyError(f"receipt: entry {index} is not the signature of this address with this nonce")
    # The proof a signer's browser or a third party would use, made from the tiles and checked against the signed root.
    reader = tiles.TileHashReader(size, log.read_tile)
    leaf = reader(0, index)
    try:
        merkle.verify_inclusion(index, size, leaf, merkle.inclusion_proof(index, size, reader), log.checkpoint.root)
    except merkle.ProofError as exc:
        raise VerifyError(f"receipt: {exc}") from None
    said = f"receipt: entry {index} is your signature, included in the signed log of {size} entries"
    if log.tally.is_live(index):
        return said + "; it counts."
    removal = log.tally.removed_by[index]
    return said + f"; it was removed by entry {removal} and does not count."


def check_state(path: Path, site: Site, verifier: note.Verifier, log: Verified) -> str:
    """Prove the checkpoint extends the one verified last time (if any), then remember it."""
    try:
        state = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise VerifyError(f"state file {path}: {exc}") from None
    logs = state.setdefault("logs", {})
    new = log.checkpoint
    before = logs.get(site.origin)
    said = f"state: first checkpoint of {site.origin} remembered (size {new.size})"
    if before is not None:
        if before.get("key") != str(verifier):
            raise VerifyError(f"KEY CHANGED: the log was verified with {before.get('key')}, now with {verifier}")
        try:
            old = note.Checkpoint(site.origin, int(before["size"]), base64.b64decode(before["root"], validate=True))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerifyError(f"state file {path}: unreadable entry for {site.origin} ({exc})") from None
        if new.size < old.size:
            raise VerifyError(f"ROLLBACK: the log had {old.size} entries when last verified, now {new.size}")
        if new.size == old.size:
            if not new.same_tree(old):
                raise VerifyError(f"FORK: two different logs of size {new.size}: {old.root_b64} then {new.root_b64}")
        else:
            proof = merkle.consistency_proof(old.size, new.size, tiles.TileHashReader(new.size, log.read_tile))
            try:
                merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
            except merkle.ProofError as exc:
                raise VerifyError(
                    f"FORK: the log of {new.size} entries does not extend the one of {old.size} verified before ({exc})"
                ) from None
        said = (
            f"state: the log extends the one verified before (size {old.size} to {new.size}, consistency proven)"
            if new.size > old.size
            else f"state: the log is unchanged since it was last verified (size {new.size})"
        )
    logs[site.origin] = {"key": str(verifier), "size": new.size, "root": new.root_b64}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return said


def report(site: Site, log: Verified, key_note: str) -> str:
    """The verified counts, as text."""
    cp, tally = log.checkpoint, log.tally
    lines = [
        f"log {cp.origin}: {cp.size} entries, root {cp.root_b64}",
        f"signature: valid, {key_note}",
        "tree: every entry and tile matches the signed root",
        f"count: {tally.count}",
    ]
    for title, counts in (("by country", tally.live_by_country()), ("by supporter group", tally.live_by_group())):
        if counts:
            lines.append(f"{title}:")
            lines += [f"  {name:<30} {n}" for name, n in counts.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None, fetch: Fetch | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m petitions.verify", description=__doc__.split("\n\n")[2])
    parser.add_argument("url", help="the petition's address, https://site/petitions/<slug>")
    parser.add_argument("--key", help="the log's verifier key (name+id+key); without it, the site's /log/key is used")
    parser.add_argument("--receipt", action="append", default=[], help="INDEX:NONCE:EMAIL from a signer's receipt")
    parser.add_argument("--state", type=Path, help="a file that remembers the last verified checkpoint")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--jobs", type=int, default=8, help="parallel downloads (default 8)")
    args = parser.parse_args(argv)
    if fetch is None:
        fetcher = HttpFetcher()
        try:
            return main(argv, fetcher)
        finally:
            fetcher.close()
    try:
        site = Site.from_url(args.url)
        receipts = [Receipt.parse(r) for r in args.receipt]
        if args.key:
            verifier, key_note = note.parse_verifier_key(args.key), "by the pinned key"
        else:
            verifier = note.parse_verifier_key(fetch(f"{site.base}/log/key").decode("utf-8", "replace"))
            key_note = "by the key the site itself serves at /log/key (pin it with --key)"
        key_note += f" {verifier.name}+{verifier.key_id.hex()}"
        log = verify_log(site, verifier, fetch, args.jobs, keep={r.index for r in receipts})
        said = [check_receipt(site, log, r) for r in receipts]
        if args.state:
            said.append(check_state(args.state, site, verifier, log))
    except (VerifyError, note.NoteError, merkle.ProofError, tiles.TileMissing) as exc:
        print(f"VERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps({**log.tally.summary(), "origin": site.origin, "root": log.checkpoint.root_b64, "notes": said})
        )
    else:
        print("\n".join([report(site, log, key_note), *said]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
