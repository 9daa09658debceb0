"""CPU ISA facts: parsed from /proc/cpuinfo, consistent with the kernel rules that use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxquant import hardware
from voxquant.report.results import collect_machine


def _raw_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo on this OS")
    for line in text.splitlines():
        if line.split(":")[0].strip().lower() in ("flags", "features"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_isa_matches_proc_cpuinfo():
    raw = _raw_flags()
    isa = hardware.cpu_isa()
    assert set(isa["flags"]) == raw & set(hardware.RESULT_CHANGING_FLAGS)
    if hardware.is_x86():
        assert isa["int8_dot_product"] == bool(raw & {"avx512_vnni", "avx_vnni", "amx_int8"})
        assert isa["bf16"] == bool(raw & {"avx512_bf16", "amx_bf16"})
        assert ("no VNNI" in isa["summary"]) == (not isa["int8_dot_product"])
        assert ("no BF16" in isa["summary"]) == (not isa["bf16"])
        assert hardware.cpu_has_vnni() == isa["int8_dot_product"]


def test_provenance_records_isa():
    m = collect_machine()
    assert m["isa"] == hardware.cpu_isa()
    assert m["isa"]["summary"].startswith(m["arch"])


def test_non_x86_rules(monkeypatch):
    monkeypatch.setattr(hardware, "is_x86", lambda: False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"asimd", "asimddp", "asimdhp"}))
    isa = hardware.cpu_isa()
    assert isa["int8_dot_product"] and isa["fp16_arithmetic"] and not isa["bf16"]
    assert hardware.cpu_has_vnni()  # not affected by the x86 U8S8 saturation
    monkeypatch.setattr(hardware, "is_x86", lambda: True)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not hardware.cpu_has_vnni() and "no VNNI" in hardware.cpu_isa()["summary"]
