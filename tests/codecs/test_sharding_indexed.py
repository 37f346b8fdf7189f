"""The ``sharding_indexed`` codec and the partial-decode capability it declares.

Interop with tensorstore, corrupt shards and writes through ``dz.write`` are in
tests/test_sharding.py; here: the codec on its own, round trips through zarr-python,
and what the pipeline promises the read tasks.
"""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
from codec_roundtrip import ROUTES, round_trip, write_with_dz
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.codecs import CodecPipeline, V2Pipeline, codec_from_json
from dask_zarrio.codecs.n5 import N5Pipeline
from dask_zarrio.codecs.sharding import MAX_GAP, ShardingCodec
from dask_zarrio.errors import ChunkDecodeError
from dask_zarrio.store import open_store
from dask_zarrio.testing import CountingStore

BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
GZIP = {"name": "gzip", "configuration": {"level": 1}}
CRC = {"name": "crc32c"}
TRANSPOSE = {"name": "transpose", "configuration": {"order": [1, 0]}}


def sharding(chunk_shape=(8, 6), codecs=(BYTES,), index_codecs=(BYTES, CRC), index_location="end") -> dict:
    return {"name": "sharding_indexed", "configuration": {
        "chunk_shape": list(chunk_shape), "codecs": list(codecs),
        "index_codecs": list(index_codecs), "index_location": index_location}}


@pytest.mark.parametrize("route", ROUTES, ids="->".join)
@pytest.mark.parametrize("codec", [
    sharding(codecs=(BYTES, GZIP)),
    sharding(index_codecs=(BYTES,), index_location="start"),
    sharding(codecs=(TRANSPOSE, BYTES, GZIP), index_location="start"),
    sharding(codecs=(sharding((4, 3), (BYTES, GZIP)),)),
], ids=["gzip-inside", "index-start-no-crc", "transpose-inside", "nested"])
def test_round_trip(tmp_path, route, codec):
    data = np.arange(23 * 17, dtype="<i4").reshape(23, 17) * 3 - 100
    data[:8, :6] = 0  # an inner chunk of fill value: not stored
    assert_same(round_trip(tmp_path, route, [codec], data, (16, 12)), data)


@pytest.mark.parametrize("codecs,partial,unit", [
    ([sharding()], True, (8, 6)),
    ([sharding(codecs=(BYTES, GZIP))], True, (8, 6)),
    ([sharding(), GZIP], False, (16, 12)),  # the shard is compressed as a whole
    ([TRANSPOSE, sharding((6, 8))], False, (16, 12)),  # the stored shard holds the transposed array
    ([BYTES, GZIP], False, (16, 12)),
])
def test_pipeline_declares_partial_decode(codecs, partial, unit):
    pipeline = CodecPipeline.from_codecs([codec_from_json(c) for c in codecs], (16, 12), np.dtype("<i4"))
    assert pipeline.supports_partial_decode is partial
    assert pipeline.partial_chunk_shape == unit


@pytest.mark.parametrize("pipeline", [
    V2Pipeline((), numcodecs.Zstd(), "C", (16, 12), np.dtype("<i4")),
    N5Pipeline({"type": "raw"}, (16, 12), np.dtype("<i4")),
    CodecPipeline.from_codecs([codec_from_json(BYTES)], (16, 12), np.dtype("<i4")),
], ids=["v2", "n5", "v3-bytes"])
def test_other_pipelines_decode_whole_chunks_only(pipeline):
    assert not pipeline.supports_partial_decode and pipeline.partial_chunk_shape == (16, 12)
    with pytest.raises(NotImplementedError, match="supports_partial_decode"):
        pipeline.decode_partial(None, "c/0/0", (slice(0, 1), slice(0, 1)), np.zeros((1, 1), "<i4"))


DATA = np.arange(32 * 24, dtype="<i4").reshape(32, 24)


@pytest.mark.parametrize("codecs,part_gets,part_ranges,whole_gets,whole_ranges", [
    # The index, then one inner chunk; whole reads of inner-chunk blocks: 2 ranged reads each.
    ([sharding()], {}, {"c/0/0": 2}, 0, 2 * 16),
    # No partial decode (the shard is compressed as a whole): one GET of the whole shard,
    # and dask blocks grow to whole shards so that no shard is fetched twice.
    ([sharding(), GZIP], {"c/0/0": 1}, {}, 4, 0),
], ids=["partial-decode", "bytes-bytes-after-sharding"])
def test_reads_of_part_of_a_shard(tmp_path, codecs, part_gets, part_ranges, whole_gets, whole_ranges):
    url = str(tmp_path / "a.zarr")
    write_with_dz(url, DATA, (16, 12), codecs)
    store = CountingStore(open_store(url))
    x = dz.read(store, chunks=(8, 6))
    store.reset()
    assert x[5, 5].compute() == DATA[5, 5]
    assert dict(store.gets) == part_gets
    assert dict(store.counters["get_range"]) == part_ranges
    store.reset()
    assert_same(x.compute(), DATA)
    assert sum(store.gets.values()) == whole_gets
    assert sum(store.counters["get_range"].values()) == whole_ranges


class Ranges:
    """A ByteRangeReader over a dict that records every request."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects, self.requests = objects, []

    def get_range(self, key, start, length=None):
        self.requests.append(("range", key, start, length))
        if key not in self.objects:
            return None
        data = self.objects[key][start:]
        return data if length is None else data[:length]

    def get_ranges(self, key, ranges):
        self.requests.append(("ranges", key, list(ranges)))
        if key not in self.objects:
            return None
        return [self.objects[key][s : s + n] for s, n in ranges]


def _shard(codec: ShardingCodec, shard: np.ndarray) -> Ranges:
    return Ranges({"s": bytes(codec.encode(shard))})


@pytest.mark.parametrize("index_location", ["start", "end"])
@pytest.mark.parametrize("selection", [
    (slice(0, 16), slice(0, 12)), (slice(3, 4), slice(5, 6)), (slice(7, 9), slice(5, 7)), (slice(9, 16), slice(0, 1)),
])
def test_decode_partial_matches_the_whole_decode(index_location, selection):
    codec = ShardingCodec((8, 6), [BYTES, GZIP], index_location=index_location)
    shard = DATA[:16, :12].copy()
    out = np.full(tuple(s.stop - s.start for s in selection), -1, "<i4")
    codec.decode_partial(_shard(codec, shard), "s", selection, (16, 12), np.dtype("<i4"), out, where="s")
    assert_same(out, shard[selection])


@pytest.mark.parametrize("selection,requests", [
    ((slice(0, 1), slice(0, 3 * 4096)), 1),  # three touching inner chunks
    ((slice(0, 2), slice(0, 4096)), 2),  # rows 0 and 1 lie 112 KiB apart
    ((slice(0, 2), slice(4096, 3 * 4096)), 2),
])
def test_nearby_inner_chunks_share_a_request_and_distant_ones_do_not(selection, requests):
    codec = ShardingCodec((1, 4096), [BYTES])  # 16 KiB inner chunks, stored in C order
    shard = np.arange(2 * 8 * 4096, dtype="<i4").reshape(2, 8 * 4096)
    assert 7 * 4096 * 4 > MAX_GAP
    ranges = _shard(codec, shard)
    out = np.zeros(tuple(s.stop - s.start for s in selection), "<i4")
    codec.decode_partial(ranges, "s", selection, shard.shape, shard.dtype, out, where="s")
    assert_same(out, shard[selection])
    assert [r[0] for r in ranges.requests] == ["range", "ranges"]
    assert len(ranges.requests[1][2]) == requests


def test_empty_inner_chunks_and_missing_shards_leave_out_as_it_is():
    codec = ShardingCodec((8, 6), [BYTES], fill_value=np.array(0, "<i4"))
    shard = np.zeros((16, 12), "<i4")
    shard[8:, 6:] = 5
    out = np.full((16, 12), -1, "<i4")
    ranges = _shard(codec, shard)
    codec.decode_partial(ranges, "s", (slice(0, 16), slice(0, 12)), (16, 12), np.dtype("<i4"), out, where="s")
    assert (out[8:, 6:] == 5).all() and (out[:8] == -1).all()
    assert len(ranges.requests) == 2
    codec.decode_partial(
        ranges, "missing", (slice(0, 1), slice(0, 1)), (16, 12), np.dtype("<i4"), out[:1, :1], where="m"
    )
    assert out[0, 0] == -1 and ranges.requests[-1][:2] == ("range", "missing")


@pytest.mark.parametrize("damage,match", [
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]),
     r"shard s3://b/a\.zarr/c/0: its index does not decode \(ValueError: crc32c checksum mismatch"),
    (lambda b: b"\x00" * 7 + b[7:], r"shard s3://b/a\.zarr/c/0 does not decode: "),
])
def test_errors_name_the_shard(damage, match):
    codec = ShardingCodec((8, 6), [BYTES, GZIP])
    stored = damage(bytes(codec.encode(DATA[:16, :12].copy())))
    out = np.zeros((1, 1), "<i4")
    with pytest.raises(ChunkDecodeError, match=match):
        codec.decode_partial(Ranges({"s": stored}), "s", (slice(0, 1), slice(0, 1)), (16, 12), np.dtype("<i4"), out,
                             where="s3://b/a.zarr/c/0")


@pytest.mark.parametrize("entries", [
    {(0, 0): (0, 2**40)},  # bigger than an inner chunk can be
    {(0, 0): (2**64 - 2, 2**63)},  # offset + nbytes overflows 64 bits
    {(0, 0): (0, 200), (0, 1): (100, 200)},  # inner chunks overlap
], ids=["giant", "overflow", "overlap"])
def test_a_lying_index_is_refused_before_any_inner_chunk_is_requested(entries):
    """Only the index is read: the store never sees a range the index made up."""
    codec = ShardingCodec((8, 6), [BYTES])
    stored = bytearray(codec.encode(DATA[:16, :12].copy()))
    layout = codec.layout((16, 12), np.dtype("<i4"))
    index = layout.decode_index(bytes(stored[-layout.index_nbytes:])).copy()
    for inner, entry in entries.items():
        index[inner] = entry
    ranges = Ranges({"s": bytes(stored[: -layout.index_nbytes]) + bytes(layout.index.encode(index))})
    out = np.zeros((16, 12), "<i4")
    with pytest.raises(ChunkDecodeError, match=r"shard s3://b/c/0: its index .*(bigger than|overlap)"):
        codec.decode_partial(ranges, "s", (slice(0, 16), slice(0, 12)), (16, 12), np.dtype("<i4"), out,
                             where="s3://b/c/0")
    assert [r[0] for r in ranges.requests] == ["range"]


@pytest.mark.parametrize("index_location", ["start", "end"])
@pytest.mark.parametrize("out_shape", [(16, 12), (16, 7), (9, 12), (3, 5)], ids=["whole", "edge-x", "edge-y", "corner"])
@pytest.mark.parametrize("codecs", [[BYTES], [BYTES, GZIP]], ids=["raw", "gzip"])
def test_decode_into_writes_each_inner_chunk_in_place(index_location, out_shape, codecs):
    """A shard, or its leading part where the array's edge cuts it, decodes straight into the
    caller's block: empty inner chunks get the fill value, every element of ``out`` is written."""
    codec = ShardingCodec((8, 6), codecs, index_location=index_location, fill_value=np.array(-7, "<i4"))
    shard = DATA[:16, :12].copy()
    shard[:8, 6:] = -7  # an inner chunk of fill value only: not stored
    stored = codec.encode(shard)
    out = np.full(out_shape, 12345, "<i4")
    codec.decode_into(stored, (16, 12), np.dtype("<i4"), out)
    assert_same(out, shard[: out_shape[0], : out_shape[1]])


def test_pipeline_decodes_a_shard_into_a_view_of_a_bigger_block():
    """What read tasks do: the pipeline's decode_into takes the sharding chain (no shard-sized
    temporary), and refuses what it cannot fill (another dtype)."""
    pipeline = CodecPipeline.from_codecs([codec_from_json(sharding())], (16, 12), np.dtype("<i4"))
    shard = DATA[:16, :12].copy()
    block = np.zeros((20, 24), "<i4")
    assert pipeline.decode_into(pipeline.encode(shard), block[2:18, 12:24])
    assert_same(block[2:18, 12:24], shard)
    assert (block[:2] == 0).all() and (block[:, :12] == 0).all()
    assert not pipeline.decode_into(pipeline.encode(shard), np.zeros((16, 12), "<i8"))


def test_decode_into_a_truncated_shard_raises():
    codec = ShardingCodec((8, 6), [BYTES, GZIP])
    stored = bytes(codec.encode(DATA[:16, :12].copy()))
    with pytest.raises(ValueError, match="shorter than its"):
        codec.decode_into(stored[:10], (16, 12), np.dtype("<i4"), np.zeros((16, 12), "<i4"))
