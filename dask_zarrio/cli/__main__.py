"""``python -m dask_zarrio.cli``: the ``dz`` command."""

from __future__ import annotations

from . import run

if __name__ == "__main__":
    run()
