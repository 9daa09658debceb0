"""Studies built on the voxquant spine (each resumable through :class:`voxquant.report.store.ResultStore`).

* :mod:`voxquant.studies.architectures` -- ``voxquant study architectures``: DS-CNN vs CRNN (GRU) vs tiny KWT
  (attention) vs BC-ResNet-1 under fp32 / fp16 / int8 dynamic / int8 PTQ / int8 QAT / mixed precision.
* :mod:`voxquant.studies.calibration` -- ``voxquant study calibration``: int8 PTQ of one model with calibration
  sets of different composition, size and method.

Results and the commands that regenerate them: ``docs/studies.md``.
"""
