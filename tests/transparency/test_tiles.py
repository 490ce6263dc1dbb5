"""Tiles and entry bundles as C2SP tlog-tiles writes them: paths, which tiles a tree has, their bytes.

The path cases are Go's golang.org/x/mod/sumdb/tlog test cases with the height dropped (C2SP
fixes it at 8) and the spec's own examples; tile contents are checked against the spec's
formula, MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]), computed by pymerkle.
"""

from __future__ import annotations

import pytest
from pymerkle import InmemoryTree

from petitions.infra.tlog import merkle, tiles
from petitions.infra.tlog.tiles import ENTRIES, Tile


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("tile/0/001", Tile(0, 1, 256)),
        ("tile/0/001.p/5", Tile(0, 1, 5)),
        ("tile/5/x123/x456/078", Tile(5, 123456078, 256)),
        ("tile/5/x123/x456/078.p/2", Tile(5, 123456078, 2)),
        ("tile/0/x003/x057/500", Tile(0, 3057500, 256)),
        ("tile/0/x001/x234/067", Tile(0, 1234067, 256)),
        ("tile/0/x001/x234/067.p/89", Tile(0, 1234067, 89)),
        ("tile/63/x999/x999/x999/x999/x999/999.p/255", Tile(63, 999999999999999999, 255)),
        ("tile/entries/x003/x057/500", Tile(ENTRIES, 3057500, 256)),
        ("tile/entries/000.p/1", Tile(ENTRIES, 0, 1)),
        ("tile/1/x001/000", Tile(1, 1000, 256)),
        ("tile/2/000.p/1", Tile(2, 0, 1)),
    ],
)
def test_tile_paths(path: str, tile: Tile) -> None:
    assert tile.path == path
    assert tiles.parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/3/5/123/456/078",  # Go's height-carrying form
        "tile/3/123/456/078",  # groups without x
        "tile/3/-1/123",
        "tile/1/data/x003/x057/500",
        "tile/0/x001/x234/067.p/",
        "tile/0/x001/x234/067.p",
        "tile/0/x001/x234/",
        "tile/0/x001/x234",
        "tile/0/x001",
        "tile/1/x001/.p/abc",
        "tile/64/000",
        "tile/01/000",
        "tile/0/1",
        "tile/0/x000/001",  # a leading zero group
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/entries/001.p/300",
    ],
)
def test_paths_tile_path_would_not_write_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a tile path"):
        tiles.parse_tile_path(path)


def test_index_encoding() -> None:
    assert [tiles.encode_index(n) for n in (0, 5, 255, 999, 1000, 1234067)] == [
        "000",
        "005",
        "255",
        "999",
        "x001/000",
        "x001/x234/067",
    ]


def _shape(tile_list: list[Tile]) -> dict[tuple[int, bool], list[int]]:
    out: dict[tuple[int, bool], list[int]] = {}
    for t in tile_list:
        out.setdefault((t.level, t.full), []).append(t.width)
    return out


def test_the_spec_examples_of_which_tiles_a_tree_has() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile
    # of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial
    # level 2 tile of width 1."
    shape = _shape(tiles.tiles_for_size(70_000))
    assert len(shape[(0, True)]) == 273
    assert shape[(0, False)] == [112]
    assert len(shape[(1, True)]) == 1
    assert shape[(1, False)] == [17]
    assert shape[(2, False)] == [1]
    assert set(shape) == {(0, True), (0, False), (1, True), (1, False), (2, False)}
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert tiles.tiles_for_size(256) == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert tiles.tiles_for_size(0) == []
    assert tiles.bundles_for_size(70_000)[-1] == Tile(ENTRIES, 273, 112)
    assert len(tiles.bundles_for_size(70_000)) == 274


def test_new_tiles_are_what_growing_changes() -> None:
    assert tiles.new_tiles(5, 5) == []
    assert tiles.new_tiles(100, 101) == [Tile(0, 0, 101)]
    assert tiles.new_tiles(255, 256) == [Tile(0, 0, 256), Tile(1, 0, 1)]
    assert tiles.new_tiles(256, 300) == [Tile(0, 1, 44)]
    assert tiles.new_tiles(65535, 65537) == [Tile(0, 255, 256), Tile(0, 256, 1), Tile(1, 0, 256), Tile(2, 0, 1)]
    for old, new in [(0, 1), (3, 700), (256, 512), (1000, 70_000)]:
        before = set(tiles.tiles_for_size(old))
        after = set(tiles.tiles_for_size(new))
        assert set(tiles.new_tiles(old, new)) == after - before


def _mth(entries: list[bytes]) -> bytes:
    tree = InmemoryTree(algorithm="sha256")
    for e in entries:
        tree.append(e)
    return tree.get_state()


def test_tile_hashes_follow_the_spec_formula() -> None:
    size = 256 * 256 + 300
    data = [f"leaf {i}".encode() for i in range(size)]
    built = tiles.build_tiles([merkle.leaf_hash(d) for d in data])
    assert set(built.tiles) == set(tiles.tiles_for_size(size))
    for tile, raw in built.tiles.items():
        assert len(raw) == tile.width * 32
    span = {0: 1, 1: 256, 2: 65536}
    for tile in tiles.tiles_for_size(size):
        hashes = tiles.tile_hashes(built.tiles[tile], tile.width)
        step = span[tile.level]
        for i in sorted({0, tile.width - 1, (tile.index * 37) % tile.width}):
            start = (tile.index * 256 + i) * step
            assert hashes[i] == _mth(data[start : start + step]), (tile.path, i)
    assert built.root == _mth(data)


def test_appending_in_any_batches_gives_the_same_tiles() -> None:
    leaves = [merkle.leaf_hash(f"e{i}".encode()) for i in range(1500)]
    whole = tiles.build_tiles(leaves)
    batches = [1, 2, 5, 255, 256, 257, 600]
    for run in range(5):
        stored: dict[Tile, bytes] = {}
        size, step = 0, run
        while size < len(leaves):
            batch = batches[step % len(batches)]
            step += run + 1
            grown = tiles.append_leaves(
                lambda lv, ix, w, st=stored: st[Tile(lv, ix, w)], size, leaves[size : size + batch]
            )
            assert set(grown.tiles) == set(tiles.new_tiles(size, grown.size))
            for tile, data in grown.tiles.items():
                if tile.full and tile in stored:
                    assert stored[tile] == data, f"{tile.path} was rewritten"
                stored[tile] = data
            size = grown.size
            assert grown.root == merkle.root_of(leaves[:size])
        assert {t: d for t, d in stored.items() if t in set(tiles.tiles_for_size(size))} == whole.tiles


def test_every_hash_of_a_tree_reads_back_from_its_tiles() -> None:
    for size in (1, 2, 7, 255, 256, 257, 1000):
        leaves = [merkle.leaf_hash(f"x{i}".encode()) for i in range(size)]
        built = tiles.build_tiles(leaves)
        read = tiles.TileHashReader(size, lambda lv, ix, w, b=built: b.tiles[Tile(lv, ix, w)])
        for level in range(size.bit_length()):
            for index in range(size >> level):
                start = index << level
                assert read(level, index) == merkle.root_of(leaves[start : start + (1 << level)])
        with pytest.raises(merkle.ProofError):
            read(0, size)


def test_a_tile_reader_that_lacks_a_tile_says_which() -> None:
    def missing(level: int, index: int, width: int) -> bytes:
        raise tiles.TileMissing(tiles.tile_path(level, index, width))

    with pytest.raises(tiles.TileMissing, match=r"tile/0/000\.p/3 is missing"):
        tiles.TileHashReader(3, missing).root()


def test_bundles_round_trip_and_refuse_overruns() -> None:
    items = [b"", b"a", bytes(300), bytes(range(256)) * 200]
    data = tiles.encode_bundle(items)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert tiles.decode_bundle(data) == items
    assert tiles.decode_bundle(b"") == []
    with pytest.raises(tiles.BundleError, match="runs past its end"):
        tiles.decode_bundle(data[:-1])
    with pytest.raises(tiles.BundleError, match="inside an entry's length"):
        tiles.decode_bundle(b"\x00")
    with pytest.raises(tiles.BundleError, match="does not fit"):
        tiles.encode_bundle([bytes(65536)])
    assert tiles.decode_bundle(tiles.encode_bundle([bytes(65535)])) == [bytes(65535)]
