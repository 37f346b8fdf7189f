#!/usr/bin/env bash
# Make the venv the rechunk benchmark runs its "rechunker" contender in:
# .bench-venvs/rechunker (git-ignored). rechunker 0.5.4 needs zarr-python 2, which cannot share
# the project's venv (zarr 3), so it gets its own; benchmarks/rechunk.py finds it there and,
# without it, prints that rechunker was not measured. Idempotent: quick when the venv is there
# and imports. Needs the package index (pip); PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.bench-venvs/rechunker"
CHECK='import rechunker, zarr, numcodecs, dask.array, numpy; assert zarr.__version__.startswith("2.18"), zarr.__version__'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    echo "bench-rechunker-venv: present ($VENV)"
    exit 0
fi
echo "bench-rechunker-venv: making $VENV"
rm -rf "$VENV"
"${PYTHON:-python3}" -m venv "$VENV"
# zarr 2.18.7 is the last zarr 2 and takes numcodecs < 0.16 (0.15.2 is the newest it allows and
# has numpy 2 wheels); both pinned so every run measures the same rechunker stack. dask and
# numpy follow the project's venv where there is one, so the comparison is about rechunker
# and not about a dask release.
PINS=()
if [ -x .venv/bin/python ]; then
    read -r DASK NUMPY < <(.venv/bin/python -c 'import dask, numpy; print(dask.__version__, numpy.__version__)' 2>/dev/null) || true
    [ -n "${DASK:-}" ] && PINS+=("dask[array]==$DASK")
    [ -n "${NUMPY:-}" ] && PINS+=("numpy==$NUMPY")
fi
[ ${#PINS[@]} -eq 0 ] && PINS=("dask[array]" numpy)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "rechunker==0.5.4" "zarr==2.18.7" "numcodecs==0.15.2" "${PINS[@]}"
"$VENV/bin/python" -c "$CHECK"
"$VENV/bin/python" -c 'import rechunker, zarr, numcodecs, dask, numpy
print(f"bench-rechunker-venv: rechunker {rechunker.__version__}, zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, dask {dask.__version__}, numpy {numpy.__version__}")'
