"""The docs' figures, drawn with matplotlib: ``python docs/figures.py`` (writes them beside this file).

- ``rechunk-diagram.svg``: a two-pass rechunk, source → intermediate → target, one task's block
  in each pass and the memory bound it keeps (docs/rechunking.md).
- ``rechunk-time-memory.svg``: seconds against peak memory of every contender of the rechunk
  benchmark, read from the first table under "## Measured" in docs/rechunking.md, so the picture
  shows the numbers the page gives (docs/rechunking.md, docs/performance.md).

- ``performance-speedup.svg``: dask_zarrio's speed over dask's own ``da.from_zarr``/``to_zarr``
  per case, read from the benchmark's table in docs/performance.md (docs/performance.md).

SVG with text kept as text and no date: small, and unchanged unless a number or a line changes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a script writing files; the notebooks show theirs inline
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "dask_zarrio"})
SOURCE, TEMP, TARGET, TASK = "#9ecae1", "#fdd0a2", "#a1d99b", "#d62728"


def _grid(ax, x0: float, rows: int, cols: int, color: str, title: str, note: str) -> None:
    """An array of 12 × 12 cells at ``x0`` split into ``rows`` × ``cols`` chunks."""
    h, w = 12 / rows, 12 / cols
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(Rectangle((x0 + c * w, r * h), w, h, facecolor=color, edgecolor="white", lw=0.8))
    ax.text(x0 + 6, 13.0, title, ha="center", va="bottom", weight="bold")
    ax.text(x0 + 6, -0.6, note, ha="center", va="top", color="#444")


def _task(ax, x: float, y: float, w: float, h: float, label: str) -> None:
    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=TASK, lw=2))
    ax.text(x + w / 2, y + h + 0.2, label, ha="center", va="bottom", color=TASK, fontsize=8)


def _arrow(ax, x0: float, x1: float, label: str) -> None:
    ax.add_patch(FancyArrowPatch((x0, 6), (x1, 6), arrowstyle="-|>", mutation_scale=14, color="#333"))
    ax.text((x0 + x1) / 2, 6.6, label, ha="center", va="bottom", fontsize=8)


def diagram(path: Path) -> None:
    """Source maps → intermediate → target series, with one task's block per pass."""
    fig, ax = plt.subplots(figsize=(8.4, 3.3))
    _grid(ax, 0, 12, 1, SOURCE, "source: maps", "chunks (1 day, whole map)")
    _grid(ax, 17, 3, 4, TEMP, "intermediate (temp)", "source chunks merged towards\nthe target, lz4 or plain")
    _grid(ax, 34, 1, 12, TARGET, "target: series", "chunks (every day, small area)")
    _task(ax, 0, 0, 12, 4, "a pass-1 task")
    _task(ax, 17, 0, 3, 12, "a pass-2 task")
    _task(ax, 34, 0, 3, 12, "")
    _arrow(ax, 12.5, 16.5, "pass 1")
    _arrow(ax, 29.5, 33.5, "pass 2")
    ax.text(23, -3.2, "every task:  block + one source chunk + 2 × target unit + fetched chunks  ≤  max_mem",
            ha="center", va="top", weight="bold")
    ax.text(23, -4.5, "one pass when a block can cover whole source chunks; the intermediate is deleted as "
            "pass 2 reads it", ha="center", va="top", color="#444", fontsize=8)
    ax.set_xlim(-1, 47)
    ax.set_ylim(-5.4, 14.2)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def measured(page: Path) -> list[tuple[str, float, float]]:
    """(contender, seconds, peak MiB) of the first table under "## Measured" in ``page``."""
    text = page.read_text().split("## Measured", 1)[1]
    table = re.search(r"\n(\|.*\|\n)+", text)
    if table is None:
        raise SystemExit(f"no table under '## Measured' in {page}")
    rows = []
    for line in table.group(0).strip().splitlines()[2:]:
        name, seconds, _, peak = (c.strip() for c in line.strip("|").split("|"))
        rows.append((name.replace("`", ""), float(seconds), float(peak)))
    return rows


def _label(name: str) -> str:
    """A contender's name without its details in parentheses after a space: one short line."""
    name = re.sub(r"\s+\([^()]*\)\s*$", "", name)
    return re.sub(r"^the same with to_zarr\(.*", "the same, writing the source's codec", name)


def time_memory(path: Path, rows: list[tuple[str, float, float]]) -> None:
    """Seconds and peak memory (log) side by side, one bar per contender, in the table's order."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 0.32 * len(rows) + 0.9), sharey=True,
                                      gridspec_kw={"wspace": 0.05})
    names = [_label(n) for n, _, _ in rows][::-1]
    colors: list[str] = []
    for n, _, _ in rows:  # "the same ..." is the row above, run otherwise: its colour
        colors.append(colors[-1] if n.startswith("the same") and colors else TASK if n.startswith("dz.rechunk")
                      else "#1f77b4" if n.startswith("dz.") else "#636363" if n.startswith("limit") else "#bdbdbd")
    colors.reverse()
    for ax, values, unit in ((left, [s for _, s, _ in rows][::-1], "s"), (right, [m for _, _, m in rows][::-1], "MiB")):
        bars = ax.barh(range(len(rows)), values, color=colors)
        ax.bar_label(bars, [f"{v:g} {unit}" for v in values], padding=2, fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    left.set_yticks(range(len(rows)), names, fontsize=8)
    left.set_xlabel("seconds (lower is better)")
    left.set_xlim(0, max(s for _, s, _ in rows) * 1.25)
    right.set_xscale("log")
    right.set_xlim(1, max(m for _, _, m in rows) * 6)
    right.set_xlabel("peak memory, MiB, log scale (lower is better)")
    fig.suptitle("rechunking 0.86 GB of daily maps into time series (docs/rechunking.md, \"Measured\")",
                 fontsize=9, x=0.55)
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def speedups(page: Path) -> list[tuple[str, float]]:
    """(case, dz's speed over dask's zarr I/O) of the benchmark's table in ``page`` ("(dz 1.93×)" cells)."""
    table = re.search(r"\n\| case \| dask_zarrio \| limit .*\n(\|.*\|\n)+", page.read_text())
    if table is None:
        raise SystemExit(f"no '| case | dask_zarrio | limit ...' table in {page}")
    out = []
    for line in table.group(0).strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        found = re.search(r"\(dz ([0-9.]+)×", cells[4]) if len(cells) > 4 else None
        if found:
            out.append((cells[0].replace("`", ""), float(found.group(1))))
    return out


def speedup(path: Path, rows: list[tuple[str, float]]) -> None:
    """One bar per case: how many times faster than dask's zarr I/O, with 1× marked."""
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(rows) + 0.8))
    values = [v for _, v in rows][::-1]
    bars = ax.barh(range(len(rows)), values, color="#1f77b4")
    ax.bar_label(bars, [f"{v:g}×" for v in values], padding=2, fontsize=7)
    ax.axvline(1, color="#636363", lw=1)
    ax.set_yticks(range(len(rows)), [_label(n) for n, _ in rows][::-1], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.8, max(values) * 2)
    ax.set_xlabel("times dask's da.from_zarr / da.to_zarr speed (log scale; 1× = as fast)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


def main(out: Path = HERE) -> list[Path]:
    """Draw every figure into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "rechunk-diagram.svg", out / "rechunk-time-memory.svg", out / "performance-speedup.svg"]
    diagram(paths[0])
    time_memory(paths[1], measured(HERE / "rechunking.md"))
    speedup(paths[2], speedups(HERE / "performance.md"))
    return paths


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"{p}: {p.stat().st_size / 1e3:.0f} kB")
