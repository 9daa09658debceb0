#!/usr/bin/env bash
# Build the RKNN Toolkit2 2.5.0 venv used by voxquant's rknn backend (once per machine / CI run).
# Location: $VOXQUANT_RKNN_VENV, else <voxquant cache>/rknn-venv. Measured: ~145 s on 2 cores with a cold pip cache.
# Usage: scripts/setup-rknn-venv.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
[ -x "$py" ] || py=python3
exec "$py" -m voxquant.backends.rknn.venv "$@"
