"""What this CPU can do that changes numbers: the ISA features int8, bf16 and fp16 kernels depend on.

The same model gives different outputs on different x86 CPUs because runtimes pick kernels by ISA:

* ONNX Runtime's U8S8 int8 kernels saturate without a dot-product instruction (AVX2 ``VPMADDUBSW`` sums u8 x s8
  pairs into int16); with AVX512-VNNI / AVX-VNNI they accumulate in int32 (ONNX Runtime docs, "Quantize ONNX
  models", FAQ on ``reduce_range``).
* OpenVINO's CPU plugin computes float models in **bf16** by default on CPUs with AVX512-BF16 or AMX, and
  silently maps an ``f16`` precision hint to bf16 on CPUs without native fp16 arithmetic (OpenVINO docs,
  "CPU device: supported inference data types"; observed with OpenVINO 2026.4 on an AVX512-BF16 EPYC).

:func:`cpu_isa` reads ``/proc/cpuinfo`` once; every module that chooses a kernel path or records provenance asks
it, so the rule and the record never disagree.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

#: ISA features recorded in every provenance block, in this order (x86, then Arm names as Linux spells them).
RESULT_CHANGING_FLAGS = (
    "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
    "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve",
)  # fmt: skip


def is_x86() -> bool:
    """Whether this machine is x86-64 / x86."""
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """All feature flags of the first CPU in ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on Arm); empty when
    the file cannot be read (non-Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def cpu_isa() -> dict:
    """The ISA facts that change results, for provenance and kernel choices.

    Returns:
        ``{"arch": str, "flags": [str] (those of :data:`RESULT_CHANGING_FLAGS` present), "int8_dot_product": bool
        (VNNI on x86; ``asimddp`` on Arm; ``True`` elsewhere), "bf16": bool (AVX512-BF16 / AMX-BF16 / Arm bf16),
        "fp16_arithmetic": bool (AVX512-FP16 / AMX-FP16 / Arm ``asimdhp``), "summary": str}`` e.g.
        ``"x86_64: AVX2, AVX-512 VNNI, AVX-512 BF16"``.
    """
    flags = cpu_flags()
    present = [f for f in RESULT_CHANGING_FLAGS if f in flags]
    if is_x86():
        dot = "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags
        bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
        fp16 = "avx512_fp16" in flags or "amx_fp16" in flags
    else:
        dot = "asimddp" in flags or not flags
        bf16 = "bf16" in flags
        fp16 = "asimdhp" in flags
    names = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
             "avx512_bf16": "AVX-512 BF16", "avx512_fp16": "AVX-512 FP16", "amx_int8": "AMX-INT8",
             "amx_bf16": "AMX-BF16", "amx_fp16": "AMX-FP16", "asimddp": "Arm dot product", "i8mm": "Arm i8mm",
             "bf16": "Arm BF16", "asimdhp": "Arm fp16"}
    shown = [names[f] for f in present if f in names]
    if is_x86() and not dot:
        shown.append("no VNNI")
    if is_x86() and not bf16:
        shown.append("no BF16")
    return {"arch": platform.machine(), "flags": present, "int8_dot_product": dot, "bf16": bf16,
            "fp16_arithmetic": fp16, "summary": f"{platform.machine()}: {', '.join(shown) or 'no SIMD flags read'}"}


def cpu_has_vnni() -> bool:
    """Whether ONNX Runtime's x86 int8 kernels accumulate without int16 saturation here (AVX512-VNNI, AVX-VNNI or
    AMX-INT8). Non-x86 CPUs return ``True`` (not affected)."""
    return bool(cpu_isa()["int8_dot_product"]) if is_x86() else True
