"""Quality metrics on 8-bit RGB, as Kodak tables report them.

PSNR: per image, over RGB, peak 255. MS-SSIM: Wang et al. 2003 with the conventions of
pytorch_msssim (the implementation behind CompressAI's published numbers): 11-tap Gaussian
window (sigma 1.5) without padding, 5 scales with 2x2 average pooling, per-channel, then
the mean over RGB.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR over RGB, peak 255; over the pixels where the (H, W) `mask` is True when given."""
    err = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    mse = np.mean(err if mask is None else err[mask])
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, no padding, every channel at once."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and contrast-structure term (data range 1)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my, exx, eyy, exy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1), g).chunk(5, dim=1)
    sxx, syy, sxy = exx - mx ** 2, eyy - my ** 2, exy - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)) * cs
    return ssim.flatten(2).mean(-1).double(), cs.flatten(2).mean(-1).double()


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(_ssim_cs(_to_tensor(a), _to_tensor(b), _gaussian())[0].mean())


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two (H, W, 3) uint8 images; needs a short side above 160 px (5 scales of 11 taps)."""
    x, y, g = _to_tensor(a), _to_tensor(b), _gaussian()
    if min(x.shape[-2:]) <= (g.numel() - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1):
        raise ValueError("MS-SSIM needs images whose short side exceeds 160 pixels")
    w = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64)
    vals = []
    for i in range(len(MS_SSIM_WEIGHTS)):
        s, cs = _ssim_cs(x, y, g)
        if i < len(MS_SSIM_WEIGHTS) - 1:
            vals.append(torch.relu(cs))
            pad = [0, x.shape[-1] % 2, 0, x.shape[-2] % 2]
            x, y = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2), F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
    vals.append(torch.relu(s))
    per_channel = torch.prod(torch.stack(vals, 0) ** w.view(-1, 1, 1), dim=0)
    return float(per_channel.mean())
