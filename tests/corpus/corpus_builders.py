"""Builders of the bad-input corpus: synthetic audio, ONNX models, weights, specs and data folders, all written into
a test's ``tmp_path`` (imported as ``corpus_builders``; pytest puts this folder on ``sys.path``).

Nothing here reads real data; every file is generated (tones, hand-made RIFF headers, ``onnx.helper`` graphs).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf



class WorkStarted(BaseException):
    """Raised by the corpus tripwire (conftest.py): validation let the input through and real work began
    (a BaseException, so no ``except Exception`` in the code under test swallows it)."""


FE = "voxquant-mfcc-49x10"
SC12 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_")
FLT_MAX = float(np.finfo(np.float32).max)


def tone(n: int = 16000, amp: float = 0.3, f: float = 440.0, rate: int = 16000) -> np.ndarray:
    """``float32 [n]`` sine of ``f`` Hz at ``amp`` full scale (synthetic)."""
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.float32)


def good_wav(path: Path, n: int = 16000, rate: int = 16000, **kw) -> Path:
    """A valid 1 s PCM_16 mono tone WAV (or ``n`` samples at ``rate``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(n, rate=rate), rate, **kw)
    return path


def riff(path: Path, tag: int, channels: int, rate: int, bits: int, block_align: int, data: bytes,
         data_size: int | None = None) -> Path:
    """A hand-made RIFF/WAVE file: one ``fmt `` chunk (format ``tag``), one ``data`` chunk."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * max(block_align, 1), block_align, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def cut(path: Path, fraction: float = 0.5) -> Path:
    b = path.read_bytes()
    path.write_bytes(b[: int(len(b) * fraction)])
    return path


_PCM16 = (tone() * 32767).astype("<i2").tobytes()


def _float_wav(values, subtype="FLOAT"):
    dtype = np.float64 if subtype == "DOUBLE" else np.float32
    return lambda p: sf.write(str(p), np.r_[tone(100).astype(np.float64), values].astype(dtype), 16000,
                              subtype=subtype)


def _write_cut(fmt, subtype):
    def make(p):
        sf.write(str(p), tone(), 16000, format=fmt, subtype=subtype)
        cut(p)
    return make


def _fifo(p: Path):
    os.mkfifo(p)


#: Bad audio files: name -> (writer(path), suffix). Each is refused by load_audio with an AudioError naming the file.
BAD_AUDIO = {
    "empty_file": (lambda p: p.write_bytes(b""), ".wav"),
    "text_file": (lambda p: p.write_text("these are not samples\n"), ".wav"),
    "random_bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), ".wav"),
    "png_named_wav": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)), ".wav"),
    "zip_named_flac": (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(300)), ".flac"),
    "riff_header_only": (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVE"), ".wav"),
    "riff_garbage_fmt": (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage garbage"), ".wav"),
    "zero_samples": (lambda p: sf.write(str(p), np.zeros(0, np.float32), 16000, subtype="PCM_16"), ".wav"),
    "truncated_pcm16": (_write_cut("WAV", "PCM_16"), ".wav"),
    "truncated_pcm24": (_write_cut("WAV", "PCM_24"), ".wav"),
    "truncated_float": (_write_cut("WAV", "FLOAT"), ".wav"),
    "truncated_flac": (_write_cut("FLAC", "PCM_16"), ".flac"),
    "data_chunk_no_bytes": (lambda p: riff(p, 1, 1, 16000, 16, 2, b"", data_size=32000), ".wav"),
    "float_flt_max": (_float_wav([FLT_MAX]), ".wav"),
    "float_1_5": (_float_wav([1.5]), ".wav"),
    "float_minus_2": (_float_wav([0.5, -2.0]), ".wav"),
    "double_1e300": (_float_wav([1e300], "DOUBLE"), ".wav"),
    "float_nan": (_float_wav([np.nan]), ".wav"),
    "float_pos_inf": (_float_wav([np.inf]), ".wav"),
    "float_neg_inf": (_float_wav([-np.inf, np.nan]), ".wav"),
    "double_nan": (_float_wav([np.nan], "DOUBLE"), ".wav"),
    "pcm_7bit": (lambda p: riff(p, 1, 1, 16000, 7, 1, bytes(range(128)) * 10), ".wav"),
    "pcm_12bit": (lambda p: riff(p, 1, 1, 16000, 12, 2, _PCM16), ".wav"),
    "float_16bit": (lambda p: riff(p, 3, 1, 16000, 16, 2, _PCM16), ".wav"),
    "block_align_3": (lambda p: riff(p, 1, 1, 16000, 16, 3, _PCM16[:3000]), ".wav"),
    "block_align_0": (lambda p: riff(p, 1, 1, 16000, 16, 0, _PCM16), ".wav"),
    "three_ch_2byte_block": (lambda p: riff(p, 1, 3, 16000, 16, 2, _PCM16), ".wav"),
    "nms_adpcm": (lambda p: sf.write(str(p), tone(), 16000, subtype="NMS_ADPCM_16"), ".wav"),
    "stereo": (lambda p: sf.write(str(p), np.stack([tone(), tone()], 1), 16000, subtype="PCM_16"), ".wav"),
    "directory_named_wav": (lambda p: p.mkdir(), ".wav"),
    "missing_file": (lambda p: None, ".wav"),
}

#: Unusual but valid audio: name -> (writer(path), suffix, why it is a documented success).
OK_AUDIO = {
    "rate_8k": (lambda p: sf.write(str(p), tone(8000, rate=8000), 8000), ".wav", "other rates are resampled (soxr VHQ)"),
    "rate_44k1": (lambda p: sf.write(str(p), tone(44100, rate=44100), 44100), ".wav", "other rates are resampled"),
    "pcm_u8": (lambda p: sf.write(str(p), tone(), 16000, subtype="PCM_U8"), ".wav", "8-bit unsigned PCM is faithful"),
    "pcm_24": (lambda p: sf.write(str(p), tone(), 16000, subtype="PCM_24"), ".wav", "24-bit PCM"),
    "pcm_32": (lambda p: sf.write(str(p), tone(), 16000, subtype="PCM_32"), ".wav", "32-bit PCM"),
    "float_in_range": (lambda p: sf.write(str(p), tone(amp=1.0), 16000, subtype="FLOAT"), ".wav",
                       "float samples within [-1, 1]"),
    "double_in_range": (lambda p: sf.write(str(p), tone(), 16000, subtype="DOUBLE"), ".wav", "64-bit float"),
    "flac": (lambda p: sf.write(str(p), tone(), 16000, format="FLAC"), ".flac", "FLAC is lossless"),
    "short_100ms": (lambda p: sf.write(str(p), tone(1600), 16000), ".wav", "short clips are zero-padded"),
    "long_3s": (lambda p: sf.write(str(p), tone(48000), 16000), ".wav", "long clips are cropped to the clip length"),
    "one_sample": (lambda p: sf.write(str(p), tone(1), 16000), ".wav", "1 sample is audio; padded with zeros"),
    "silence": (lambda p: sf.write(str(p), np.zeros(16000, np.float32), 16000), ".wav", "digital silence is valid"),
    "full_scale_square": (lambda p: sf.write(str(p), np.sign(tone(amp=1.0)), 16000, subtype="FLOAT"), ".wav",
                          "exactly +-1.0 is in range"),
    "upper_case_ext": (lambda p: sf.write(str(p), tone(), 16000, format="WAV"), ".WAV", "extension case ignored"),
}


def write_audio(folder: Path, name: str, table: dict) -> Path:
    """Write ``table[name]`` into ``folder`` as ``synthetic_<name><suffix>``; returns the path."""
    make, suffix = table[name][0], table[name][1]
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"synthetic_{name}{suffix}"
    make(p)
    return p


# ------------------------------------------------------------------------------------------------ ONNX models


from onnx_builders import make_onnx  # noqa: E402  (shared with tests/models/test_bad_models.py)


def _int8(p):
    from onnx import TensorProto as T

    return make_onnx(p, in_type=T.INT8)


def _ext_missing(p):
    make_onnx(p, external=True)
    (p.parent / (p.name + ".data")).unlink()
    return p


def _truncated_onnx(p):
    make_onnx(p)
    return cut(p, 0.3)


#: ONNX files that do not fit (a 12-label, 49x10 MFCC model is expected): name -> (writer(path), checked by the file
#: check alone (True) or only when run (False: NaN output, wrong width are found when the model is executed)).
BAD_ONNX = {
    "not_protobuf": (lambda p: p.write_bytes(b"\x00\x01 definitely not protobuf \xff" * 10), True),
    "empty_onnx": (lambda p: p.write_bytes(b""), True),
    "text_onnx": (lambda p: p.write_text("ir_version: 8\n"), True),
    "truncated_onnx": (_truncated_onnx, True),
    "dir_named_onnx": (lambda p: p.mkdir(), True),
    "missing_onnx": (lambda p: None, True),
    "int8_input": (_int8, True),
    "two_inputs": (lambda p: make_onnx(p, n_inputs=2), True),
    "rank3_output": (lambda p: make_onnx(p, out_rank=3), True),
    "wrong_input_shape": (lambda p: make_onnx(p, in_shape=(1, 1, 40, 10)), True),
    "opset_99": (lambda p: make_onnx(p, opset=99), True),
    "external_data_missing": (_ext_missing, True),
    "nan_output": (lambda p: make_onnx(p, nan=True), False),
    "width_35": (lambda p: make_onnx(p, n_out=35), False),
}


def write_onnx(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.onnx"
    BAD_ONNX[name][0](p)
    return p


# ------------------------------------------------------------------------------------------------ voxquant weights


def _bundled_pair(folder: Path) -> tuple[Path, Path]:
    """A copy of the bundled DS-CNN weights (``.pt`` + ``.json``) in ``folder``."""
    import shutil

    from voxquant.models.zoo_default import DEFAULT_WEIGHTS

    folder.mkdir(parents=True, exist_ok=True)
    pt = folder / "model.pt"
    shutil.copy(DEFAULT_WEIGHTS, pt)
    shutil.copy(Path(DEFAULT_WEIGHTS).with_suffix(".json"), pt.with_suffix(".json"))
    return pt, pt.with_suffix(".json")


def _edit_json(fn):
    def make(folder):
        pt, js = _bundled_pair(folder)
        meta = json.loads(js.read_text())
        fn(meta)
        js.write_text(json.dumps(meta))
        return pt
    return make


def _pt_bytes(data: bytes):
    def make(folder):
        pt, _ = _bundled_pair(folder)
        pt.write_bytes(data)
        return pt
    return make


def _pt_torch_obj(obj_fn):
    def make(folder):
        import torch

        pt, _ = _bundled_pair(folder)
        torch.save(obj_fn(), pt)
        return pt
    return make


def _no_json(folder):
    pt, js = _bundled_pair(folder)
    js.unlink()
    return pt


def _json_text(text):
    def make(folder):
        pt, js = _bundled_pair(folder)
        js.write_text(text)
        return pt
    return make


def _pop(key):
    return lambda m: m.pop(key, None)


def _set(key, value):
    def f(m):
        m[key] = value
    return f


def _fe_set(key, value):
    def f(m):
        m["frontend"][key] = value
    return f


#: Broken voxquant weights: name -> builder(folder) -> path of the .pt.
BAD_WEIGHTS = {
    "pt_random_bytes": _pt_bytes(np.random.default_rng(1).bytes(2048)),
    "pt_empty": _pt_bytes(b""),
    "pt_text": _pt_bytes(b"not a torch file\n"),
    "pt_truncated": lambda folder: cut(_bundled_pair(folder)[0], 0.5),
    "pt_is_tensor": _pt_torch_obj(lambda: __import__("torch").zeros(3)),
    "pt_is_list": _pt_torch_obj(lambda: [1, 2, 3]),
    "pt_wrong_state_dict": _pt_torch_obj(lambda: {"conv.weight": __import__("torch").zeros(2, 2)}),
    "json_missing": _no_json,
    "json_not_json": _json_text("{not json"),
    "json_empty": _json_text(""),
    "json_is_list": _json_text("[1, 2]"),
    "json_no_labels": _edit_json(_pop("labels")),
    "json_no_frontend": _edit_json(_pop("frontend")),
    "json_labels_int": _edit_json(_set("labels", 12)),
    "json_fe_n_mfcc_str": _edit_json(_fe_set("n_mfcc", "ten")),
    "json_fe_rate_neg": _edit_json(_fe_set("sample_rate", -16000)),
    "json_fe_unknown_key": _edit_json(_fe_set("n_mfc", 10)),
    "pt_is_folder": lambda folder: (folder / "dir.pt").mkdir(parents=True) or folder / "dir.pt",
    "pt_missing": lambda folder: folder / "nothing.pt",
}


# ------------------------------------------------------------------------------------------------ model specs


def tiny_onnx(path: Path, in_shape=(1, 49, 10), n_out=12) -> Path:
    """Float ONNX ``[N, *in_shape] -> [N, n_out]`` (Flatten + Gemm)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = int(np.prod(in_shape))
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n_out)).astype(np.float32) * 0.01, "W")
    b = numpy_helper.from_array(np.zeros(n_out, np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "W", "B"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


_SC12_ORDER = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def spec_text(shape="[1, 1, 49, 10]", model='"m.onnx"', extra_input="", frontend='preset = "mlperf-tiny-mfcc"',
              extra_top="", fmt="onnx", labels=None) -> str:
    order = _SC12_ORDER if labels is None else labels
    return (f'name = "t"\nformat = "{fmt}"\nmodel = {model}\n{extra_top}\n[input]\nshape = {shape}\nlayout = "nchw"\n'
            f'{extra_input}\n[labels]\norder = {json.dumps(order)}\n\n[frontend]\n{frontend}\n')


#: Bad model specs: name -> spec_text keyword arguments (or a raw text). Each is refused naming spec.toml.
BAD_SPECS = {
    "shape_str_dim": {"shape": '["a"]'},
    "shape_negative": {"shape": "[1, 1, -49, 10]"},
    "shape_float": {"shape": "[1, 1, 49.5, 10]"},
    "shape_empty": {"shape": "[]"},
    "shape_string": {"shape": '"1x49x10"'},
    "shape_zero": {"shape": "[1, 1, 0, 10]"},
    "shape_bool": {"shape": "[true, 1, 49, 10]"},
    "override_type": {"frontend": 'preset = "mlperf-tiny-mfcc"\n[frontend.overrides]\nn_mfcc = "ten"'},
    "override_unknown": {"frontend": 'preset = "mlperf-tiny-mfcc"\n[frontend.overrides]\nn_mfc = 10'},
    "frontend_unknown_key": {"frontend": 'preset = "mlperf-tiny-mfcc"\npadd = "audio"'},
    "frontend_unknown_preset": {"frontend": 'preset = "no-such-preset"'},
    "input_unknown_key": {"extra_input": 'layuot = "nchw"'},
    "top_unknown_key": {"extra_top": 'descripton = "x"'},
    "quant_scale_negative": {"extra_input": "[input.quantization]\nscale = -1.0\nzero_point = 0"},
    "quant_zero_point_float": {"extra_input": "[input.quantization]\nscale = 0.5\nzero_point = 1.5"},
    "model_is_int": {"model": "3"},
    "model_missing_file": {"model": '"absent.onnx"'},
    "model_is_folder": {"model": '"weights"'},
    "format_typo": {"fmt": "onx"},
    "labels_empty": {"labels": []},
    "labels_not_strings": {"labels": [1, 2, 3]},
    "not_toml": "this is = = not toml [",
    "empty_spec": "",
    "binary_spec": "\x00\x01\x02",
}


def write_spec(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tiny_onnx(folder / "m.onnx")
    (folder / "weights").mkdir(exist_ok=True)
    kw = BAD_SPECS[name]
    p = folder / "spec.toml"
    p.write_text(kw if isinstance(kw, str) else spec_text(**kw))
    return p


# ------------------------------------------------------------------------------------------------ data folders


def labelled_folder(root: Path, labels=("yes", "no"), n=3) -> Path:
    """``root/<label>/<spk>_nohash_<i>.wav`` tones (valid), two speakers."""
    for li, lab in enumerate(labels):
        (root / lab).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sf.write(str(root / lab / f"spk{i % 2}abc_nohash_{i}.wav"), tone(f=300 + 100 * li + 10 * i), 16000)
    return root


def manifest(root: Path, rows: list[str], header="path,label,speaker", name="manifest.csv", files=True) -> Path:
    """A manifest CSV in ``root``; with ``files`` the audio named in the first column of each row is written."""
    root.mkdir(parents=True, exist_ok=True)
    if files:
        for r in rows:
            rel = r.split(",")[0]
            if rel and not rel.startswith("/") and rel.lower().endswith((".wav", ".flac")):
                good_wav(root / rel)
    p = root / name
    p.write_text("\n".join([header, *rows]) + "\n" if header is not None else "\n".join(rows))
    return p


def _folder_with(extra):
    def make(root):
        labelled_folder(root)
        extra(root)
        return root
    return make


def _dangling(root):
    os.symlink(root / "gone.wav", root / "yes" / "dangling.wav")


def _loop(root):
    os.symlink(root / "yes" / "loop_b.wav", root / "yes" / "loop_a.wav")
    os.symlink(root / "yes" / "loop_a.wav", root / "yes" / "loop_b.wav")


def _dir_wav(root):
    (root / "yes" / "x.wav").mkdir()


def _fifo_wav(root):
    os.mkfifo(root / "yes" / "fifo.wav")


def _dir_loop(root):
    os.symlink(root, root / "yes" / "up")


#: Data specs that cannot be loaded: name -> builder(root) -> spec path. load_dataset raises a DataError naming it.
BAD_DATA = {
    "nonexistent": lambda root: root / "no_such_folder",
    "empty_folder": lambda root: (root.mkdir(parents=True), root)[1],
    "only_text_files": lambda root: (root.mkdir(parents=True), (root / "a.txt").write_text("x"), root)[2],
    "audio_without_labels": lambda root: (good_wav(root / "a.wav"), root)[1],
    "label_dirs_without_audio": lambda root: ((root / "yes").mkdir(parents=True), (root / "yes" / "n.txt").write_text("x"),
                                              root)[2],
    "not_csv_file": lambda root: (root.mkdir(parents=True), (root / "data.txt").write_text("path,label\n"),
                                  root / "data.txt")[2],
    "manifest_empty_file": lambda root: manifest(root, [], header=None),
    "manifest_header_only": lambda root: manifest(root, []),
    "manifest_no_label_col": lambda root: manifest(root, ["a.wav,spk"], header="path,speaker"),
    "manifest_no_path_col": lambda root: manifest(root, ["yes,spk"], header="label,speaker"),
    "manifest_missing_audio": lambda root: manifest(root, ["gone.wav,yes,s1", "gone2.wav,no,s2"], files=False),
    "manifest_abs_missing": lambda root: manifest(root, ["/nonexistent/x.wav,yes,s1"], files=False),
    "manifest_too_many_cols": lambda root: manifest(root, ["a.wav,yes,s1,extra,more", "b.wav,no,s2"]),
    "manifest_empty_label": lambda root: manifest(root, ["a.wav,,s1", "b.wav,no,s2"]),
    "manifest_empty_path": lambda root: manifest(root, [",yes,s1", "b.wav,no,s2"]),
    "manifest_binary": lambda root: (root.mkdir(parents=True), (root / "manifest.csv").write_bytes(
        b"\xff\xfe\x00\x00" + np.random.default_rng(2).bytes(500)), root / "manifest.csv")[2],
    "manifest_latin1": lambda root: (root.mkdir(parents=True), good_wav(root / "a.wav"), (root / "manifest.csv").write_bytes(
        "path,label\na.wav,caf\xe9\n".encode("latin-1")), root / "manifest.csv")[3],
    "manifest_path_is_dir": lambda root: (manifest(root, ["sub.wav,yes,s1"], files=False), (root / "sub.wav").mkdir(),
                                          root / "manifest.csv")[2],
    "manifest_dup_header": lambda root: manifest(root, ["a.wav,yes,yes"], header="path,label,label"),
    "manifest_is_folder": lambda root: ((root / "x.csv").mkdir(parents=True), root / "x.csv")[1],
}

#: Unusual data folders that load (documented): name -> (builder(root) -> spec, why).
ODD_DATA = {
    "dangling_symlink": (_folder_with(_dangling), "skipped with a warning; the other clips load"),
    "symlink_loop": (_folder_with(_loop), "skipped with a warning; the other clips load"),
    "dir_named_x_wav": (_folder_with(_dir_wav), "a folder named like audio is skipped"),
    "fifo_named_wav": (_folder_with(_fifo_wav), "a FIFO named like audio is skipped (never opened: no hang)"),
    "dir_symlink_loop": (_folder_with(_dir_loop), "a symlink to an ancestor folder is not followed"),
    "extra_manifest_columns": (lambda root: manifest(root, ["a.wav,yes,s1,x,f", "b.wav,no,s2,y,m"],
                                                     header="path,label,speaker,accent,gender"),
                               "extra columns are kept in Clip.meta"),
    "manifest_bom": (lambda root: (manifest(root, ["a.wav,yes,s1", "b.wav,no,s2"]),
                                   (root / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + (root / "manifest.csv").read_bytes()),
                                   root / "manifest.csv")[2], "a UTF-8 byte-order mark (Excel) is accepted"),
    "unicode_labels": (lambda root: labelled_folder(root, labels=("sí", "日本", "ça")),
                       "any label text is a label"),
}
