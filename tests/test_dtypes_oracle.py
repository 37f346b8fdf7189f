"""Every data type × v2/v3/sharded × edge chunks × missing chunks, against zarr-python 3.1 and tensorstore.

zarr-python 3.1.6 (the oldest release claimed) is the oracle in both directions; the
newest (3.4) is checked through the golden stores of ``tests/fixtures/zarr34/cases_dtypes.py``
(``tests/test_fixtures_zarr34.py``).
Each array is 7×5 in 3×2 chunks (edge chunks on both axes) with its first chunk all fill
value, which neither writer stores (a missing chunk).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import assert_same

import dask_zarrio as dz
from dask_zarrio.metadata.create import default_fill_value
from dask_zarrio.testing.strategies import TIME_UNITS, array_data

ts = pytest.importorskip("tensorstore")

SHAPE, CHUNKS, SHARDS = (7, 5), (3, 2), (6, 4)
STRUCT_FLAT = [("a", "<i4"), ("d", ">f4"), ("e", "U2"), ("f", "S3"), ("h", "c8")]
STRUCT_NESTED = [("a", "<i2"), ("b", [("c", "u1"), ("d", ">f4")])]
STRUCT_RAW = [("a", "<i2"), ("g", "V2")]
STRUCT_TIMES = [("t", "M8[s]"), ("dt", "m8[3h]"), ("ok", "?")]
FIXED = ["bool", "i1", ">i2", "u8", "f2", ">f8", "c16", "U3", "S4", "V3"]
TIMES = [f"{code}[{u}]" for code, u in zip(["M8", "m8"] * 7, TIME_UNITS)] + ["M8[10s]", "m8[3W]"]
STRUCTS = [STRUCT_FLAT, STRUCT_NESTED, STRUCT_RAW, STRUCT_TIMES, [("x", "u1")]]
FORMATS = ["v2", "v3", "sharded"]


def _zarr_31_handles(dtype: np.dtype, fmt: str) -> bool:
    """What zarr-python 3.1.6 itself round-trips; the golden stores cover zarr-python 3.4."""
    if dtype.kind == "V" and fmt == "sharded":
        return False  # its shard spec hashes the fill value: "unhashable type: void-scalar"
    if dtype.names is None:
        return True
    if fmt != "v2" and _native(dtype) != dtype:
        return False  # it stores big-endian fields as they are, declares no byte order, reads them wrong
    subs = [dtype.fields[n][0] for n in dtype.names]
    if any(s.kind == "V" and s.names is None for s in subs):
        return False  # raw-bytes fields: "a bytes-like object is required, not 'int'"
    if fmt == "v2" and any(s.names is not None for s in subs):
        return False  # nested v2 structs: "No Zarr data type found"
    # v2 structs holding datetimes: numcodecs refuses their buffer ("cannot include dtype 'M'").
    return not (fmt == "v2" and any(s.kind in "Mm" for s in subs))


def _cases(dtypes: list[object], *, dz_writes: bool) -> list[object]:
    """``dz_writes``: dz writes and zarr-python 3.1 reads, where v3 structs are left out:
    dz writes zarr-python 3.4's ``struct``, which 3.1 predates (it reads its own ``structured``)."""
    out = []
    for d in dtypes:
        for fmt in FORMATS:
            dtype = np.dtype(d)
            writes_struct = dz_writes and dtype.names is not None and fmt != "v2"
            if _zarr_31_handles(dtype, fmt) and not writes_struct:
                out.append(pytest.param(dtype, fmt, id=f"{dtype}-{fmt}"))
    return out


def _dz_cases(dtypes: list[object]) -> list[object]:
    return [pytest.param(np.dtype(d), fmt, id=f"{np.dtype(d)}-{fmt}") for d in dtypes for fmt in FORMATS
            if np.dtype(d).names is None or fmt == "v2" or all(
                np.dtype(d).fields[n][0].subdtype is None for n in np.dtype(d).names)]


def _data(dtype: np.dtype) -> np.ndarray:
    """Varied data whose first chunk is all fill value: a chunk that is not stored."""
    data = array_data(dtype, SHAPE, seed=3)
    fill = default_fill_value(dtype)
    data[: CHUNKS[0], : CHUNKS[1]] = fill
    return data


def _kwargs(fmt: str) -> dict[str, object]:
    if fmt == "v2":
        return {"zarr_format": 2}
    return {"zarr_format": 3, **({"shards": SHARDS} if fmt == "sharded" else {})}


def _expected(dtype: np.dtype, fmt: str) -> np.dtype:
    """v3 data types have no byte order: they read back native."""
    return dtype if fmt == "v2" else np.dtype(dtype).newbyteorder("=") if dtype.names is None else _native(dtype)


def _native(dtype: np.dtype) -> np.dtype:
    from dask_zarrio.metadata.structs import packed

    return packed(dtype)


def _chunk_keys(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")
            if p.is_file() and not p.name.startswith((".z", "zarr.json"))}


@pytest.mark.parametrize("dtype,fmt", _cases(FIXED + TIMES + STRUCTS, dz_writes=True))
def test_zarr_31_reads_what_dz_writes(tmp_path: Path, dtype: np.dtype, fmt: str) -> None:
    data = _data(dtype)
    url = tmp_path / "a.zarr"
    dz.write(data, str(url), chunks=CHUNKS, **_kwargs(fmt))
    if fmt == "v2":
        assert "0.0" not in _chunk_keys(url), "the all-fill chunk is not stored"
    back = zarr.open_array(str(url), mode="r")[...]
    assert_same(back, data.astype(_expected(dtype, fmt)))
    assert_same(dz.read(str(url)).compute(), data.astype(_expected(dtype, fmt)))


@pytest.mark.parametrize("dtype,fmt", _dz_cases(FIXED + TIMES + STRUCTS))
def test_dz_round_trips(tmp_path: Path, dtype: np.dtype, fmt: str) -> None:
    """Every data type, including those zarr-python 3.1 cannot handle, through dz alone."""
    data = _data(dtype)
    url = tmp_path / "a.zarr"
    dz.write(data, str(url), chunks=CHUNKS, **_kwargs(fmt))
    assert_same(dz.read(str(url)).compute(), data.astype(_expected(dtype, fmt)))
    sl = (slice(1, 6), slice(1, 4))
    assert_same(dz.read(str(url), chunks=(2, 3))[sl].compute(), data.astype(_expected(dtype, fmt))[sl])


@pytest.mark.parametrize("dtype,fmt", _cases(FIXED + TIMES + STRUCTS, dz_writes=False))
def test_dz_reads_what_zarr_31_writes(tmp_path: Path, dtype: np.dtype, fmt: str) -> None:
    data = _data(dtype)
    url = tmp_path / "a.zarr"
    kwargs = {"shards": SHARDS} if fmt == "sharded" else {}
    z = zarr.create_array(str(url), shape=SHAPE, chunks=CHUNKS, dtype=dtype,
                          zarr_format=2 if fmt == "v2" else 3, **kwargs)
    z[...] = data
    assert_same(dz.read(str(url)).compute(), data.astype(_expected(dtype, fmt)))
    assert_same(dz.read(str(url), chunks=(2, 3)).compute()[1:6, 1:4], data.astype(_expected(dtype, fmt))[1:6, 1:4])


def test_dz_rewrites_zarr_31_structured_as_it_was(tmp_path: Path) -> None:
    """zarr-python 3.1 names structs "structured" with a base64 fill value; dz keeps both on append."""
    dtype = _native(np.dtype(STRUCT_FLAT))
    url = tmp_path / "a.zarr"
    z = zarr.create_array(str(url), shape=(3,), chunks=(2,), dtype=dtype, fill_value=(1, 3.0, "é", b"z", 1j))
    z[:2] = array_data(dtype, (2,))
    before = json.loads((url / "zarr.json").read_text())
    assert before["data_type"]["name"] == "structured"
    dz.write(array_data(dtype, (2,)), str(url), append_dim=0)
    after = json.loads((url / "zarr.json").read_text())
    assert (after["data_type"], after["fill_value"], after["shape"]) == (before["data_type"], before["fill_value"], [5])
    assert_same(zarr.open_array(str(url), mode="r")[...], dz.read(str(url)).compute())


@pytest.mark.parametrize("fmt", ["v2", "v3"])
@pytest.mark.parametrize("field", ["a", "h", "x"])
def test_tensorstore_reads_struct_fields_dz_writes(tmp_path: Path, fmt: str, field: str) -> None:
    """tensorstore opens one field of a struct at a time; it has no nested, text or time fields."""
    dtype = np.dtype([("a", "<i4"), ("h", "<c8"), ("x", "u1")])
    data = _data(dtype)
    dz.write(data, str(tmp_path / "a"), chunks=CHUNKS, **_kwargs(fmt))
    driver = "zarr" if fmt == "v2" else "zarr3"
    t = ts.open({"driver": driver, "field": field, "kvstore": {"driver": "file", "path": str(tmp_path / "a")}}).result()
    back = t.read().result()
    np.testing.assert_array_equal(back, data[field])


@pytest.mark.parametrize("fmt", ["v2", "v3"])
def test_dz_reads_struct_tensorstore_writes(tmp_path: Path, fmt: str) -> None:
    spec = {
        "driver": "zarr" if fmt == "v2" else "zarr3", "field": "x",
        "kvstore": {"driver": "file", "path": str(tmp_path / "a")},
    }
    if fmt == "v2":
        spec["metadata"] = {"dtype": [["x", "<i2"], ["y", "<f8"]], "shape": [5], "chunks": [2], "compressor": None}
    else:
        spec["metadata"] = {"data_type": {"name": "struct", "configuration": {"fields": [
            {"name": "x", "data_type": "int16"}, {"name": "y", "data_type": "float64"}]}},
            "shape": [5], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}}
    t = ts.open(spec, create=True).result()
    t[1:4] = np.array([5, -6, 7], "i2")
    back = dz.read(str(tmp_path / "a")).compute()
    np.testing.assert_array_equal(back["x"], [0, 5, -6, 7, 0])
    np.testing.assert_array_equal(back["y"], [0, 0, 0, 0, 0])
