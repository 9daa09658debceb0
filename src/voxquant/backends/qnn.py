"""Qualcomm QNN / SNPE backend (RB5 Hexagon HTP): QDQ ONNX export + operator check; no runtime here.

The QNN SDK (Qualcomm AI Engine Direct / QAIRT) is distributed by Qualcomm, not on PyPI, so nothing converts or
runs a QNN graph on this machine. What voxquant produces is the input QNN's ONNX converter and ONNX Runtime's QNN
execution provider expect: a static-shape QDQ model quantized with ONNX Runtime's QNN configuration
(``onnxruntime.quantization.execution_providers.qnn.get_qnn_qdq_config``: uint8 activations / uint8 weights by
default, or ``a16w8`` = uint16 activations / uint8 weights), after ``qnn_preprocess_model``; and the operator
check against the ``qualcomm-rb5`` profile (ONNX Runtime QNN EP "Supported ONNX operators", QNN 2.22.x).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from voxquant.backends.base import Artifact, Backend, BackendInfo, Session
from voxquant.errors import ConfigError, MissingExtraError


def fix_batch(src: Path, dst: Path, batch: int = 1) -> Path:
    """Fix the symbolic batch dimension of the graph input to ``batch`` (QNN needs static shapes)."""
    import onnx

    m = onnx.load(str(src))
    inits = {i.name for i in m.graph.initializer}
    for i in m.graph.input:
        if i.name in inits:
            continue
        d0 = i.type.tensor_type.shape.dim[0]
        if not d0.HasField("dim_value"):
            d0.Clear()
            d0.dim_value = batch
    for o in m.graph.output:
        d0 = o.type.tensor_type.shape.dim[0]
        if not d0.HasField("dim_value"):
            d0.Clear()
            d0.dim_value = batch
    del m.graph.value_info[:]
    m = onnx.shape_inference.infer_shapes(m)
    onnx.save(m, str(dst))
    return Path(dst)


def qnn_qdq(fp32_onnx: Path, out: Path, calibration: np.ndarray, activation: str = "uint8") -> Path:
    """QDQ model with ONNX Runtime's QNN quantization config (``activation`` ``"uint8"`` or ``"uint16"``)."""
    from onnxruntime.quantization import QuantType, quantize
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config, qnn_preprocess_model

    from voxquant.quant.ort import ArrayCalibrationReader, _input_name

    with tempfile.TemporaryDirectory() as td:
        fixed = fix_batch(Path(fp32_onnx), Path(td) / "fixed.onnx")
        pre = Path(td) / "pre.onnx"
        src = pre if qnn_preprocess_model(str(fixed), str(pre)) else fixed
        act = QuantType.QUInt16 if activation == "uint16" else QuantType.QUInt8
        cfg = get_qnn_qdq_config(str(src), ArrayCalibrationReader(_input_name(src), calibration),
                                 activation_type=act, weight_type=QuantType.QUInt8)
        quantize(str(src), str(out), cfg)
    return Path(out)


class QnnBackend(Backend):
    """QNN HTP (RB5): export + operator check only."""

    info = BackendInfo(name="qnn", argument="qnn", suffix=".onnx", precisions=("int8", "a16w8"), runs_here=False,
                       extra=None, target="qualcomm-rb5")
    reason = "export only: the QNN SDK (Qualcomm AI Engine Direct) is not on PyPI and no HTP is attached"

    def convert(self, fp32_onnx: Path, precision: str, out_dir: Path, calibration: np.ndarray | None = None) -> Artifact:
        """QDQ export; ``artifact.extra`` holds ``check`` (qualcomm-rb5 report dict), ``status`` and ``reason``."""
        from voxquant.targets.check import check_model

        if precision not in self.info.precisions:
            raise ConfigError(f"qnn cannot build precision '{precision}'", hint=f"choose from {', '.join(self.info.precisions)}")
        if calibration is None or len(calibration) == 0:
            raise ConfigError("qnn export (static QDQ) needs calibration inputs")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{Path(fp32_onnx).stem}.qnn-{precision}.onnx"
        qnn_qdq(Path(fp32_onnx), out, calibration, activation="uint16" if precision == "a16w8" else "uint8")
        rep = check_model(out, "qualcomm-rb5")
        return Artifact(path=out, backend=self.info.name, precision=precision, size_bytes=out.stat().st_size,
                        log=rep.summary(), extra={"check": rep.to_dict(), "check_summary": rep.summary(),
                                                  "status": "export only", "reason": self.reason})

    def load(self, artifact: Path, threads: int = 1) -> Session:
        raise MissingExtraError("qnn", "qnn", f"Running on the Hexagon HTP ({self.reason})")

    def op_report(self, artifact: Path) -> list[dict]:
        from voxquant.targets.check import check_model

        rep = check_model(artifact, "qualcomm-rb5")
        return [{"node": f.node, "op": f.op, "placement": f.placement, "reason": "; ".join(f.reasons)}
                for f in rep.findings if f.placement != "folded"]
