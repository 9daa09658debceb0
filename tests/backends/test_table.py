"""The backend table: rows, names, suggestions, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voxquant.backends.table import backend_table, get_backend
from voxquant.errors import ConfigError


def test_table_rows():
    rows = {r.argument: r for r in backend_table()}
    assert list(rows) == ["onnx", "tflite", "edgetpu", "rknn", "openvino", "tensorrt", "qnn"]
    assert rows["tensorrt"].needs_gpu and not rows["tensorrt"].runs_here
    assert not rows["qnn"].runs_here and not rows["rknn"].runs_here and rows["openvino"].runs_here
    assert rows["rknn"].target == "rk3588" and rows["edgetpu"].target == "coral-edgetpu"
    for r in rows.values():
        assert r.precisions and r.suffix.startswith(".")


@pytest.mark.parametrize("bad,close", [("tflte", "tflite"), ("openvin", "openvino"), ("rknm", "rknn"), ("tensortr", "tensorrt")])
def test_unknown_format_suggests(bad, close):
    with pytest.raises(ConfigError) as e:
        get_backend(bad)
    assert f"did you mean '{close}'" in str(e.value)


def test_canonical_names_resolve():
    assert get_backend("litert").info.argument == "tflite"
    assert get_backend("onnxruntime").info.argument == "onnx"


def test_parse_formats():
    from voxquant.engine import parse_backends as parse_formats

    assert parse_formats("all") == ["onnx", "tflite", "edgetpu", "rknn", "openvino", "tensorrt", "qnn"]
    assert parse_formats("onnx, openvino,onnx") == ["onnx", "openvino"]
    with pytest.raises(ConfigError, match="did you mean 'openvino'"):
        parse_formats("onnx,openvnio")


def test_table_does_not_import_toolchains():
    code = ("import sys, voxquant, voxquant.backends\n"
            "from voxquant.backends.table import backend_table, get_backend\n"
            "backend_table(); [get_backend(a).available() for a in ('tensorrt', 'qnn')]\n"
            "heavy = [m for m in ('tensorflow', 'openvino', 'nncf', 'litert_torch', 'ai_edge_litert', 'ai_edge_quantizer', 'rknn', 'tensorrt') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
