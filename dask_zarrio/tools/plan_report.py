"""What a dry run reports: per array its passes and requests, their totals, the requests' cost.

:class:`Plan` is what :func:`dask_zarrio.plan` returns; printed, it is the ``dz plan``
text, and :meth:`Plan.to_dict` the ``dz plan --json`` document. Requests are priced per
1000 at :data:`S3_STANDARD_PRICES` unless told otherwise (:func:`price_per_1000` reads a
price option).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..display import plan_html
from ..errors import ZarrioError
from ..layout.rechunk_plan import Pass
from ..layout.requests import size_text

__all__ = ["S3_STANDARD_PRICES", "ArrayPlan", "Plan", "price_per_1000"]

#: US dollars per 1000 requests, AWS S3 Standard (us-east-1): GET $0.0004, PUT and LIST $0.005.
S3_STANDARD_PRICES: dict[str, float] = {"get": 0.0004, "put": 0.005, "list": 0.005}


@dataclass(frozen=True)
class ArrayPlan:
    """The plan for one array: its passes and the requests they make."""

    path: str
    source: str
    target: str
    passes: tuple[Pass, ...]
    gets: int
    puts: int
    lists: int
    temp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (one entry of ``dz plan --json``'s ``arrays``)."""
        return {
            "path": self.path, "source": self.source, "target": self.target, "temp": self.temp,
            "get_requests": self.gets, "put_requests": self.puts, "list_requests": self.lists,
            "passes": [
                {"kind": p.kind, "source_chunks": list(p.source), "target_chunks": list(p.unit), "into": p.into,
                 "block": list(p.block), "tasks": p.tasks, "bytes_read": p.bytes_read,
                 "bytes_written": p.bytes_written, "task_memory": p.task_memory}
                for p in self.passes
            ],
        }


@dataclass(frozen=True)
class Plan:
    """What ``dz.copy``/``dz.rechunk``/``dz.write`` would do: passes, tasks, requests, bytes,
    peak memory and the requests' cost. Printing it gives the ``dz plan`` text; :meth:`to_dict`
    the ``dz plan --json`` document.
    """

    operation: str
    source: str
    target: str
    arrays: tuple[ArrayPlan, ...]
    threads: int
    prices: Mapping[str, float] = field(default_factory=lambda: dict(S3_STANDARD_PRICES))
    groups: int = 0
    group_requests: tuple[int, int, int] = (0, 0, 0)

    @property
    def passes(self) -> int:
        """Passes of the array that needs the most (1, or 2 through an intermediate array)."""
        return max((len(a.passes) for a in self.arrays), default=0)

    @property
    def tasks(self) -> int:
        """Tasks of every pass of every array."""
        return sum(p.tasks for a in self.arrays for p in a.passes)

    def _requests(self, i: int, name: str) -> int:
        return self.group_requests[i] + sum(getattr(a, name) for a in self.arrays)

    @property
    def requests(self) -> dict[str, int]:
        """GET, PUT and LIST requests (metadata and group documents included)."""
        return {"get": self._requests(0, "gets"), "put": self._requests(1, "puts"), "list": self._requests(2, "lists")}

    @property
    def bytes_read(self) -> int:
        """Bytes read by all tasks (decoded; stored bytes for undecoded copies, counted decoded)."""
        return sum(p.bytes_read for a in self.arrays for p in a.passes)

    @property
    def bytes_written(self) -> int:
        """Bytes written by all tasks (decoded size: an upper bound of what is stored)."""
        return sum(p.bytes_written for a in self.arrays for p in a.passes)

    @property
    def peak_task_memory(self) -> int:
        """The most decoded bytes one task holds."""
        return max((p.task_memory for a in self.arrays for p in a.passes), default=0)

    @property
    def peak_worker_memory(self) -> int:
        """``peak_task_memory`` times the threads of a worker."""
        return self.peak_task_memory * self.threads

    @property
    def cost(self) -> dict[str, float]:
        """Request cost in US dollars at ``prices`` (per 1000 requests), and the total."""
        out = {k: n * self.prices[k] / 1000 for k, n in self.requests.items()}
        return {**out, "total": sum(out.values())}

    def to_dict(self) -> dict[str, Any]:
        """The ``dz plan --json`` document (schema in docs/cli.md)."""
        return {
            "operation": self.operation, "source": self.source, "target": self.target,
            "passes": self.passes, "tasks": self.tasks,
            "requests": self.requests, "bytes_read": self.bytes_read, "bytes_written": self.bytes_written,
            "peak_task_memory": self.peak_task_memory, "threads": self.threads,
            "peak_worker_memory": self.peak_worker_memory, "prices_per_1000": dict(self.prices),
            "cost": self.cost, "arrays": [a.to_dict() for a in self.arrays],
        }

    def __str__(self) -> str:
        r, c = self.requests, self.cost
        lines = [f"{self.operation} {self.source} -> {self.target}"]
        for a in self.arrays:
            lines.append(f"  {a.path or '/'}: {len(a.passes)} pass{'es' if len(a.passes) > 1 else ''}"
                         + (f" through {a.temp}" if a.temp else ""))
            lines += [f"    pass {i + 1} {p.describe()}" for i, p in enumerate(a.passes)]
        lines += [
            f"arrays {len(self.arrays)}, groups {self.groups}, passes {self.passes}, tasks {self.tasks}",
            f"requests: GET {r['get']}, PUT {r['put']}, LIST {r['list']}",
            f"bytes: read {size_text(self.bytes_read)}, write {size_text(self.bytes_written)} (decoded)",
            f"peak memory: {size_text(self.peak_task_memory)} per task, "
            f"{size_text(self.peak_worker_memory)} per worker of {self.threads} threads",
            f"request cost: ${c['total']:.6f} (GET ${c['get']:.6f}, PUT ${c['put']:.6f}, LIST ${c['list']:.6f})",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return plan_html(self)


def price_per_1000(text: str) -> float:
    """A price option: ``"0.0004"`` or ``"$0.0004"`` dollars per 1000 requests.

    Examples
    --------
    >>> price_per_1000("$0.005")
    0.005
    """
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError as e:
        raise ZarrioError(f"price {text!r} must be US dollars per 1000 requests, e.g. 0.0004") from e
    if value < 0:
        raise ZarrioError(f"price {text!r} must not be negative")
    return value

