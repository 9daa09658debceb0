"""``voxquant cascade``: wake-word trigger -> command model, end to end on continuous streams
(:func:`voxquant.cascade_run.run_cascade`)."""

from __future__ import annotations

from pathlib import Path


def cmd_cascade(a) -> int:
    """Build a :class:`~voxquant.cascade_run.CascadeConfig` from the options and run it (errors: one line, exit 2)."""
    from voxquant.cascade_run import CascadeConfig, run_cascade

    def names(text):
        return tuple(x.strip() for x in text.split(",") if x.strip())

    kw = {}
    if a.out is not None:
        kw["out_dir"] = Path(a.out)
    for name in ("trigger", "command", "hours", "seed", "n_boot", "hangover_s", "margin_db"):
        if getattr(a, name) is not None:
            kw[name] = getattr(a, name)
    for name in ("conditions", "command_recipes", "trigger_recipes"):
        if getattr(a, name) is not None:
            kw[name] = names(getattr(a, name))
    if a.data_root is not None:
        kw["data_root"] = Path(a.data_root)
    kw["progress"] = not a.quiet
    res = run_cascade(CascadeConfig(**kw))
    if a.quiet:
        print(res["table"])
    print(f"results: {Path(res['config']['out_dir']) / 'cascade_results.json'} ({res['seconds']:.0f} s)")
    return 0


def add_commands(sub) -> None:
    """Add ``cascade`` to the ``voxquant`` sub-parsers."""
    from voxquant.cascade_run import CascadeConfig
    from voxquant.commands.config import field_defaults, format_default

    d = {k: format_default(v) for k, v in field_defaults(CascadeConfig).items()}
    s = sub.add_parser("cascade", help="wake-word trigger -> command model, end to end on continuous streams with "
                       "spoken commands (four precision pairings)",
                       description="Builds seeded streams where real commands follow the wake word (plus commands "
                       "without it and other speech), runs the trigger's variants, sends the audio after each "
                       "detection (to an energy end-point) to the command model's variants and reports command "
                       "success, false triggers and commands executed by mistake per hour, latency and MACs per hour "
                       "per pairing. Resumes in an existing --out.")
    s.add_argument("--out", help=f"output folder (resumes if it exists) [{d['out_dir']}]")
    s.add_argument("--trigger", help=f"streaming wake-word model: openwakeword-alexa, microwakeword-alexa, "
                   f"dscnn-stream [{d['trigger']}]")
    s.add_argument("--trigger-recipes", help=f"trigger recipes besides fp32 [{d['trigger_recipes']}]")
    s.add_argument("--command", help=f"command model: conv, conformer or CTC weights .pt [{d['command']}]")
    s.add_argument("--command-recipes", help=f"command-model recipes [{d['command_recipes']}]")
    s.add_argument("--hours", type=float, help=f"stream length per condition, hours [{d['hours']}]")
    s.add_argument("--conditions", help=f"comma list of clean, noise_snr<dB>, reverb_<room>, far_field "
                   f"[{d['conditions']}]")
    s.add_argument("--hangover-s", type=float, help=f"end-point: silence after speech, s [{d['hangover_s']}]")
    s.add_argument("--margin-db", type=float, help=f"end-point: speech threshold above the noise floor, dB "
                   f"[{d['margin_db']}]")
    s.add_argument("--n-boot", type=int, help=f"bootstrap resamples [{d['n_boot']}]")
    s.add_argument("--seed", type=int, help=f"[{d['seed']}]")
    s.add_argument("--data-root", help="data root (default VOXQUANT_DATA)")
    s.add_argument("--quiet", action="store_true", help="no progress messages")
    s.set_defaults(func=cmd_cascade)


__all__ = ["add_commands", "cmd_cascade"]
