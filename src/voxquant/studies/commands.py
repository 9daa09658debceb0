"""Study: multi-word command recognition, convolution vs attention, under every precision (issue "multi-word
commands"): ``voxquant study commands`` runs ``voxquant run --task sequence`` for each command architecture (the
bundled ``conv`` and ``conformer`` CTC models; resumable run folders ``<out>/<arch>``) and answers the seed's claims
with paired statistics on the SAME utterances of the real accented connected digits:

1. *"models with attention benefit from fp16 or hybrid quantization"*: does int8 PTQ cost the Conformer more WER
   than the convolutional model? (:func:`voxquant.eval.ctc.increase_difference`: (conformer int8 - fp32) - (conv
   int8 - fp32), paired speaker bootstrap);
2. *"for small command grammars QAT is more robust"*: does QAT recover what int8 PTQ loses? (int8 PTQ increase minus
   QAT increase, per architecture);
3. *"fp16 is often a safer choice"*: the fp16 increase and its CI per architecture;
4. *"especially for non-native accents"*: is the int8 increase larger for non-native than native speakers?
   (:func:`voxquant.eval.ctc.group_increase_difference`, speakers resampled within each group).

Each answer states the point estimate, the 95 % CI and whether the CI excludes 0 ("yes", "no", or "cannot tell":
with 69 speakers, of whom 8 are native, many differences are within noise, and the study says so).
Writes ``commands.json`` and ``commands.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ARCHS = ("conv", "conformer")


@dataclass
class CommandsStudyConfig:
    """Configuration of ``voxquant study commands`` (fields as :class:`voxquant.sequence_run.SequenceConfig`)."""

    out_dir: Path = Path("runs/study_commands")
    archs: tuple = ARCHS
    recipes: tuple = ("fp32", "fp16", "int8_static_minmax", "qat", "mixed")
    slice_for_claims: str = "real_clean"
    n_boot: int = 2000
    seed: int = 0
    data_root: Path | None = None
    progress: bool = True
    sequence_options: dict = field(default_factory=dict)


def _verdict(lo: float, hi: float) -> str:
    return "yes" if lo > 0 else ("no (the opposite)" if hi < 0 else "cannot tell (the CI includes 0)")


def claims(runs: dict, slice_name: str = "real_clean", n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """The seed's claims answered from finished sequence runs (see the module docstring).

    Args:
        runs: ``{arch: run folder}`` of finished ``voxquant run --task sequence`` runs on the same data.
        slice_name: the slice the claims are judged on.

    Returns:
        ``[{"claim", "question", "estimate_pp", "ci95", "answer", "detail"}]``.
    """
    import json

    from voxquant.eval.ctc import group_increase_difference, increase_difference, paired_wer_diff
    from voxquant.report.store import ResultStore

    res = {a: json.loads((Path(p) / "sequence_results.json").read_text()) for a, p in runs.items()}
    stores = {a: ResultStore(Path(p)) for a, p in runs.items()}

    def counts(a, v):
        k = f"wer_counts/{v}/{slice_name}"
        return stores[a].get_array(k) if stores[a].has_array(k) else None

    out = []
    any_res = next(iter(res.values()))
    spk = np.array(any_res["data"]["real_groups"]["speaker"])
    if {"conv", "conformer"} <= set(runs):
        ca, ia, cb, ib = (counts("conformer", "fp32"), counts("conformer", "int8_static_minmax"), counts("conv", "fp32"),
                          counts("conv", "int8_static_minmax"))
        if all(x is not None for x in (ca, ia, cb, ib)):
            d, lo, hi = increase_difference(ca, ia, cb, ib, spk, n_boot, seed)
            out.append({"claim": "attention loses more than convolution under int8",
                        "question": "(Conformer int8 PTQ - fp32) - (conv int8 PTQ - fp32), WER pp",
                        "estimate_pp": d, "ci95": [lo, hi], "answer": _verdict(lo, hi)})
    for a in runs:
        c32, c8, cq, c16 = (counts(a, "fp32"), counts(a, "int8_static_minmax"), counts(a, "qat"), counts(a, "fp16"))
        if c32 is not None and c8 is not None and cq is not None:
            d, lo, hi = increase_difference(c32, c8, c32, cq, spk, n_boot, seed)
            out.append({"claim": f"QAT recovers the int8 loss ({a})",
                        "question": f"{a}: (int8 PTQ - fp32) - (QAT - fp32), WER pp", "estimate_pp": d,
                        "ci95": [lo, hi], "answer": _verdict(lo, hi)})
        if c32 is not None and c16 is not None:
            d, lo, hi = paired_wer_diff(c32, c16, spk, n_boot, seed)
            out.append({"claim": f"fp16 loses nothing ({a})", "question": f"{a}: fp16 - fp32, WER pp",
                        "estimate_pp": d, "ci95": [lo, hi],
                        "answer": "yes (no loss)" if abs(d) < 1e-9 and lo == hi == 0 else
                        ("no: fp16 loses WER" if lo > 0 else "no measurable loss (CI includes 0)")})
        native = res[a]["data"]["real_groups"].get("native")
        if c32 is not None and c8 is not None and native:
            nat = np.array(native)
            if (nat == "no").any() and (nat == "yes").any():
                d, lo, hi = group_increase_difference(c32, c8, nat == "no", nat == "yes", spk, n_boot, seed)
                out.append({"claim": f"non-native speakers are hit harder by int8 ({a})",
                            "question": f"{a}: int8 PTQ increase of non-native minus native speakers, WER pp",
                            "estimate_pp": d, "ci95": [lo, hi], "answer": _verdict(lo, hi),
                            "detail": f"{int((nat == 'no').sum())} non-native vs {int((nat == 'yes').sum())} native"})
    return out


def table_rows(runs: dict) -> list[dict]:
    """The architecture x precision table: per arch and variant, WER on the real clean slice [CI], increase vs fp32
    [CI], worst accent group increase, float MAC share, size, RTF."""
    import json

    from voxquant.sequence_run import worst_group

    rows = []
    for a, p in runs.items():
        res = json.loads((Path(p) / "sequence_results.json").read_text())
        first = res["data"]["slices"][0]["name"]
        for v in res["variants"]:
            if v.get("status") != "ok":
                rows.append({"arch": a, "variant": v["name"], "status": v.get("status"), "error": v.get("error")})
                continue
            r = (v.get("wer") or {}).get(first, {})
            wg = worst_group(v, "accent")
            rows.append({"arch": a, "variant": v["name"], "precision": v.get("precision"), "wer": r.get("wer"),
                         "wer_ci": r.get("wer_ci"), "ser": r.get("ser"), "increase_pp": r.get("wer_increase_pp"),
                         "increase_ci": r.get("wer_increase_ci"), "worst_group": wg,
                         "float_mac_share": v.get("float_mac_share"), "size_bytes": v.get("size_bytes"),
                         "rtf": v.get("rtf"), "n_params": res["model"].get("n_params")})
    return rows


def to_markdown(rows: list[dict], answers: list[dict]) -> str:
    """``commands.md``: the table and the claims."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}"

    lines = ["| model | variant | precision | WER % [95% CI] | ΔWER pp vs fp32 [95% CI] | SER % | worst accent ΔWER pp "
             "[95% CI] (>= 3 speakers) | float MACs % | size KB | RTF |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "wer" not in r:
            lines.append(f"| {r['arch']} | {r['variant']} | {r.get('status')}: {r.get('error') or ''} ||||||| |")
            continue
        inc = ("reference" if r["increase_pp"] is None else
               f"{r['increase_pp']:+.1f} [{r['increase_ci'][0]:+.1f}, {r['increase_ci'][1]:+.1f}]")
        wg = r["worst_group"]
        wgs = "-" if not wg else f"{wg['value']} {wg['drop_pp']:+.1f} [{wg['ci'][0]:+.1f}, {wg['ci'][1]:+.1f}]"
        lines.append(f"| {r['arch']} | {r['variant']} | {r['precision']} | {pct(r['wer'])} [{pct(r['wer_ci'][0])}, "
                     f"{pct(r['wer_ci'][1])}] | {inc} | {pct(r['ser'])} | {wgs} | {pct(r['float_mac_share'])} | "
                     f"{(r['size_bytes'] or 0) / 1024:.0f} | {'-' if not r['rtf'] else format(r['rtf'], '.4f')} |")
    lines += ["", "| claim | measured | estimate pp [95% CI] | answer |", "|---|---|---|---|"]
    for c in answers:
        lines.append(f"| {c['claim']} | {c['question']} | {c['estimate_pp']:+.2f} [{c['ci95'][0]:+.2f}, "
                     f"{c['ci95'][1]:+.2f}] | {c['answer']}{'; ' + c['detail'] if c.get('detail') else ''} |")
    return "\n".join(lines) + "\n"


def run_study(cfg: CommandsStudyConfig) -> dict:
    """Run (or resume) one sequence run per architecture, then the comparison. Returns ``commands.json``'s dict.

    Raises:
        VoxquantError: from the runs (bad data, model, fingerprint).
    """
    from voxquant.report.store import write_json_atomic
    from voxquant.sequence_run import SequenceConfig, run_sequence

    t0 = time.time()
    runs = {}
    for a in cfg.archs:
        out = Path(cfg.out_dir) / a
        run_sequence(SequenceConfig(out_dir=out, model=a, recipes=tuple(cfg.recipes), seed=cfg.seed, n_boot=cfg.n_boot,
                                    data_root=cfg.data_root, progress=cfg.progress, **cfg.sequence_options))
        runs[a] = out
    rows = table_rows(runs)
    answers = claims(runs, cfg.slice_for_claims, cfg.n_boot, cfg.seed)
    res = {"runs": {a: str(p) for a, p in runs.items()}, "rows": rows, "claims": answers, "seconds": time.time() - t0}
    write_json_atomic(Path(cfg.out_dir) / "commands.json", res)
    from voxquant.atomic import write_text_atomic

    write_text_atomic(Path(cfg.out_dir) / "commands.md", to_markdown(rows, answers))
    return res


__all__ = ["ARCHS", "CommandsStudyConfig", "claims", "run_study", "table_rows", "to_markdown"]
