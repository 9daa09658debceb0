"""PyTorch -> ONNX export (the interchange format every backend starts from)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

#: ONNX opset used for exports. RKNN Toolkit2 2.5.0 accepts opset <= 19.
OPSET = 18


def export_onnx(model, example: "torch.Tensor", out: Path, *, dynamic_batch: bool = True, opset: int = OPSET,  # noqa: F821
                input_names=None, output_names=None, dynamic_shapes=None) -> Path:
    """Export a float ``nn.Module`` to ONNX with ``torch.onnx.export(dynamo=True)``.

    Args:
        model: module taking ``float32 [N, ...]`` and returning ``float32 [N, C]`` logits.
        example: example input ``float32 [1, ...]``.
        out: ``.onnx`` path to write.
        dynamic_batch: make the batch dimension symbolic (``batch``).
        opset: ONNX opset (default :data:`OPSET`).
        input_names, output_names: names for a module with several inputs / outputs (then ``example`` is a tuple of
            tensors, one per input); default ``["input"]`` / ``["logits"]``.
        dynamic_shapes: ``torch.export`` dynamic shapes per input (overrides ``dynamic_batch``), e.g. a symbolic time
            axis for a streaming graph.

    Returns:
        ``out``. Input is named ``input``, output ``logits`` (unless named otherwise). The exported graph is
        checked by the ONNX checker and against the module on ``example`` (every output: max abs difference
        < 1e-4), else ``RuntimeError``.
    """
    import onnx
    import torch

    import logging

    # the exporter logs one warning per torchvision op when torchvision is absent (it is, on CPU-only installs)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    model = model.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    kwargs = {}
    if dynamic_shapes is not None:
        kwargs["dynamic_shapes"] = tuple(dynamic_shapes)
    elif dynamic_batch:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            model, examples, None, input_names=list(input_names or ["input"]),
            output_names=list(output_names or ["logits"]), opset_version=opset,
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
        if len(examples) == 1 and not output_names:
            x = example.detach().numpy().astype(np.float32)
            refs = [model(example).detach().numpy()]
            gots = [OrtSession(tmp, threads=1).run(x)]
        else:
            import onnxruntime as ort
            import torch as _t

            with _t.no_grad():
                r = model(*examples)
            refs = [t.detach().numpy() for t in (r if isinstance(r, (tuple, list)) else (r,))]
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            sess = ort.InferenceSession(str(tmp), so, providers=["CPUExecutionProvider"])
            gots = sess.run(None, {i.name: e.detach().numpy().astype(np.float32)
                                   for i, e in zip(sess.get_inputs(), examples)})
        for ref, got in zip(refs, gots):
            if ref.shape != got.shape or not np.allclose(ref, got, atol=1e-4, rtol=1e-3):
                diff = np.abs(ref - got).max() if ref.shape == got.shape else f"shape {got.shape} vs {ref.shape}"
                raise RuntimeError(f"{out}: exported ONNX disagrees with the PyTorch model (max |diff| {diff})")
    return out
