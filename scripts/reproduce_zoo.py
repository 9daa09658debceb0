#!/usr/bin/env python
"""Regenerate docs/reproduction.md: every zoo model on the official Speech Commands test set, its eval split and
FSDD; voxquant int8 PTQ of the MLPerf Tiny fp32 model vs the publisher's int8; the BC-ResNet-2 accent slice.

Usage (from the repository root, with the shared data and models beside it):

    VOXQUANT_DATA=../shared/data VOXQUANT_MODELS=../shared/models python scripts/reproduce_zoo.py [--quick]

About 10-15 minutes on 2 cores. Needs the [tf] and [litert] extras.
"""

from __future__ import annotations

import argparse
import os
import sys

# BLAS threads: on a small, busy host OpenBLAS' own threads make tiny matmuls ~1000x slower (front-end mel
# projections); inference threads are set explicitly below.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/reproduction.md", help="markdown file to write")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for inference and latency")
    ap.add_argument("--work-dir", default=None, help="quantized models + raw JSON (default: the voxquant cache)")
    ap.add_argument("--quick", action="store_true", help="only the reproduction table (no PTQ / accent sections)")
    ap.add_argument("--no-download", action="store_true", help="never download model files")
    ap.add_argument("--render-only", metavar="JSON", help="re-render --out from a saved reproduction.json (no runs)")
    args = ap.parse_args(argv)
    from voxquant.errors import VoxquantError
    from voxquant.zoo.report import render, reproduce

    if args.render_only:
        import json
        from pathlib import Path

        Path(args.out).write_text(render(json.loads(Path(args.render_only).read_text())))
        print(f"wrote {args.out}")
        return 0

    try:
        raw = reproduce(args.out, threads=args.threads, work_dir=args.work_dir, download=not args.no_download,
                        quick=args.quick)
    except VoxquantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} in {raw['meta']['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
