# voxquant: two commands.
#   make run   - create .venv, install voxquant, run `voxquant run` (default model, real speech, full report)
#   make test  - create .venv, install voxquant with every extra (TF, LiteRT, OpenVINO, QAT) + the RKNN venv, run pytest
#
# Data: VOXQUANT_DATA (default: ../shared/data when it exists beside the checkout, else the user cache, where
# `voxquant data fetch speech-commands-v2-test` downloads the official test set). Models: VOXQUANT_MODELS likewise.
PYTHON ?= python3
VENV   ?= .venv
PIP     = $(VENV)/bin/python -m pip install -q -c constraints.txt
VOXQUANT_DATA   ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
VOXQUANT_MODELS ?= $(if $(wildcard ../shared/models),$(abspath ../shared/models),)
OUT    ?= runs/default
export VOXQUANT_DATA VOXQUANT_MODELS

.PHONY: run test venv venv-test rknn clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.core
	$(PIP) -e '.[test,tf,litert,openvino,qat,stream]'
	# the upstream openwakeword package, only as the tests' cross-check of voxquant.eval.openwakeword (ONNX path;
	# --no-deps: its Linux dependency tflite-runtime is not needed for that path)
	$(VENV)/bin/python -m pip install -q --no-deps openwakeword==0.6.0
	touch $@

venv: $(VENV)/.core
venv-test: $(VENV)/.test

rknn: $(VENV)/.test
	$(VENV)/bin/voxquant backends setup rknn

run: $(VENV)/.core
	$(VENV)/bin/voxquant run --out $(OUT)

test: $(VENV)/.test rknn
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
