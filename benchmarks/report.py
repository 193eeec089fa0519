"""Summaries of benchmark rows: interpolated PSNR at fixed rates, tables, and the RD plot."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "kodak_rd_reference.csv"
FIXED_RATES = (0.25, 0.5, 0.75, 1.0)
PUBLISHED = ["JPEG (Pillow 7.1.2)", "WebP (Pillow 7.1.2)", "BPG 4:4:4 x265 (0.9.8)", "COIN", "COIN++",
             "Struempler2022 MAML INR (SPY)", "MSCN (Schwarz&Teh 2022)", "RECOMBINER", "C3",
             "Cool-chic v5.0 (repo TSV; mean of 24 per-image PSNR)"]


def interp_psnr(bpp: np.ndarray, psnr: np.ndarray, at: float) -> float:
    """PSNR at a rate by linear interpolation between measured points (NaN outside them)."""
    order = np.argsort(bpp)
    b, p = np.asarray(bpp)[order], np.asarray(psnr)[order]
    if not b[0] <= at <= b[-1]:
        return float("nan")
    return float(np.interp(at, b, p))


def _curves(rows: list[dict]) -> dict[tuple[str, str], dict[str, list[dict]]]:
    """(codec, preset) -> image -> rows."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[(r["codec"], r["preset"])][r["image"]].append(r)
    return out


def label(codec: str, preset: str) -> str:
    return f"inrcodec {preset}" if codec == "inrcodec" else codec


def classic_at(curves, codec: str, image: str, bpp: float) -> float:
    pts = curves.get((codec, ""), {}).get(image, [])
    if len(pts) < 2:
        return float("nan")
    return interp_psnr(np.array([p["bpp"] for p in pts]), np.array([p["psnr"] for p in pts]), bpp)


def mean_curve(per_image: dict[str, list[dict]]) -> tuple[list, np.ndarray, np.ndarray]:
    """Mean bpp and PSNR at each setting, over images."""
    by_setting: dict = defaultdict(list)
    for pts in per_image.values():
        for p in pts:
            by_setting[p["setting"]].append(p)
    settings = sorted(by_setting)
    return (settings, np.array([np.mean([p["bpp"] for p in by_setting[s]]) for s in settings]),
            np.array([np.mean([p["psnr"] for p in by_setting[s]]) for s in settings]))


def write_report(rows: list[dict], stem: Path, name: str, machine: str, command: str, seconds: float) -> None:
    curves = _curves(rows)
    classics = sorted({c for c, p in curves if c != "inrcodec"})
    n_images = len({r["image"] for r in rows})
    md = [f"# Rate-distortion on {name} ({n_images} images)", "",
          f"Machine: {machine}. Command: `{command}` ({seconds / 60:.1f} min in all).", "",
          "bpp is the real file size (header included) over the pixel count; PSNR is RGB PSNR per image, "
          "then averaged. Classic-codec PSNR at inrcodec's rate is interpolated per image on that codec's "
          "own measured curve, then averaged.", ""]
    inr = sorted(k for k in curves if k[0] == "inrcodec")
    if inr:
        md += ["## inrcodec at each target rate", "",
               "| preset | target bpp | mean bpp | mean PSNR | " + " | ".join(f"{c} PSNR at same bpp" for c in classics)
               + " | encode s (mean) | decode s (mean) | device |",
               "|---|---|---|---|" + "---|" * len(classics) + "---|---|---|"]
        for key in inr:
            settings, _, _ = mean_curve(curves[key])
            for s in settings:
                pts = [p for img in curves[key].values() for p in img if p["setting"] == s]
                cmp = [np.nanmean([classic_at(curves, c, p["image"], p["bpp"]) for p in pts]) for c in classics]
                md.append(f"| {key[1]} | {s:g} | {np.mean([p['bpp'] for p in pts]):.3f} | "
                          f"{np.mean([p['psnr'] for p in pts]):.2f} | " + " | ".join(f"{v:.2f}" for v in cmp)
                          + f" | {np.mean([p['encode_s'] for p in pts]):.1f} | "
                          f"{np.mean([p['decode_s'] for p in pts]):.2f} | {pts[0]['device']} |")
        md.append("")
    md += ["## Mean PSNR at fixed rates (per-image interpolation)", "",
           "| codec | " + " | ".join(f"{r} bpp" for r in FIXED_RATES) + " | median encode s | median decode s |",
           "|---|" + "---|" * (len(FIXED_RATES) + 2)]
    for key in inr + [(c, "") for c in classics]:
        vals = []
        for r in FIXED_RATES:
            per = [interp_psnr(np.array([p["bpp"] for p in pts]), np.array([p["psnr"] for p in pts]), r)
                   for pts in curves[key].values() if len(pts) > 1]
            vals.append(np.mean(per) if per and not np.isnan(per).any() else float("nan"))
        allp = [p for img in curves[key].values() for p in img]
        md.append(f"| {label(*key)} | " + " | ".join("—" if np.isnan(v) else f"{v:.2f}" for v in vals)
                  + f" | {np.median([p['encode_s'] for p in allp]):.3f} | {np.median([p['decode_s'] for p in allp]):.3f} |")
    md += ["", "A dash: the rate lies outside the codec's measured range for at least one image.", ""]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    plot(curves, stem.with_suffix(".png"), name, machine)


def published_curves() -> dict[str, tuple[list[float], list[float]]]:
    if not REFERENCE.exists():
        return {}
    out: dict = defaultdict(lambda: ([], []))
    with open(REFERENCE) as f:
        for r in csv.DictReader(f):
            if r["codec"] in PUBLISHED:
                out[r["codec"]][0].append(float(r["bpp"]))
                out[r["codec"]][1].append(float(r["psnr"]))
    return dict(out)


def plot(curves, path: Path, name: str, machine: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for key in sorted(curves):
        _, b, p = mean_curve(curves[key])
        ax.plot(b, p, "o-" if key[0] == "inrcodec" else "s-", lw=2.2 if key[0] == "inrcodec" else 1.4,
                ms=4, label=f"{label(*key)} (measured)")
    if name.lower().startswith("kodak"):
        for codec, (b, p) in published_curves().items():
            o = np.argsort(b)
            ax.plot(np.array(b)[o], np.array(p)[o], "--", lw=1, alpha=0.8, label=f"{codec} (published)")
    ax.set_xlim(0, 1.6)
    ax.set_xlabel("bits per pixel (real file size)")
    ax.set_ylabel("RGB PSNR (dB), mean over images")
    ax.set_title(f"Rate-distortion on {name}\n{machine}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
