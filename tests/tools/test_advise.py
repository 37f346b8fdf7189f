"""dz.advise called directly: the candidates it tries, the Advice it returns (rows measured
on a sample of the array's own chunks, sorted by the objective; the best; the dz copy line)
and what it refuses; what ``dz advise`` prints is in tests/cli/test_cli.py."""

from __future__ import annotations

import json
import math
import shlex

import dask.array as da
import numcodecs
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.metadata import ArraySpec
from dask_zarrio.metadata.node import read_node
from dask_zarrio.store import open_store
from dask_zarrio.tools.advise import Advice, candidates

WAVE = np.sin(np.linspace(0, 20, 4000)).reshape(40, 100)


@pytest.fixture
def wave(tmp_path) -> str:
    """A smooth float64 array in 4 stored chunks of 10 x 100."""
    url = str(tmp_path / "f.zarr")
    dz.write(da.from_array(WAVE, chunks=(10, 100)), url, chunks=(10, 100))
    return url


def _reencoded_ratio(row: dict, sample: list[np.ndarray]) -> float:
    """The ratio of a row's pipeline, computed here with numcodecs from its configs."""
    filters = [numcodecs.get_codec(f) for f in row["filters"]]
    compressor = numcodecs.get_codec(row["compressor"])
    stored = 0
    for chunk in sample:
        data = chunk
        for f in filters:
            data = f.encode(data)
        stored += len(compressor.encode(np.ascontiguousarray(data)))
    return round(sum(c.nbytes for c in sample) / stored, 3)


def test_candidates_lossless_for_integers_lossy_filters_for_floats_within_a_tolerance():
    ints = candidates(np.dtype("i4"))
    assert len(ints) == 24 and all(filters == [] for filters, _ in ints)
    assert candidates(np.dtype("i4"), lossy_tolerance=0.01) == ints  # no lossy filter for integers
    floats = candidates(np.dtype("f4"), lossy_tolerance=0.01)
    lossy = [filters[0].codec_id for filters, _ in floats if filters]
    assert len(floats) == 24 + 4 and sorted(set(lossy)) == ["bitround", "quantize"]
    (quantize,) = {f[0].digits for f, _ in floats if f and f[0].codec_id == "quantize"}
    assert quantize == 2  # 10**-2 is the tolerance


def test_advice_rows_are_what_re_encoding_the_sample_gives(wave):
    advice = dz.advise(wave, sample=2)
    assert isinstance(advice, Advice) and advice.objective == "ratio"
    assert advice.sampled_chunks == ["c/0/0", "c/3/0"]  # spread evenly: the first and the last
    store = open_store(wave)
    spec = ArraySpec.from_metadata(read_node(store))
    sample = [spec.pipeline.decode(store.get(k)) for k in advice.sampled_chunks]
    assert advice.sample_bytes == sum(c.nbytes for c in sample) == 2 * 10 * 100 * 8
    assert len(advice.rows) == 24  # every lossless candidate, none dropped
    for row in advice.rows:
        assert row["ratio"] == _reencoded_ratio(row, sample), row["pipeline"]
        assert row["max_error"] == 0.0 and row["encode_mb_s"] > 0 and row["decode_mb_s"] > 0
    assert [r["ratio"] for r in advice.rows] == sorted((r["ratio"] for r in advice.rows), reverse=True)
    assert advice.best == advice.rows[0]


def test_a_lossy_tolerance_keeps_only_rows_within_it(wave):
    advice = dz.advise(wave, sample=4, lossy_tolerance=0.001)
    assert any(r["filters"] for r in advice.rows)
    assert all(r["max_error"] <= 0.001 for r in advice.rows)
    assert advice.best["filters"] and advice.best["ratio"] > dz.advise(wave, sample=4).best["ratio"]


@pytest.mark.parametrize(("objective", "column"), [("encode", "encode_mb_s"), ("decode", "decode_mb_s")])
def test_rows_are_sorted_by_the_objective(wave, objective, column):
    rows = dz.advise(wave, sample=1, objective=objective).rows
    assert [r[column] for r in rows] == sorted((r[column] for r in rows), reverse=True)


def test_balanced_puts_first_the_best_geometric_mean(wave):
    rows = dz.advise(wave, sample=1, objective="balanced").rows
    columns = ("ratio", "encode_mb_s", "decode_mb_s")
    top = {k: max(r[k] for r in rows) for k in columns}
    score = [math.prod(r[k] / top[k] for k in columns) ** (1 / 3) for r in rows]
    assert score == sorted(score, reverse=True)


def test_command_applies_the_best_pipeline(wave):
    advice = dz.advise(wave, sample=2, lossy_tolerance=0.001)
    args = shlex.split(advice.command)
    assert args[:4] == ["dz", "copy", open_store(wave).describe(), "DEST"]
    assert json.loads(args[args.index("--compressors") + 1]) == advice.best["compressor"]
    assert json.loads(args[args.index("--filters") + 1]) == advice.best["filters"]
    assert advice.to_dict()["command"] == advice.command and advice.to_dict()["best"] == advice.best


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": "smallest"}, "objective='smallest' must be one of"),
    ({"sample": 0}, "sample=0 must be a positive number of chunks"),
    ({"lossy_tolerance": -1.0}, "lossy_tolerance=-1.0 must be a positive absolute error"),
])
def test_bad_arguments_are_refused(wave, kwargs, message):
    with pytest.raises(dz.ZarrioError, match=message):
        dz.advise(wave, **kwargs)


def test_what_it_cannot_measure_is_refused(tmp_path):
    group = str(tmp_path / "g.zarr")
    dz.create_group(group)
    with pytest.raises(dz.ZarrioError, match="is a group; dz.advise needs an array"):
        dz.advise(group)
    empty = str(tmp_path / "empty.zarr")
    dz.write(da.zeros(10, chunks=5), empty)  # fill values only: nothing stored
    with pytest.raises(dz.ZarrioError, match="has no stored chunks to sample"):
        dz.advise(empty)
    strings = str(tmp_path / "s.zarr")
    dz.write(np.array(["a", "bc"]), strings)
    with pytest.raises(dz.ZarrioError, match="measures numeric arrays"):
        dz.advise(strings)
