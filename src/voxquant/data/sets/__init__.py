"""One module per known data set; each has ``load(root=None) -> ClipSet`` (the entry of
:data:`voxquant.data.registry.DATASETS`) and its named loader (``speech_commands_test``, ``fsdd``, ...).

``root`` is the data root (default :func:`voxquant.paths.data_root`, ``VOXQUANT_DATA``) or the set folder itself.
"""
