"""PyTorch -> ONNX export (the interchange format every backend starts from)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

#: ONNX opset used for exports. RKNN Toolkit2 2.5.0 accepts opset <= 19.
OPSET = 18


def export_onnx(model, example: "torch.Tensor", out: Path, *, dynamic_batch: bool = True, opset: int = OPSET) -> Path:  # noqa: F821
    """Export a float ``nn.Module`` to ONNX with ``torch.onnx.export(dynamo=True)``.

    Args:
        model: module taking ``float32 [N, ...]`` and returning ``float32 [N, C]`` logits.
        example: example input ``float32 [1, ...]``.
        out: ``.onnx`` path to write.
        dynamic_batch: make the batch dimension symbolic (``batch``).
        opset: ONNX opset (default :data:`OPSET`).

    Returns:
        ``out``. Input is named ``input``, output ``logits``. The exported graph is checked against the
        module on ``example`` (max abs difference < 1e-4), else ``RuntimeError``.
    """
    import onnx
    import torch

    import logging

    # the exporter logs one warning per torchvision op when torchvision is absent (it is, on CPU-only installs)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    model = model.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            model, (example,), None, input_names=["input"], output_names=["logits"], opset_version=opset,
            dynamo=True, external_data=False, verbose=False, **kwargs,
        )
        prog.optimize()
    from voxquant.atomic import atomic_path
    from voxquant.backends.onnxruntime import OrtSession

    with atomic_path(out) as tmp:  # written and checked under a temporary name, moved onto ``out`` when good
        prog.save(str(tmp), external_data=False)
        m = onnx.load(str(tmp))
        onnx.checker.check_model(m)
        # numeric check
        x = example.detach().numpy().astype(np.float32)
        ref = model(example).detach().numpy()
        got = OrtSession(tmp, threads=1).run(x)
        if not np.allclose(ref, got, atol=1e-4, rtol=1e-3):
            raise RuntimeError(f"{out}: exported ONNX disagrees with the PyTorch model (max |diff| {np.abs(ref - got).max():.3g})")
    return out
