"""numcodecs codecs inside a Zarr v3 pipeline (``numcodecs.<id>``, as zarr-python writes).

Compressors and checksums are bytes→bytes; shape-preserving filters (delta,
fixedscaleoffset, quantize, astype, bitround) are array→array. Anything that would
unpickle data is refused here as in v2 (see :func:`check_safe_codec_id`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec as NumcodecsCodec
from numcodecs.compat import ensure_contiguous_ndarray, ensure_ndarray_like

from ..errors import MetadataError, UnsafeCodecError
from . import blosc_frame
from .base import ArrayArrayCodec, ArrayBytesCodec, Buffer, BytesBytesCodec, Codec
from .blosc import encode_blocksize
from .bounded import BOUNDED_NUMCODECS
from .contexts import malloc_hands_back, zstd_compress
from .sizes import blosc_decoded_size, gzip_decoded_size, zstd_decoded_size

__all__ = [
    "NumcodecsArrayArray", "NumcodecsArrayBytes", "NumcodecsBytesBytes", "check_safe_codec_id", "opt_in",
    "owned_encoder", "wrap_numcodecs",
]

#: numcodecs ids of filters: array→array in a v3 chain (zarr-python's ``numcodecs.*``).
_ARRAY_ARRAY = {"delta", "fixedscaleoffset", "quantize", "astype", "bitround", "packbits"}
#: numcodecs ids that serialise an array themselves: array→bytes.
_ARRAY_BYTES = {"pcodec", "zfpy"}
_SIZE_SNIFFERS = {
    "blosc": blosc_decoded_size,
    "gzip": gzip_decoded_size,
    "zstd": zstd_decoded_size,
}
#: numcodecs ids whose decode runs code stored in the data.
UNSAFE_IDS = {"pickle"}


def check_safe_codec_id(codec_id: str, *, allow_pickle: bool, where: str) -> None:
    """Refuse codecs that unpickle data unless the user opted in.

    Examples
    --------
    >>> check_safe_codec_id("zstd", allow_pickle=False, where="compressor")
    """
    if codec_id in UNSAFE_IDS and not allow_pickle:
        raise UnsafeCodecError(
            f"{where} uses the {codec_id!r} codec, which executes code stored in the data "
            "when decoding. Only if you trust the store, pass allow_pickle=True"
        )


class OptedInPickle(NumcodecsCodec):
    """numcodecs' Pickle, decoding because the user passed ``allow_pickle=True``.

    numcodecs (0.16+) disables pickle decoding through a process-wide switch;
    flipping that switch would open every other reader in the process, so the
    opt-in stays local to the array it was given for.
    """

    codec_id = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, buf: Any) -> bytes:
        return pickle.dumps(np.asarray(buf, dtype=object), protocol=self.protocol)

    def decode(self, buf: Any, out: Any = None) -> Any:
        dec = pickle.loads(ensure_contiguous_ndarray(buf))  # noqa: S301 (explicit opt-in)
        if out is not None:
            np.copyto(out, dec)
            return out
        return dec

    def get_config(self) -> dict[str, Any]:
        return {"id": "pickle", "protocol": self.protocol}


def opt_in(codec: NumcodecsCodec, allow_pickle: bool) -> NumcodecsCodec:
    """The codec to decode with: pickle is swapped for :class:`OptedInPickle` when allowed."""
    if allow_pickle and codec.codec_id == "pickle":
        return OptedInPickle(codec.get_config().get("protocol", pickle.HIGHEST_PROTOCOL))
    return codec


class _WrapsNumcodecs:
    """Holds a numcodecs codec; its v3 name is ``numcodecs.<id>``."""

    name = "numcodecs"

    def __init__(self, codec: NumcodecsCodec, config: dict[str, Any] | None = None) -> None:
        self.codec = codec
        #: The configuration as ``zarr.json`` holds it; ``None``: numcodecs' full one.
        #: zarr-python keeps what it was given, so a document round-trips unchanged.
        self.config = config

    def for_decoding(self, *, allow_pickle: bool, where: str) -> Any:
        check_safe_codec_id(self.codec.codec_id, allow_pickle=allow_pickle, where=where)
        chosen = opt_in(self.codec, allow_pickle)
        return self if chosen is self.codec else type(self)(chosen, self.config)

    def to_dict(self) -> dict[str, Any]:
        config = self.codec.get_config()
        codec_id = config.pop("id")
        return {"name": f"numcodecs.{codec_id}", "configuration": config if self.config is None else dict(self.config)}


def owned_encoder(codec: NumcodecsCodec) -> Callable[[Buffer], Buffer]:
    """``codec.encode``, but numcodecs' zstd (always) and blosc-zstd (where
    :func:`.contexts.malloc_hands_back`) through dask_zarrio's per-thread zstd contexts
    (:mod:`.contexts`, :mod:`.blosc_frame`): the same bytes, no compressor set up per
    chunk or block. Whatever those modules do not write goes to ``codec``.

    Examples
    --------
    >>> data = np.linspace(0, 1, 1000, dtype="f4")
    >>> codec = numcodecs.Blosc("zstd", 3, numcodecs.Blosc.SHUFFLE, 256)
    >>> bytes(owned_encoder(codec)(data)) == codec.encode(data)
    True
    """
    config = codec.get_config()
    if config["id"] == "zstd":
        level, checksum = config.get("level", 0), bool(config.get("checksum", False))

        def zstd(data: Buffer) -> Buffer:
            frame = zstd_compress(data, level, checksum)
            return codec.encode(data) if frame is None else frame

        return zstd
    if config["id"] != "blosc":
        return codec.encode
    typesize = getattr(codec, "_typesize", None)  # numcodecs keeps it out of get_config()

    def blosc(data: Buffer) -> Buffer:
        if not malloc_hands_back():  # c-blosc's own shuffle is faster, its compressors free
            return codec.encode(data)
        buf = ensure_contiguous_ndarray(data)
        size = typesize or buf.itemsize  # numcodecs: the buffer's item size unless given
        shuffle = config["shuffle"]
        if shuffle == -1:  # AUTOSHUFFLE: bit shuffle for single bytes, byte shuffle otherwise
            shuffle = 2 if size == 1 else 1
        frame = blosc_frame.encode(buf, config["cname"], config["clevel"], shuffle, size, config["blocksize"])
        return codec.encode(data) if frame is None else frame

    return blosc


class NumcodecsBytesBytes(_WrapsNumcodecs, BytesBytesCodec):
    """A numcodecs compressor or checksum as a bytes→bytes codec."""

    def __init__(self, codec: NumcodecsCodec, config: dict[str, Any] | None = None) -> None:
        super().__init__(codec, config)
        self._encoder = codec
        config = codec.get_config()
        if config.get("id") == "blosc" and config.get("blocksize") == 0:
            # "automatic" block size: the one dask_zarrio picks (see codecs/blosc.py).
            size = encode_blocksize(config.get("cname", ""), 0)
            if size:
                self._encoder = numcodecs.get_codec({**config, "blocksize": size})
        self._encode = owned_encoder(self._encoder)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the codec: the owned encoder is a closure, which plain pickle cannot take.
        return type(self), (self.codec, self.config)

    def encode(self, data: Buffer) -> Buffer:
        return self._encode(data)

    def decode(self, data: Buffer, out: np.ndarray | None = None) -> Buffer:
        return self.codec.decode(data, out)

    def decode_bounded(self, data: Buffer, limit: int, out: np.ndarray | None = None) -> Buffer:
        bounded = BOUNDED_NUMCODECS.get(self.codec.codec_id)
        if bounded is None:  # checksums, and codecs only checked afterwards
            return super().decode_bounded(data, limit, out)
        return bounded(self.codec, data, limit, out)

    def decoded_size(self, data: Buffer) -> int | None:
        sniff = _SIZE_SNIFFERS.get(self.codec.codec_id)
        return sniff(data) if sniff is not None else None


class NumcodecsArrayArray(_WrapsNumcodecs, ArrayArrayCodec):
    """A numcodecs filter as an array→array codec.

    Shape-preserving, but for ``packbits``: a chunk of ``n`` booleans becomes
    ``1 + ceil(n / 8)`` bytes (a header byte with the padding, then the bits), as
    zarr-python's ``numcodecs.packbits`` resolves it.
    """

    def resolve(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        if self.codec.codec_id == "packbits":
            if dtype != np.dtype(bool):
                raise MetadataError(
                    f"numcodecs.packbits packs booleans, but {dtype.str!r} reaches it; use it only "
                    "first in the codecs of a bool array"
                )
            return (1 + math.ceil(math.prod(shape) / 8),), np.dtype(np.uint8)
        # Encoding one element is the cheapest exact way to learn the output dtype.
        return shape, ensure_ndarray_like(self.codec.encode(np.zeros(1, dtype))).dtype

    def encode(self, arr: np.ndarray) -> np.ndarray:
        out = ensure_ndarray_like(self.codec.encode(np.ascontiguousarray(arr)))
        return out if self.codec.codec_id == "packbits" else out.reshape(arr.shape)

    def decode(self, arr: np.ndarray, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        out = ensure_ndarray_like(self.codec.decode(np.ascontiguousarray(arr)))
        if out.dtype != dtype:
            out = out.view(dtype)
        if out.size != math.prod(shape):
            raise ValueError(
                f"{self.to_dict()['name']} decoded {out.size} elements, expected {math.prod(shape)} "
                f"for a chunk of shape {shape}"
            )
        return out.reshape(shape)


class NumcodecsArrayBytes(_WrapsNumcodecs, ArrayBytesCodec):
    """A numcodecs codec that serialises arrays itself (``pcodec``, ``zfpy``): array→bytes.

    pcodec decodes into a buffer of the chunk's size, so a header claiming more
    elements cannot allocate more (decompression bombs); zfpy's decoder allocates what
    its header says, and the result is checked against the chunk's shape and data type.
    """

    def max_encoded_size(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int | None:
        # Lossless or fixed-rate, neither writes more than twice the raw size plus headers.
        return 2 * math.prod(shape) * dtype.itemsize + 65536

    def encode(self, arr: np.ndarray) -> Buffer:
        return self.codec.encode(np.ascontiguousarray(arr))

    def decode(self, data: Buffer, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        count = math.prod(shape)
        raw = bytes(memoryview(data).cast("B"))
        if self.codec.codec_id == "pcodec":
            from pcodec import standalone

            out = np.empty(count, dtype.newbyteorder("="))
            progress = standalone.simple_decompress_into(raw, out)
            if not progress.finished or progress.n_processed != count:
                raise ValueError(
                    f"numcodecs.pcodec data holds {'more' if not progress.finished else progress.n_processed} "
                    f"elements, expected {count} for a chunk of shape {shape}; the chunk is corrupt or "
                    "was written with other metadata"
                )
            return out.reshape(shape)
        out = ensure_ndarray_like(self.codec.decode(raw))
        if out.size != count or out.dtype.newbyteorder("=") != dtype.newbyteorder("="):
            raise ValueError(
                f"{self.to_dict()['name']} decoded {out.size} elements of {out.dtype.str!r}, expected "
                f"{count} of {dtype.str!r} for a chunk of shape {shape}; the chunk is corrupt or was "
                "written with other metadata"
            )
        return out.astype(dtype, copy=False).reshape(shape)


def wrap_numcodecs(codec: NumcodecsCodec, config: dict[str, Any] | None = None) -> Codec:
    """``codec`` as a v3 codec: array→array for filters, array→bytes for serialisers, else bytes→bytes.

    ``config``: its configuration as written in ``zarr.json``, kept for writing it back.

    Examples
    --------
    >>> type(wrap_numcodecs(numcodecs.Delta("<i4"))).__name__, type(wrap_numcodecs(numcodecs.Zlib())).__name__
    ('NumcodecsArrayArray', 'NumcodecsBytesBytes')
    """
    if codec.codec_id in _ARRAY_ARRAY:
        return NumcodecsArrayArray(codec, config)
    if codec.codec_id in _ARRAY_BYTES:
        return NumcodecsArrayBytes(codec, config)
    return NumcodecsBytesBytes(codec, config)
