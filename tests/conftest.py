"""Generated test images: the tests never need ../shared or a GPU."""
from __future__ import annotations

import numpy as np
import pytest

from inrcodec.example import synthetic_image


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    return synthetic_image(64, 96)


@pytest.fixture(scope="session")
def stream(image) -> bytes:
    import inrcodec
    return inrcodec.encode(image, quality=60, steps=8)
