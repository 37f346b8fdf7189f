"""The pyramid's metadata documents, one convention each, written and read back.

* ``"ome-zarr-0.5"``: OME-Zarr 0.5 (https://ngff.openmicroscopy.org/0.5/): Zarr v3, everything
  under ``attributes["ome"]``, ``version: "0.5"``; each level array has ``dimension_names``.
* ``"ome-zarr-0.4"``: OME-Zarr 0.4 (https://ngff.openmicroscopy.org/0.4/): Zarr v2, ``.zattrs``
  ``multiscales`` with ``version: "0.4"``, chunk keys separated by ``/``.
* ``"multiscales"``: the zarr-conventions ``multiscales`` v1 attribute
  (https://github.com/zarr-conventions/multiscales): ``layout`` entries ``{asset, derived_from,
  transform: {scale, translation}}``, each transform relative to the level it derives from,
  the convention registered in ``attributes["zarr_conventions"]``.

:class:`Pyramid` holds what every convention says (axes, and each level's path and absolute
scale and translation); :meth:`Pyramid.to_attributes` writes one convention's attributes,
:func:`from_attributes` reads any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MetadataError, ZarrioError
from .levels import Axis

__all__ = ["CONVENTIONS", "MULTISCALES_CONVENTION", "Level", "Pyramid", "from_attributes", "zarr_format_of"]

#: The convention's registration, as its schema requires it in ``zarr_conventions``.
MULTISCALES_CONVENTION = {
    "schema_url": "https://raw.githubusercontent.com/zarr-conventions/multiscales/refs/tags/v1/schema.json",
    "spec_url": "https://github.com/zarr-conventions/multiscales/blob/v1/README.md",
    "uuid": "d35379db-88df-4056-af3a-620245f8e347",
    "name": "multiscales",
    "description": "Multiscale layout of zarr datasets",
}
CONVENTIONS = ("ome-zarr-0.5", "ome-zarr-0.4", "multiscales")
#: The method names the multiscales convention lists for ours.
RESAMPLING = {"mean": "average", "nearest": "nearest", "mode": "mode", "min": "min", "max": "max"}


def zarr_format_of(convention: str) -> int:
    """The Zarr format a convention's arrays are written in.

    Examples
    --------
    >>> zarr_format_of("ome-zarr-0.4")
    2
    """
    if convention not in CONVENTIONS:
        raise ZarrioError(f"convention={convention!r} is not one of {list(CONVENTIONS)}")
    return 2 if convention == "ome-zarr-0.4" else 3


@dataclass(frozen=True)
class Level:
    """One level: its path under the group, and its absolute scale and translation per axis."""

    path: str
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None = None

    def transformations(self) -> list[dict[str, Any]]:
        """OME ``coordinateTransformations``: the scale, then the translation where there is one."""
        out: list[dict[str, Any]] = [{"type": "scale", "scale": list(self.scale)}]
        if self.translation is not None:
            out.append({"type": "translation", "translation": list(self.translation)})
        return out


@dataclass(frozen=True)
class Pyramid:
    """A pyramid as its metadata describes it; levels finest first.

    Examples
    --------
    >>> axes = (Axis("y", "space"), Axis("x", "space"))
    >>> p = Pyramid("ome-zarr-0.5", axes, (Level("0", (1.0, 1.0)), Level("1", (2.0, 2.0), (0.5, 0.5))), "mean")
    >>> from_attributes(p.to_attributes()) == p
    True
    """

    convention: str
    axes: tuple[Axis, ...]
    levels: tuple[Level, ...]
    method: str | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def paths(self) -> list[str]:
        return [lv.path for lv in self.levels]

    def to_attributes(self) -> dict[str, Any]:
        """The group attributes of this pyramid in its convention."""
        if self.convention == "multiscales":
            return self._multiscales_attributes()
        entry: dict[str, Any] = {}
        if self.convention == "ome-zarr-0.4":
            entry["version"] = "0.4"
        if self.name is not None:
            entry["name"] = self.name
        entry["axes"] = [a.to_dict() for a in self.axes]
        entry["datasets"] = [{"path": lv.path, "coordinateTransformations": lv.transformations()}
                             for lv in self.levels]
        if self.method is not None:
            entry["type"] = self.method
        if self.convention == "ome-zarr-0.4":
            return {"multiscales": [entry]}
        return {"ome": {"version": "0.5", "multiscales": [entry]}}

    def _multiscales_attributes(self) -> dict[str, Any]:
        layout: list[dict[str, Any]] = []
        previous: Level | None = None
        for lv in self.levels:
            item: dict[str, Any] = {"asset": lv.path}
            if previous is None:
                item["transform"] = {"scale": [1.0] * len(lv.scale), "translation": [0.0] * len(lv.scale)}
            else:
                rel = [s / p for s, p in zip(lv.scale, previous.scale)]
                here, before = lv.translation or (0.0,) * len(rel), previous.translation or (0.0,) * len(rel)
                shift = [(t - b) / p for t, b, p in zip(here, before, previous.scale)]
                item["derived_from"] = previous.path
                item["transform"] = {"scale": rel, "translation": shift}
                if self.method is not None:
                    item["resampling_method"] = RESAMPLING.get(self.method, self.method)
            layout.append(item)
            previous = lv
        body: dict[str, Any] = {"layout": layout}
        if self.method is not None:
            body["resampling_method"] = RESAMPLING.get(self.method, self.method)
        return {"zarr_conventions": [dict(MULTISCALES_CONVENTION)], "multiscales": body}


def _floats(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise MetadataError(f"{where}={value!r} must be a list of numbers")
    return tuple(float(v) for v in value)


def _ome_level(dataset: Any, i: int) -> Level:
    if not isinstance(dataset, dict) or not isinstance(dataset.get("path"), str):
        raise MetadataError(f"multiscales datasets[{i}]={dataset!r} needs a 'path' string")
    scale, translation = None, None
    for t in dataset.get("coordinateTransformations", []):
        if isinstance(t, dict) and t.get("type") == "scale":
            scale = _floats(t.get("scale"), f"datasets[{i}] scale")
        elif isinstance(t, dict) and t.get("type") == "translation":
            translation = _floats(t.get("translation"), f"datasets[{i}] translation")
    if scale is None:
        raise MetadataError(f"multiscales datasets[{i}] (path {dataset['path']!r}) has no scale transformation")
    return Level(dataset["path"], scale, translation)


def _ome(entry: Any, convention: str) -> Pyramid:
    if not isinstance(entry, dict) or not isinstance(entry.get("datasets"), list) or not entry["datasets"]:
        raise MetadataError(f"multiscales[0]={entry!r} needs a non-empty 'datasets' list")
    axes = tuple(
        Axis(str(a.get("name")), a.get("type"), a.get("unit")) if isinstance(a, dict) else Axis(str(a), None)
        for a in entry.get("axes", [])
    )
    levels = tuple(_ome_level(d, i) for i, d in enumerate(entry["datasets"]))
    return Pyramid(convention, axes, levels, entry.get("type"), entry.get("name"), extra=entry)


def _layout(body: Any) -> Pyramid:
    layout = body.get("layout") if isinstance(body, dict) else None
    if not isinstance(layout, list) or not layout:
        raise MetadataError(f"multiscales={body!r} needs a non-empty 'layout' list")
    levels: list[Level] = []
    by_path: dict[str, Level] = {}
    for i, item in enumerate(layout):
        if not isinstance(item, dict) or not isinstance(item.get("asset"), str):
            raise MetadataError(f"multiscales layout[{i}]={item!r} needs an 'asset' string")
        transform = item.get("transform") or {}
        rel = _floats(transform.get("scale", []), f"layout[{i}] transform scale")
        shift = _floats(transform.get("translation", [0.0] * len(rel)), f"layout[{i}] transform translation")
        source = by_path.get(item.get("derived_from", ""))
        if source is None:
            level = Level(item["asset"], rel or (), shift if any(shift) else None)
        else:
            before = source.translation or (0.0,) * len(rel)
            scale = tuple(p * r for p, r in zip(source.scale, rel))
            level = Level(item["asset"], scale, tuple(b + s * p for b, s, p in zip(before, shift, source.scale)))
        levels.append(level)
        by_path[level.path] = level
    names = {"average": "mean"}
    method = body.get("resampling_method")
    return Pyramid("multiscales", (), tuple(levels), names.get(method, method), extra=body)


def from_attributes(attributes: dict[str, Any]) -> Pyramid | None:
    """The pyramid a group's attributes describe (in any of :data:`CONVENTIONS`), or ``None``.

    The multiscales convention names no axes: :attr:`Pyramid.axes` is empty until the caller
    fills it from the level arrays' dimension names.

    Examples
    --------
    >>> from_attributes({"a": 1}) is None
    True
    >>> from_attributes({"multiscales": [{"version": "0.4", "axes": ["y", "x"], "datasets": [
    ...     {"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}]}]}).paths
    ['s0']
    """
    ome = attributes.get("ome")
    if isinstance(ome, dict) and "multiscales" in ome:
        entries = ome["multiscales"]
        return _ome(entries[0] if isinstance(entries, list) and entries else None, "ome-zarr-0.5")
    body = attributes.get("multiscales")
    if isinstance(body, list):
        version = body[0].get("version") if body and isinstance(body[0], dict) else None
        return _ome(body[0] if body else None, f"ome-zarr-{version or '0.4'}")
    if isinstance(body, dict):
        return _layout(body)
    return None


def with_axes(pyramid: Pyramid, names: Sequence[str | None]) -> Pyramid:
    """``pyramid`` with axes named after the level arrays' dimension names, where it had none."""
    if pyramid.axes:
        return pyramid
    axes = tuple(Axis(str(n) if n is not None else f"dim_{i}", None) for i, n in enumerate(names))
    return Pyramid(pyramid.convention, axes, pyramid.levels, pyramid.method, pyramid.name, pyramid.extra)
