"""Logix (CIP) elementary data types: codes, wire formats and the Lineside types they carry.
Shared by the EtherNet/IP driver and the simulated controller."""

from __future__ import annotations

# CIP elementary types: name -> (code, struct format)
CIP_TYPES: dict[str, tuple[int, str]] = {
    "BOOL": (0xC1, "B"),
    "SINT": (0xC2, "b"),
    "INT": (0xC3, "h"),
    "DINT": (0xC4, "i"),
    "LINT": (0xC5, "q"),
    "USINT": (0xC6, "B"),
    "REAL": (0xCA, "f"),
    "LREAL": (0xCB, "d"),
}
CODE_TO_TYPE = {code: name for name, (code, _f) in CIP_TYPES.items()}
#: Lineside data type -> Logix type
LOGIX_TYPE = {
    "bool": "BOOL",
    "int8": "SINT",
    "uint8": "USINT",
    "int16": "INT",
    "int32": "DINT",
    "int64": "LINT",
    "float32": "REAL",
    "float64": "LREAL",
}
