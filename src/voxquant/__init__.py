"""voxquant: what quantization really does to a keyword-spotting model on an edge device.

The package is split by concern:

* :mod:`voxquant.audio`    - audio I/O and the feature front-end (log-mel, MFCC) in numpy and torch
* :mod:`voxquant.data`     - datasets (Speech Commands, FSDD, noise, RIRs), splits, augmentation, download
* :mod:`voxquant.models`   - model architectures (DS-CNN, ...) and training
* :mod:`voxquant.quant`    - quantization recipes (fp16, int8 dynamic, int8 static PTQ, ...) in a registry
* :mod:`voxquant.backends` - runtimes/toolchains behind one small interface and one table
* :mod:`voxquant.targets`  - edge target profiles (op support tables)
* :mod:`voxquant.eval`     - metrics, slices, statistics (bootstrap CI, McNemar), latency
* :mod:`voxquant.report`   - results store (atomic, resumable), results.json, report.html, terminal table
* :mod:`voxquant.cli`      - the ``voxquant`` command

The Python API mirrors the CLI: :func:`voxquant.pipeline.run` is ``voxquant run``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
