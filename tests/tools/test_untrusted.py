"""Inspecting an untrusted store never executes it: pickle stays opt-in in verify, tree, info and advise (issue 28).

Each store holds a real pickle payload whose execution is observable: unpickling it
creates a marker file. Every entry point is run, and the marker must never appear.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio.errors import UnsafeCodecError


class Payload:
    """Unpickling this opens (so creates) ``marker`` for writing: execution leaves a trace."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def _objects(marker: Path) -> bytes:
    arr = np.empty(1, dtype=object)
    arr[0] = Payload(str(marker))
    return pickle.dumps(arr)


#: name -> (metadata file, document, chunk key): every place a pickle codec may sit.
LAYOUTS = {
    "v2-filter": (".zarray", {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "|O", "compressor": None,
                              "filters": [{"id": "pickle"}], "fill_value": None, "order": "C"}, "0"),
    "v2-compressor": (".zarray", {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "|u1",
                                  "compressor": {"id": "pickle"}, "filters": None, "fill_value": 0,
                                  "order": "C"}, "0"),
    "v3-numcodecs": ("zarr.json", {"zarr_format": 3, "node_type": "array", "shape": [1], "data_type": "uint8",
                                   "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
                                   "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
                                   "codecs": [{"name": "bytes"}, {"name": "numcodecs.pickle"}]}, "c/0"),
}


def evil_array(root: Path, layout: str, marker: Path) -> Path:
    """An array at ``root`` whose one stored chunk, unpickled, creates ``marker``."""
    name, doc, key = LAYOUTS[layout]
    root.mkdir(parents=True)
    (root / name).write_text(json.dumps(doc))
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(_objects(marker))
    return root


@pytest.fixture(params=sorted(LAYOUTS))
def evil(tmp_path, request):
    """(array path, group path, marker): the array alone, and inside a group at ``g.zarr/evil``."""
    marker = tmp_path / "executed"
    group = tmp_path / "g.zarr"
    dz.create_group(str(group))
    evil_array(group / "evil", request.param, marker)
    return group / "evil", group, marker


def test_verify_reports_a_pickled_chunk_without_running_it(evil):
    array, group, marker = evil
    for url in (array, group):
        report = dz.verify(str(url))
        assert not marker.exists(), "verify executed the pickle payload"
        assert not report.ok
        (problem,) = report.problems
        assert problem.kind == "unsafe_codec" and problem.key in ("0", "c/0")
        assert "allow_pickle=True" in problem.message and problem.key in problem.message


def test_verify_with_a_checksum_runs_nothing(evil, tmp_path):
    array, _, marker = evil
    report = dz.verify(str(array), checksum=tmp_path / "sums.json")
    assert not marker.exists()
    assert {p.kind for p in report.problems} == {"unsafe_codec", "checksum"}


def test_inspecting_a_pickled_store_runs_nothing(evil):
    array, group, marker = evil
    assert "evil" in dz.open_group(str(group)).tree()
    assert dz.info(str(group))["arrays"]["evil"]["chunks_present"] == 1
    assert dz.info(str(array))["chunks_present"] == 1
    with pytest.raises(UnsafeCodecError, match="allow_pickle=True"):
        dz.read(str(array)).compute()
    with pytest.raises(UnsafeCodecError, match="allow_pickle=True"):
        dz.open_group(str(group))["evil"]
    assert not marker.exists()


def test_advise_refuses_to_decode_pickle(tmp_path):
    marker = tmp_path / "executed"
    array = evil_array(tmp_path / "a.zarr", "v3-numcodecs", marker)
    with pytest.raises(UnsafeCodecError, match="allow_pickle=True"):
        dz.advise(str(array))
    assert not marker.exists()


def test_verify_decodes_pickle_only_when_the_user_opts_in(evil):
    array, _, marker = evil
    dz.verify(str(array), allow_pickle=True)
    assert marker.exists()  # the opt-in really decodes: the payload is live, the refusals above are real
