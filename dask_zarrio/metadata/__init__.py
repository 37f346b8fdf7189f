"""Array metadata of each format, and the internal description they all parse into."""

from __future__ import annotations

from .dtypes import parse_v2_dtype, parse_v3_data_type, v2_dtype_to_json, v3_data_type_to_json
from .fill import encode_fill_value, parse_fill_value
from .n5 import ArrayMetadataN5
from .spec import ArrayMetadata, ArraySpec
from .v2 import ArrayMetadataV2
from .v3 import ArrayMetadataV3

__all__ = [
    "ArrayMetadata",
    "ArrayMetadataN5",
    "ArrayMetadataV2",
    "ArrayMetadataV3",
    "ArraySpec",
    "encode_fill_value",
    "parse_fill_value",
    "parse_v2_dtype",
    "parse_v3_data_type",
    "v2_dtype_to_json",
    "v3_data_type_to_json",
]
