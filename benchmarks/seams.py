"""Seam check: a zoomed crop of a decode with inrcodec's tile edges marked, plus the numbers.

    python -m benchmarks.seams [--image photo.png] [--bpp 0.5] [--crop Y X SIZE]

Writes benchmarks/results/seams.png: source | decode | 4x |error|, each zoomed 4x (nearest),
titled, with the tile edges ticked at the crop's border, and prints RGB PSNR on the
tile-border pixels (the cross-fade bands) against the interior ones. Without --image it
uses the generated example, since the data sets' licences forbid committing their pixels.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import inrcodec
from benchmarks.common import RESULTS, pyplot, save
from inrcodec import tilesiren
from inrcodec.example import synthetic_image
from inrcodec.images import load_image
from inrcodec.metrics import psnr
from inrcodec.sharedinit import INTEGRAL_INIT, load_init

ZOOM = 4


def panel(crop: np.ndarray, edges_y: list[int], edges_x: list[int]) -> np.ndarray:
    """Zoom a crop by nearest neighbour and tick the tile edges along its top and left borders."""
    big = np.repeat(np.repeat(crop, ZOOM, 0), ZOOM, 1).copy()
    for y in edges_y:
        big[y * ZOOM, :6] = (255, 0, 255)
    for x in edges_x:
        big[:6, x * ZOOM] = (255, 0, 255)
    return big


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.seams", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path)
    ap.add_argument("--bpp", type=float, default=0.5)
    ap.add_argument("--crop", type=int, nargs=3, metavar=("Y", "X", "SIZE"), default=(96, 96, 96))
    ap.add_argument("--out", type=Path, default=RESULTS / "seams.png")
    a = ap.parse_args()
    src = load_image(a.image) if a.image else synthetic_image(512, 768, seed=0)
    data = inrcodec.encode(src, bpp=a.bpp)
    out = inrcodec.decode(data)
    grid = tilesiren.grid_for(load_init(INTEGRAL_INIT), *src.shape[:2])
    seam = grid.seam_mask()
    y0, x0, n = a.crop
    sl = (slice(y0, y0 + n), slice(x0, x0 + n))
    edges_y, edges_x = ([int(round(e)) - o for e in cuts if 0 <= round(e) - o < n]
                        for cuts, o in zip(grid.edges(), (y0, x0), strict=True))
    err = np.clip(4 * np.abs(out.astype(int) - src.astype(int)), 0, 255).astype(np.uint8)
    bpp = 8 * len(data) / seam.size
    titles = [f"source{f' ({a.image.name})' if a.image else ' (generated)'}",
              f"decoded, {bpp:.3f} bpp, {psnr(out[sl], src[sl]):.2f} dB here",
              "|error| × 4"]
    plt = pyplot()
    side = n * ZOOM / 110  # inches at save()'s 110 dpi: one screen pixel per zoomed pixel
    fig, axes = plt.subplots(1, 3, figsize=(3.1 * side, side + 0.7))
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=side / (side + 0.7), wspace=0.03)
    for ax, img, title in zip(axes, (src, out, err), titles, strict=True):
        ax.imshow(panel(img[sl], edges_y, edges_x), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"Crop y {y0}, x {x0}, {n} px, zoomed {ZOOM}× (nearest); magenta ticks: tile edges", fontsize=9)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save(fig, a.out)
    print(f"{bpp:.3f} bpp, PSNR {psnr(out, src):.2f} dB: border pixels "
          f"{psnr(out, src, seam):.2f} dB ({seam.mean():.0%} of the image), interior {psnr(out, src, ~seam):.2f} dB; "
          f"wrote {a.out}")


if __name__ == "__main__":
    main()
