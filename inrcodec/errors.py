"""Exceptions the CLI turns into one-line messages (anything else is a bug and shows a traceback)."""


class InrCodecError(ValueError):
    """Base class: a problem with the user's input, not with inrcodec. A ValueError, so that
    API users catch a bad argument or bad data the way they would from any Python library."""


class ImageError(InrCodecError):
    """The input image is missing, unreadable or of a kind the codec refuses."""


class BitstreamError(InrCodecError):
    """The .inr data is truncated, corrupted, foreign or of an unknown version."""


class UsageError(InrCodecError):
    """Settings that cannot be honoured (absurd size, unreachable rate, output == input...);
    the CLI exits 2 for them, as for its own usage errors."""


class ImageWarning(UserWarning):
    """The image was used, but not all of it (later frames, an ICC profile that could not be
    applied): the CLI prints it as one line."""
