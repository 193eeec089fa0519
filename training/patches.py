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
    """Random crops (random flips, random down-scaling to 60-100 %, never below the crop) spread evenly over images."""
    rng = np.random.default_rng(seed)
    files = image_files(folders)
    per_image = -(-count // len(files))
    out = []
    for path in files:
        img = Image.open(path).convert("RGB")
        for _ in range(per_image):
            s = max(rng.uniform(0.6, 1.0), size / min(img.size))  # never below the crop: the aspect ratio holds
            w, h = max(size, round(img.width * s)), max(size, round(img.height * s))
            arr = np.asarray(img.resize((w, h), Image.LANCZOS) if s < 0.999 else img)
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            p = arr[y:y + size, x:x + size]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            out.append(np.ascontiguousarray(p))
    out = np.stack(out)
    return out[rng.permutation(len(out))[:count]]


def square_views(files: list[Path], size: int, count: int, seed: int, min_field: float = 0.6) -> np.ndarray:
    """Whole-image training data: random squares of 60-100% of each image's short side, resized to size x size."""
    rng = np.random.default_rng(seed)
    per_image = -(-count // len(files))
    out = []
    for path in files:
        img = Image.open(path).convert("RGB")
        short = min(img.size)
        for _ in range(per_image):
            side = round(short * rng.uniform(min_field, 1.0))
            x, y = rng.integers(0, img.width - side + 1), rng.integers(0, img.height - side + 1)
            view = np.asarray(img.resize((size, size), Image.LANCZOS, box=(x, y, x + side, y + side)))
            out.append(np.ascontiguousarray(view[:, ::-1] if rng.random() < 0.5 else view))
    out = np.stack(out)
    return out[rng.permutation(len(out))[:count]]


def centre_squares(files: list[Path], size: int) -> np.ndarray:
    """Test images as Meta-SparseINR crops them: the largest centred square, resized to size x size."""
    out = []
    for path in files:
        img = Image.open(path).convert("RGB")
        side = min(img.size)
        x, y = (img.width - side) // 2, (img.height - side) // 2
        out.append(np.asarray(img.resize((size, size), Image.LANCZOS, box=(x, y, x + side, y + side))))
    return np.stack(out)


def init_tiles(meta: dict, train: Path, val: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training and selection tiles a shipped init was made from (its card's recipe), kept in `cache`."""
    paths = cache / "tiles-train.npy", cache / "tiles-val.npy"
    if not all(p.exists() for p in paths):
        cache.mkdir(parents=True, exist_ok=True)
        size = meta["tile_px"]
        np.save(paths[0], sample_patches([train], size, meta["train_tiles"], seed=0))
        np.save(paths[1], sample_patches([val], size, 2048, seed=1)[: meta["args"]["val_tiles"]])
    return np.load(paths[0]), np.load(paths[1])


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
