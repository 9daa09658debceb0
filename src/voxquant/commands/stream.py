"""``voxquant stream``: streaming (always-on) evaluation of a clip model's quantized variants
(:func:`voxquant.streaming_run.run_stream`)."""

from __future__ import annotations

from pathlib import Path


def cmd_stream(a) -> int:
    """Build a :class:`~voxquant.streaming_run.StreamConfig` from the options and run it (errors: one line, exit 2)."""
    from voxquant.commands.config import parse_numbers
    from voxquant.streaming_run import StreamConfig, run_stream

    def names(text):
        return tuple(x.strip() for x in text.split(",") if x.strip())

    kw = {}
    if a.out is not None:
        kw["out_dir"] = Path(a.out)
    if a.model is not None:
        kw["model"] = Path(a.model)
    for name in ("keyword", "hop_ms", "smooth_k", "refractory_s", "n_boot", "boot_block_s", "calib_n", "seed",
                 "fa_budget", "max_frr_increase"):
        if getattr(a, name) is not None:
            kw[name] = getattr(a, name)
    if a.hours is not None:
        kw["stream_hours"] = a.hours
    if a.recipes is not None:
        kw["recipes"] = names(a.recipes)
    if a.conditions is not None:
        kw["conditions"] = names(a.conditions)
    if a.fa_per_hour is not None:
        kw["fa_per_hour"] = parse_numbers(a.fa_per_hour, "--fa-per-hour")
    if a.data_root is not None:
        kw["data_root"] = Path(a.data_root)
    for name in ("negatives", "positives"):
        if getattr(a, name) is not None:
            kw[name] = Path(getattr(a, name))
    kw["progress"] = not a.quiet
    res = run_stream(StreamConfig(**kw))
    if a.quiet:
        print(res["table"])
    print(f"results: {Path(res['config']['out_dir']) / 'stream_results.json'} ({res['seconds']:.0f} s)")
    return 0


def add_commands(sub) -> None:
    """Add ``stream`` to the ``voxquant`` sub-parsers."""
    from voxquant.commands.config import field_defaults, format_default
    from voxquant.streaming_run import StreamConfig

    d = {k: format_default(v) for k, v in field_defaults(StreamConfig).items()}
    s = sub.add_parser("stream", help="always-on wake-word evaluation: FRR at fixed FA/h of each variant on continuous "
                       "streams", description="Builds seeded continuous streams (eval-split keyword clips among other "
                       "words, real noise and rooms), slides the model over them and reports DET curves and FRR at "
                       "FA/h targets with bootstrap CIs per variant and condition. Resumes in an existing --out.")
    s.add_argument("--out", help=f"output folder (resumes if it exists) [{d['out_dir']}]")
    s.add_argument("--model", help="voxquant weights, model spec (.toml) or zoo name (e.g. mlperf-tiny-sww-fp32); "
                   "default: the bundled DS-CNN; dscnn-stream (streaming DS-CNN, exact stream graph); "
                   "openwakeword-alexa / -hey_mycroft (openWakeWord v0.1 pipeline); or a natively stateful model: "
                   "microwakeword-alexa (also -hey_jarvis, -hey_mycroft, -okay_nabu) or a "
                   "microWakeWord v2 .tflite path (variants fp32 = dequantized float reference, int8 = as published)")
    s.add_argument("--keyword", help="the wake word, one of the model's labels [yes for clip models, else the model's word]")
    s.add_argument("--recipes", help=f"comma-separated recipes (fp32 always included) [{d['recipes']}]")
    s.add_argument("--conditions", help="comma list of clean, noise_snr<dB>, reverb_<room>, far_field "
                   f"[{d['conditions']}]")
    s.add_argument("--hours", type=float, help=f"stream length per condition, hours [{d['stream_hours']}]")
    s.add_argument("--hop-ms", type=float, help=f"window hop, ms [{d['hop_ms']}]")
    s.add_argument("--smooth-k", type=int, help=f"moving average over the last K outputs [{d['smooth_k']}]")
    s.add_argument("--refractory-s", type=float, help=f"cooldown after a detection, s [{d['refractory_s']}]")
    s.add_argument("--fa-per-hour", help=f"comma list of FA/h targets [{d['fa_per_hour']}]")
    s.add_argument("--fa-budget", type=float, help="FA/h budget at which the recommendation compares FRRs "
                   f"[{d['fa_budget']}]")
    s.add_argument("--max-frr-increase", type=float, help="FRR increase over fp32 (pp) the recommendation allows, "
                   f"judged on the paired bootstrap CI upper bound [{d['max_frr_increase']}]")
    s.add_argument("--n-boot", type=int, help=f"bootstrap resamples [{d['n_boot']}]")
    s.add_argument("--boot-block-s", type=float, help=f"bootstrap block of negative audio, s [{d['boot_block_s']}]")
    s.add_argument("--calib-n", type=int, help=f"calibration clips from dev [{d['calib_n']}]")
    s.add_argument("--seed", type=int, help=f"[{d['seed']}]")
    s.add_argument("--data-root", help="data root (default VOXQUANT_DATA)")
    s.add_argument("--negatives", metavar="DIR", help="your own negative recordings (folder of WAV/FLAC/OGG of any "
                   "length, or a manifest.csv path,label[,speaker,group]); cut into pieces used once, so they bound "
                   "the stream's hours [the data pack's other words]")
    s.add_argument("--positives", metavar="DIR", help="your own keyword clips (folder or manifest.csv; speaker and "
                   "accent/gender/group columns give per-group FRR) [the data pack's eval clips of the keyword]")
    s.add_argument("--quiet", action="store_true", help="no progress messages")
    s.set_defaults(func=cmd_stream)


__all__ = ["add_commands", "cmd_stream"]
