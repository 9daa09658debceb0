"""Sub-command modules of the ``voxquant`` CLI (the top layer, with :mod:`voxquant.cli`).

Each module has ``add_commands(subparsers)``; :data:`voxquant.cli.EXTENSION_MODULES` lists them:

* :mod:`.backends` -- ``benchmark``, ``check``, ``backends list|targets|setup``;
* :mod:`.zoo` -- ``zoo list|eval|reproduce``;
* :mod:`.studies` -- ``study architectures|calibration|train-models``.

They live here, not inside their packages, so that the packages below the CLI never import a higher layer
(import-linter contract in ``pyproject.toml``).
"""
