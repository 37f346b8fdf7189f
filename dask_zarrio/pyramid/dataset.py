"""xarray inputs: a DataArray's dims are the axes; a Dataset becomes a pyramid of groups.

With ``convention="multiscales"`` each level is a group holding every variable, the
downsampled dimensions' coordinates coarsened (the mean of the cells each level cell covers,
as ``ds.coarsen(...).mean()`` gives for even sizes), readable by ``xr.open_zarr``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dask.array as da
import numpy as np

from ..errors import ZarrioError
from ..graph.progress import compute as compute_with_progress
from ..hierarchy import consolidate
from ..metadata.group import GroupMetadata
from ..metadata.writer import write_node
from ..writing.modes import prepare_node
from ..writing.parents import ensure_parent_groups
from .levels import task_block_cap
from .reduce import downsample
from .write import _level_target, begin_levels, finish_levels, pyramid_spec

__all__ = ["split_xarray", "write_dataset_pyramid"]


def split_xarray(arr: Any, axes: Any, convention: str) -> tuple[Any, Any, Any]:
    """``(array, axes, dataset)``: a DataArray's data and dims, or a Dataset for the group pyramid."""
    kind = type(arr).__name__
    module = type(arr).__module__
    if not module.startswith("xarray"):
        return arr, axes, None
    if kind == "DataArray":
        return arr.data, list(arr.dims) if axes is None else axes, None
    if kind == "Dataset":
        if convention != "multiscales":
            raise ZarrioError(f"an xarray Dataset makes a pyramid of groups, which convention='multiscales' "
                              f"describes, not convention={convention!r}; pass one DataArray for OME-Zarr")
        return None, axes, arr
    raise ZarrioError(f"arr={kind} is not an array, a DataArray or a Dataset")


def _down_dims(ds: Any, factors: Any) -> dict[str, int]:
    """The factor per dimension: a dict by name, or an int for the two last dims of the first image variable."""
    if isinstance(factors, dict):
        unknown = sorted(set(factors) - set(ds.dims))
        if unknown:
            raise ZarrioError(f"factors={factors!r} names {unknown}, which are not dimensions of the Dataset")
        return {str(k): int(v) for k, v in factors.items() if int(v) > 1}
    image = next((v for v in ds.data_vars.values() if v.ndim >= 2), None)
    if image is None:
        raise ZarrioError("a Dataset pyramid needs a data variable of 2 or more dimensions to downsample")
    return {str(d): int(factors) for d in image.dims[-2:]}


def _small_level(values: Any, dims: tuple[str, ...], down: dict[str, int], level: int, method: str) -> np.ndarray:
    """A coordinate (or another small variable) at ``level``: each level from the one before."""
    out = np.asarray(values)
    factors = tuple(down.get(d, 1) for d in dims)
    how = method if out.dtype.kind in "fcuib" else "nearest"
    for _ in range(level):
        out = downsample(out, factors, how) if any(f > 1 for f in factors) else out
    return out


def _is_image(var: Any, down: dict[str, int]) -> bool:
    return var.ndim >= 2 and any(d in down for d in var.dims) and var.dtype.kind in "fcuib"


def write_dataset_pyramid(ds: Any, url: Any, *, levels: int | None, factors: Any, method: str, chunks: Any,
                          shards: Any, compressors: Any, mode: str, progress: bool | str,
                          storage_options: dict[str, Any] | None) -> None:
    """Each level a group of every variable; image variables in one pass, small ones directly."""
    from ..api import write
    from ..writing.target import open_target

    down = _down_dims(ds, factors)
    images = {str(k): v for k, v in {**ds.data_vars, **ds.coords}.items() if _is_image(v, down)}
    if not images:
        raise ZarrioError(f"no variable of the Dataset has the dimensions {sorted(down)} to downsample")
    store = open_target(url, storage_options).store
    prepare_node(store, mode)
    ensure_parent_groups(store, 3)
    write_node(store, GroupMetadata(3, {}))
    cap = task_block_cap()
    by_dim = _chunks_by_dim(chunks, next(iter(images.values())).dims)
    specs, collections, all_levels = {}, [], []
    for name, var in images.items():
        data = var.data if isinstance(var.data, da.Array) else da.from_array(np.asarray(var.data), chunks="auto")
        spec = pyramid_spec(data.shape, data.dtype, levels=levels, factors={d: down.get(str(d), 1) for d in var.dims},
                            method=method, axes=[str(d) for d in var.dims], units=None, scale=None, translation=None,
                            convention="multiscales", chunks=_for(by_dim, var.dims, data.shape),
                            shards=_for(_chunks_by_dim(shards, var.dims), var.dims, None), cap=cap)
        levels = len(spec.plan.levels)  # every variable gets as many levels as the first
        specs[name] = spec
        for n in range(levels):
            write_node(store.child(str(n)), GroupMetadata(3, _json_attrs(ds.attrs)))
        targets = [_level_target(store, spec, n, data.dtype, compressors, cap, False, member=name)
                   for n in range(levels)]
        collections.append(begin_levels(data, store, spec, targets))
        all_levels.extend(targets)
    assert levels is not None
    for name, var in {**ds.coords, **ds.data_vars}.items():
        if str(name) not in images:
            for n in range(levels):
                values = _small_level(var.values, tuple(str(d) for d in var.dims), down, n, method)
                write(values, store.child(f"{n}/{name}"), mode="w", dimension_names=[str(d) for d in var.dims],
                      attributes=_json_attrs(var.attrs), chunks=values.shape or None)
    compute_with_progress(*collections, progress=progress)
    finish_levels(all_levels)
    _describe_levels(store, ds, images, levels)
    first = next(iter(specs.values()))
    meta = GroupMetadata(3, {**_json_attrs(ds.attrs), **first.pyramid.to_attributes()})
    for n in range(levels):
        consolidate(store.child(str(n)))  # each level opens alone with xr.open_zarr, as the convention advises
    write_node(store, meta)
    consolidate(store)


def _chunks_by_dim(chunks: Any, dims: Any) -> dict[str, int] | None:
    """``chunks`` (a dict by dimension, or lengths along ``dims``) as a dict by dimension."""
    if chunks is None or isinstance(chunks, dict):
        return chunks
    lengths = [chunks] * len(dims) if isinstance(chunks, int) else list(chunks)
    if len(lengths) != len(dims):
        raise ZarrioError(f"chunks={chunks!r} must give one length per dimension of {tuple(dims)}, or be a dict")
    return {str(d): int(n) for d, n in zip(dims, lengths)}


def _for(by_dim: dict[str, int] | None, dims: Any, shape: Any) -> tuple[int, ...] | None:
    """A variable's lengths from a dict by dimension (its whole extent where the dict is silent)."""
    if by_dim is None:
        return None
    return tuple(by_dim.get(str(d), n if shape is not None else 1) for d, n in zip(dims, shape or [1] * len(dims)))


def _json_attrs(attrs: Any) -> dict[str, Any]:
    return {str(k): (v.tolist() if isinstance(v, np.ndarray | np.generic) else v) for k, v in attrs.items()}


def _describe_levels(store: Any, ds: Any, images: dict[str, Any], levels: int) -> None:
    """Each image array's attributes, and ``coordinates`` naming the non-index coordinates, as xarray reads them."""
    from ..metadata.node import read_node

    others = [str(c) for c in ds.coords if c not in ds.dims]
    for name, var in images.items():
        attrs = _json_attrs(var.attrs)
        if name in ds.data_vars and others:
            attrs["coordinates"] = " ".join(others)
        if not attrs:
            continue
        for n in range(levels):
            node = store.child(f"{n}/{name}")
            meta = read_node(node)
            write_node(node, dataclasses.replace(meta, attributes=attrs))
