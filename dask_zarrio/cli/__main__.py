"""``python -m dask_zarrio.cli``: the ``dz`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()
