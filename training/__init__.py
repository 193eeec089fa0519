"""Meta-training of the shipped init. Not part of the runtime: `inrcodec` never imports this."""
