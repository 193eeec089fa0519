"""What the encoder, the decoder and the command line agree on, without torch: presets and limits.

The decoder checks a stream's preset code and size against what the encoder can write, and
`inrcodec --help` lists the presets: both must stay free of the encoder's torch import.
"""
from __future__ import annotations

PRESETS = {"fast": 30, "default": 250, "slow": 400}  # tiles' fitting steps: budgets 10 / 60 / 600 s per Kodak image
LATENT_PRESETS = {"fast": 10, "default": 150, "slow": 1400}  # representation 3: 0.2-0.3 s a step on 768x512, same budgets
PRESET_CODES = {"custom": 0, "fast": 1, "default": 2, "slow": 3}  # as the header stores them
MAX_OUTPUT_PIXELS = 64 * 1024 * 1024  # decode memory guard (~0.8 GB of float32 RGB)
BPP_TOLERANCE = 0.10  # a bpp target is met within this share: the rate control's, and where a latent fit refines upwards
MAX_ENCODE_PIXELS = 6_000_000  # fitting peaks at ~1.5 GB per megapixel (0.9 GB for Kodak)
PREVIEW_DEFAULT = 0.5  # decode --preview: half the channels
