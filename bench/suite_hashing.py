"""The hashing target (issue 8, item 3): source-image hashing at >= 70 % of hashlib's raw SHA-256."""

from __future__ import annotations

import argparse

from .proc import run_child
from .results import log, write_result

TARGET_RATIO = 0.70


def judge(result: dict) -> dict:
    targets = {}
    for size in result["sizes"]:
        methods = size["methods"]
        ratio = methods["png_check_read_hashed"]["vs_hashlib_raw"]
        targets[f"hashing_{size['pixels']}"] = {
            "value": ratio,
            "bound": f">= {TARGET_RATIO}",
            "met": ratio >= TARGET_RATIO,
            "inspect_png": methods["inspect_png"]["vs_hashlib_raw"],
            "scan_source_images": methods["scan_source_images"]["vs_hashlib_raw"],
            "plain_read_once": methods["plain_read_once"]["vs_hashlib_raw"],
        }
    return targets


def run_hashing_suite(args: argparse.Namespace) -> dict:
    log("hashing ...")
    result = run_child("hashing", "measure", target_mb=args.hash_mb)
    payload = {"result": result, "targets": judge(result)}
    path = write_result(args.results, "hashing", payload)
    log(f"targets: {payload['targets']}\nwritten {path}")
    return payload
