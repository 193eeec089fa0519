"""Representation 3: latent grids, upsampled bicubically to any grid, read by a sparse per-pixel synthesis,
the latents coded under an integer context model (format version 3).

grid.py the pyramid and its upsampling, synthesis.py the network, arm.py the context model and the
latents' range coding, init.py the shipped init, fit.py the encoder's gradient steps (torch) and
stream.py the representation interface.
"""
