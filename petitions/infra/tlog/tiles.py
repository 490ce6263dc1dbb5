"""C2SP tlog-tiles: the tree as static files of 256 hashes, and the entries as bundles of 256.

A tile at level L, index N holds the hashes of the complete subtrees of height 8*L over
leaves [(N*256 + i) * 256**L, (N*256 + i + 1) * 256**L) for i in 0..W-1; W is 256 for a full
tile, 1..255 for the rightmost (partial) tile of a level, whose path ends in `.p/<W>`. A
partial tile is never hashed into the level above. Entry bundles follow level 0's numbering.

A `TileReader` is a callable (level, index, width) -> bytes that returns a tile's bytes or
raises `TileMissing`; `ENTRIES` as the level names an entry bundle. `TileHashReader` turns a
tile reader into a `merkle.HashReader` for a tree of a given size, so proofs come from tiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from petitions.infra.tlog.merkle import HASH_SIZE, ProofError, root_of, tree_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
# The level that names an entry bundle (tile/entries/...) in a Tile.
ENTRIES = -1
# An entry bundle stores each entry's length in two bytes.
MAX_ENTRY_SIZE = 0xFFFF

TileReader = Callable[[int, int, int], bytes]


class TileMissing(LookupError):
    """A tile or entry bundle the tree needs cannot be read."""

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(f"{path} is missing" + (f" ({detail})" if detail else ""))
        self.path = path


class BundleError(ValueError):
    """An entry bundle is not a run of length-prefixed entries."""


@dataclass(frozen=True, order=True)
class Tile:
    """One tile (level >= 0) or entry bundle (level ENTRIES): its index within the level and its width."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH


def encode_index(n: int) -> str:
    """A tile index as zero-padded 3-digit path elements, all but the last prefixed with x: 1234067 -> x001/x234/067."""
    if n < 0:
        raise ValueError(f"negative tile index {n}")
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """tile/<L>/<N>[.p/<W>], or tile/entries/<N>[.p/<W>] for level ENTRIES."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width {width} is not 1..{TILE_WIDTH}")
    if not ENTRIES <= level <= 63:
        raise ValueError(f"tile level {level} is not 0..63")
    head = "entries" if level == ENTRIES else str(level)
    tail = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{head}/{encode_index(index)}{tail}"


_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def parse_tile_path(path: str) -> Tile:
    """The tile a path names; ValueError for anything tile_path would not write."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise ValueError(f"not a tile path: {path!r}")
    head, index, width = match.groups()
    level = ENTRIES if head == "entries" else int(head)
    tile = Tile(level, int(index.replace("x", "").replace("/", "")), int(width) if width else TILE_WIDTH)
    # Writing the tile back must give the same path: no leading zeros, no ".p/256", no level past 63.
    if level > 63 or tile.width > TILE_WIDTH or tile.path != path:
        raise ValueError(f"not a tile path: {path!r}")
    return tile


def level_tiles(level: int, size: int, start: int = 0) -> list[Tile]:
    """The tiles at one level of a tree of `size` leaves, from hash `start` of that level on."""
    count = size >> (TILE_HEIGHT * max(level, 0))
    tiles = [Tile(level, n, TILE_WIDTH) for n in range(start // TILE_WIDTH, count // TILE_WIDTH)]
    if count % TILE_WIDTH:
        tiles.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
    return tiles


def tree_levels(size: int) -> int:
    """How many tile levels a tree of `size` leaves has (0 for the empty tree)."""
    levels = 0
    while size >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile a tree of `size` leaves is served as, full and partial, level 0 first."""
    return [tile for level in range(tree_levels(size)) for tile in level_tiles(level, size)]


def bundles_for_size(size: int) -> list[Tile]:
    """Every entry bundle a log of `size` entries is served as."""
    return level_tiles(ENTRIES, size)


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The hash tiles a tree of new_size has that a tree of old_size does not (the ones to write when growing)."""
    out = []
    for level in range(tree_levels(new_size)):
        shift = TILE_HEIGHT * level
        if old_size >> shift != new_size >> shift:
            out += level_tiles(level, new_size, start=old_size >> shift)
    return out


def tile_hashes(data: bytes, width: int | None = None) -> list[bytes]:
    """The hashes in a tile's bytes; ValueError when its length is not `width` hashes."""
    if len(data) % HASH_SIZE or (width is not None and len(data) != width * HASH_SIZE):
        raise ValueError(f"a tile of {len(data)} bytes" + (f", expected {width} hashes" if width else ""))
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle: each a big-endian uint16 length then its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise BundleError(f"an entry of {len(entry)} bytes does not fit a bundle")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries in a bundle; BundleError when a length runs past the end."""
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise BundleError(f"the bundle ends inside an entry's length, at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > end:
            raise BundleError(f"entry {len(entries)} of the bundle runs past its end")
        entries.append(data[pos : pos + length])
        pos += length
    return entries


class TileHashReader:
    """The hashes of a tree of `size` leaves, read from its tiles (a merkle.HashReader).

    Tiles are fetched at the width this tree size gives them and kept, so a proof reads each
    tile once. Hashes between the tile levels are recomputed from the tile's hashes. Nothing here
    trusts the tiles: a proof made from wrong tiles fails its check against the signed root.
    """

    def __init__(self, size: int, read_tile: TileReader) -> None:
        self.size = size
        self.read_tile = read_tile
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (level, index) as this tree has it."""
        key = (level, index)
        if key not in self._tiles:
            count = self.size >> (TILE_HEIGHT * level)
            width = min(TILE_WIDTH, count - index * TILE_WIDTH)
            if width <= 0:
                raise ProofError(f"tile {level}/{index} is not in a tree of size {self.size}")
            self._tiles[key] = tile_hashes(self.read_tile(level, index, width), width)
        return self._tiles[key]

    def __call__(self, level: int, index: int) -> bytes:
        if (index + 1) << level > self.size:
            raise ProofError(f"hash {level}/{index} is not in a tree of size {self.size}")
        tile_level, within = divmod(level, TILE_HEIGHT)
        first = index << within
        hashes = self.tile(tile_level, first >> TILE_HEIGHT)
        start = first % TILE_WIDTH
        return root_of(hashes[start : start + (1 << within)])

    def root(self) -> bytes:
        """The root of the tree, from its tiles."""
        return tree_hash(self.size, self)


def tile_root(hashes: Sequence[bytes]) -> bytes:
    """The hash a full tile contributes to the level above."""
    if len(hashes) != TILE_WIDTH:
        raise ValueError("only a full tile is hashed into the level above")
    return root_of(hashes)


@dataclass(frozen=True)
class Appended:
    """What appending leaves produced: the tiles to write (new and grown), the new size and root."""

    tiles: dict[Tile, bytes]
    size: int
    root: bytes


def append_leaves(read_tile: TileReader, old_size: int, leaves: Sequence[bytes]) -> Appended:
    """Grow a tree of old_size by these leaf hashes; read_tile serves the tree's tiles at old_size.

    Only the rightmost (partial) tile of each level is read. The result holds every tile of
    new_tiles(old_size, new_size), full ones that will never change again and partial ones
    that the next append replaces.
    """
    size = old_size + len(leaves)
    levels = tree_levels(size)
    current: list[list[bytes]] = []
    for level in range(levels):
        count = old_size >> (TILE_HEIGHT * level)
        width = count % TILE_WIDTH
        current.append(tile_hashes(read_tile(level, count // TILE_WIDTH, width), width) if width else [])
    written: dict[Tile, bytes] = {}

    def push(level: int, hashes: Sequence[bytes]) -> None:
        # Each level is pushed once, with all its new hashes, so they follow the old ones.
        base = old_size >> (TILE_HEIGHT * level)
        carried = []
        for offset, h in enumerate(hashes):
            row = current[level]
            row.append(h)
            if len(row) == TILE_WIDTH:
                written[Tile(level, (base + offset) // TILE_WIDTH, TILE_WIDTH)] = b"".join(row)
                carried.append(tile_root(row))
                current[level] = []
        if carried:
            push(level + 1, carried)

    push(0, leaves)
    for tile in new_tiles(old_size, size):
        if not tile.full:
            written[tile] = b"".join(current[tile.level])
    overlay = dict(written)

    def read(level: int, index: int, width: int) -> bytes:
        tile = Tile(level, index, width)
        return overlay[tile] if tile in overlay else read_tile(level, index, width)

    return Appended(written, size, TileHashReader(size, read).root())


def build_tiles(leaves: Sequence[bytes]) -> Appended:
    """All the tiles of a tree of these leaf hashes."""

    def nothing(level: int, index: int, width: int) -> bytes:
        raise TileMissing(tile_path(level, index, width), "an empty tree has no tiles")

    return append_leaves(nothing, 0, leaves)
