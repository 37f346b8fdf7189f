"""The HTML displays in Jupyter: a group, dz.info, dz.plan, dz.verify; names from strangers stay text."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser

import dask.array as da
import numpy as np
import pytest

import dask_zarrio as dz
from dask_zarrio import display
from dask_zarrio.store import MappingStore

#: Names a stranger may give a member, an attribute, a dimension: each would run, or break the page, unescaped.
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</td></tr></table><b>bold</b>",
    '" onmouseover="alert(1)',
    "&lt;already-escaped&gt;",
]
#: The only tags the displays write.
TAGS = {"style", "div", "span", "details", "summary", "table", "thead", "tbody", "tr", "th", "td"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(markup: str) -> _Tags:
    """The display's tags, attributes and text, checked to be only what the displays write."""
    p = _Tags()
    p.feed(markup)
    p.close()
    assert set(p.tags) <= TAGS, set(p.tags) - TAGS
    assert {name for name, _ in p.attrs} <= {"class", "open"}, p.attrs
    return p


def member(name: str) -> str:
    """``name`` as one member's name (a "/" would make it a path of several)."""
    return name.replace("/", "")


def hostile_store(name: str) -> dict[str, bytes]:
    """A v3 hierarchy whose member, attributes and dimension names are ``name``."""
    m: dict[str, bytes] = {}
    root = MappingStore(m)
    dz.create_group(root, attributes={name: name, "nested": {name: [name]}}, mode="w")
    arr = da.from_array(np.arange(4.0), chunks=2)
    dz.write(arr, root.child(member(name)), mode="w", dimension_names=[name], attributes={name: name})
    dz.create_group(root.child(f"sub/{member(name)}"), attributes={"title": name}, mode="w")
    return m


def displays(m: dict[str, bytes], name: str) -> dict[str, str]:
    """Every display of the hostile hierarchy, and of a plan and a verify report naming it."""
    group = dz.open_group(m)
    m[f"{member(name)}/c/1"] = b"not zstd"  # a corrupt chunk: its key and the codec's message are reported
    plan = dz.plan("copy", MappingStore(m), MappingStore({}).child(member(name)))
    return {
        "group": group._repr_html_(),
        "group info": dz.info(m)._repr_html_(),
        "array info": dz.info(MappingStore(m).child(member(name)))._repr_html_(),
        "plan": plan._repr_html_(),
        "verify": dz.verify(m, scheduler="sync")._repr_html_(),
    }


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_show_as_text(name):
    m = hostile_store(name)
    for kind, markup in displays(m, name).items():
        p = parsed(markup)  # no tag or attribute a name brought
        text = "".join(p.text)
        assert member(name) in text, (kind, name)  # shown, as text
        if kind not in ("plan", "verify"):  # these name no attribute
            assert name in text or json.dumps(name)[1:-1] in text, (kind, name)


def test_every_result_has_a_display():
    m = hostile_store("t")
    for kind, markup in displays(m, "t").items():
        assert markup.startswith("<style>") and "dz-repr" in markup, kind
        assert "<details" in markup and "<table>" in markup, kind


def test_group_display_shows_the_hierarchy():
    m: dict[str, bytes] = {}
    dz.create_group(m, attributes={"title": "demo"}, mode="w")
    dz.create_group(MappingStore(m).child("grp"), mode="w")
    dz.write(da.ones((4, 6), chunks=2), MappingStore(m).child("grp/temp"), chunks=(2, 2), shards=(4, 6), mode="w")
    text = "".join(parsed(dz.open_group(m)._repr_html_()).text)
    for part in ("dask_zarrio.Group", "title", '"demo"', "grp/", "temp", "(4, 6)", "(2, 2)", "sharding_indexed"):
        assert part in text, part
    consolidated = dz.consolidate(m)
    assert "consolidated" in consolidated._repr_html_()


def test_group_display_stops_after_max_nodes(monkeypatch):
    monkeypatch.setattr(display, "MAX_NODES", 2)
    m: dict[str, bytes] = {}
    dz.create_group(m, mode="w")
    for i in range(5):
        dz.write(da.ones(2, chunks=2), MappingStore(m, f"a{i}"), mode="w")
    markup = dz.open_group(m)._repr_html_()
    assert "a0" in markup and "a1" in markup and "a2" not in markup
    assert "3 more members not shown" in markup


def test_long_attribute_values_are_cut():
    m: dict[str, bytes] = {}
    dz.create_group(m, attributes={"history": "x" * 10_000}, mode="w")
    markup = dz.open_group(m)._repr_html_()
    assert "x" * display.MAX_VALUE_CHARS not in markup and "…" in markup


def test_info_is_still_a_json_dictionary():
    m: dict[str, bytes] = {}
    dz.write(da.ones(4, chunks=2), m, mode="w")
    doc = dz.info(m)
    assert isinstance(doc, dict) and json.loads(json.dumps(doc)) == dict(doc)
    assert doc["shape"] == [4]


def test_verify_display_gives_the_verdict():
    m: dict[str, bytes] = {}
    dz.write(da.ones(4, chunks=2), m, mode="w")
    assert "OK: no problem found" in dz.verify(m, scheduler="sync")._repr_html_()
    m["c/0"] = b"junk"
    markup = dz.verify(m, scheduler="sync")._repr_html_()
    assert "1 problem<" in markup and "corrupt_chunk" in markup and "c/0" in markup


def test_plan_display_gives_totals_and_passes():
    m: dict[str, bytes] = {}
    dz.write(da.ones((4, 4), chunks=(1, 4)), m, chunks=(1, 4), mode="w")
    p = dz.plan("rechunk", m, {}, chunks=(4, 1), threads=2)
    text = "".join(parsed(p._repr_html_()).text)
    assert f"GET {p.requests['get']}, PUT {p.requests['put']}" in text
    assert "(1, 4)" in text and "(4, 1)" in text and "per worker of 2 threads" in text


# -- Group.to_xarray, dz.open_dataset -----------------------------------------------------------
xr = pytest.importorskip("xarray")


@pytest.fixture
def dataset_url():
    ds = xr.Dataset({"t": (("time", "x"), np.arange(6.0).reshape(3, 2))},
                    coords={"time": np.array(["2000-01-01", "2000-01-02", "2000-01-03"], dtype="M8[ns]")})
    url = "memory://display/ds.zarr"
    dz.write_dataset(ds, url, mode="w")
    return url, ds


@pytest.mark.parametrize("how", ["open_dataset", "to_xarray", "to_xarray of a store"])
def test_open_dataset_and_to_xarray(dataset_url, how):
    url, ds = dataset_url
    if how == "open_dataset":
        got = dz.open_dataset(url)
    elif how == "to_xarray":
        got = dz.open_group(url).to_xarray()
    else:
        from dask_zarrio.store import open_store

        got = dz.open_group(open_store(url)).to_xarray()
    assert isinstance(got.t.data, da.Array)  # lazy: the stored chunks
    xr.testing.assert_identical(got.compute(), xr.open_dataset(url, engine="dask_zarrio", chunks={}).compute())
    xr.testing.assert_equal(got.compute(), ds)


def test_open_dataset_passes_keywords(dataset_url):
    url, _ = dataset_url
    got = dz.open_dataset(url, drop_variables=["t"], decode_times=False, chunks=None)
    assert "t" not in got and got.time.dtype.kind != "M"


def test_open_dataset_without_xarray_names_the_extra(dataset_url, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # as if not installed
    with pytest.raises(dz.MissingDependencyError, match=r"pip install 'dask_zarrio\[xarray\]'"):
        dz.open_dataset(dataset_url[0])
    with pytest.raises(ImportError):
        dz.open_group(dataset_url[0]).to_xarray()
