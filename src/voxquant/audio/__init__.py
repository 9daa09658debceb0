"""Audio I/O and the feature front-end (log-mel / MFCC in numpy and torch)."""

from voxquant.audio.frontend import DEFAULT_FRONTEND, FrontendConfig, TorchFrontend, compute_features
from voxquant.audio.io import fit_length, load_audio

__all__ = ["DEFAULT_FRONTEND", "FrontendConfig", "TorchFrontend", "compute_features", "fit_length", "load_audio"]
