"""Pack random training tiles into one uint8 .npy so training (or a GPU box) needs no image folder."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_files(folders: list[Path]) -> list[Path]:
    files = [p for f in folders for p in sorted(Path(f).rglob("*")) if p.suffix.lower() in EXTS]
    if not files:
        raise SystemExit(f"no images under {', '.join(map(str, folders))}")
    return files


def sample_patches(folders: list[Path], size: int, count: int, seed: int) -> np.ndarray:
    """Random crops (random flips, random down-scaling to 60-100%) spread evenly over images."""
    rng = np.random.default_rng(seed)
    files = image_files(folders)
    per_image = -(-count // len(files))
    out = []
    for path in files:
        img = Image.open(path).convert("RGB")
        for _ in range(per_image):
            s = rng.uniform(0.6, 1.0)
            w, h = max(size, round(img.width * s)), max(size, round(img.height * s))
            arr = np.asarray(img.resize((w, h), Image.LANCZOS) if s < 0.999 else img)
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            p = arr[y:y + size, x:x + size]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            out.append(np.ascontiguousarray(p))
    out = np.stack(out)
    return out[rng.permutation(len(out))[:count]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=36)
    ap.add_argument("--count", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    patches = sample_patches(a.folders, a.size, a.count, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(a.out, patches)
    print(f"{a.out}: {patches.shape} from {len(image_files(a.folders))} images")


if __name__ == "__main__":
    main()
