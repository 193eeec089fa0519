"""Summaries of benchmark rows: interpolated quality at fixed rates, BD-rates, tables and plots."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bdrate import bd_rate

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference" / "kodak_rd_reference.csv"
FIXED_RATES = (0.25, 0.5, 0.75, 1.0)
PUBLISHED = ["JPEG (Pillow 7.1.2)", "WebP (Pillow 7.1.2)", "BPG 4:4:4 x265 (0.9.8)", "COIN", "COIN++",
             "Struempler2022 MAML INR (SPY)", "MSCN (Schwarz&Teh 2022)", "RECOMBINER", "C3",
             "Cool-chic v5.0 (repo TSV; mean of 24 per-image PSNR)"]

Curves = dict  # (codec, preset) -> image -> list of row dicts


def interp(bpp, val, at: float) -> float:
    """Value at a rate by linear interpolation between measured points (NaN outside them)."""
    order = np.argsort(bpp)
    b, v = np.asarray(bpp, float)[order], np.asarray(val, float)[order]
    if len(b) < 2 or not b[0] <= at <= b[-1]:
        return float("nan")
    return float(np.interp(at, b, v))


def group(rows: list[dict]) -> Curves:
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[(r["codec"], r["preset"])][r["image"]].append(r)
    return out


def label(key: tuple[str, str]) -> str:
    return f"inrcodec {key[1]}" if key[0] == "inrcodec" else key[0]


def at_rate(curves: Curves, key, image: str, bpp: float, field: str = "psnr") -> float:
    pts = curves.get(key, {}).get(image, [])
    return interp([p["bpp"] for p in pts], [p[field] for p in pts], bpp)


def mean_at(curves: Curves, key, bpp: float, field: str = "psnr") -> float:
    vals = [at_rate(curves, key, img, bpp, field) for img in curves[key]]
    return float(np.mean(vals)) if vals and not np.isnan(vals).any() else float("nan")


def mean_curve(per_image) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Mean bpp, PSNR and MS-SSIM at each setting, over images."""
    by: dict = defaultdict(list)
    for pts in per_image.values():
        for p in pts:
            by[p["setting"]].append(p)
    s = sorted(by)
    mean = lambda k: np.array([np.mean([p[k] for p in by[x]]) for x in s])  # noqa: E731
    return s, mean("bpp"), mean("psnr"), mean("ms_ssim")


def _nanmean(vals: list[float]) -> float:
    """Mean over the images where the value exists (NaN when none)."""
    v = np.asarray(vals, float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def _fmt(v: float, digits: int = 2) -> str:
    return "—" if v is None or np.isnan(v) else f"{v:.{digits}f}"


def write_report(rows: list[dict], stem: Path, name: str, machine: str, command: str, seconds: float,
                 skipped: list[str] = ()) -> None:
    curves = group(rows)
    inr = sorted(k for k in curves if k[0] == "inrcodec")
    classics = sorted(k for k in curves if k[0] != "inrcodec")
    n_images = len({r["image"] for r in rows})
    md = [f"# Rate-distortion on {name} ({n_images} images)", "",
          f"Machine: {machine}. Command: `{command}` ({seconds / 60:.1f} min in all, one process).", "",
          "bpp is the real file size (header included) over the pixel count. PSNR is RGB PSNR per image, "
          "then averaged; MS-SSIM is RGB MS-SSIM (pytorch_msssim conventions). Where a codec is compared at "
          "another codec's rate, its quality is interpolated per image on its own measured curve, then "
          "averaged. inrcodec's encode time is the measured fit plus the measured rate control for that "
          "target (the two stages of one `inrcodec encode`).", ""]
    if inr:
        md += ["## inrcodec at each target rate", "",
               "| variant | target bpp | mean bpp | PSNR | MS-SSIM | "
               + " | ".join(f"{k[0]} PSNR at same bpp" for k in classics)
               + " | encode s | decode s | device |",
               "|---|---|---|---|---|" + "---|" * len(classics) + "---|---|---|"]
        for key in inr:
            for s in mean_curve(curves[key])[0]:
                pts = [p for img in curves[key].values() for p in img if p["setting"] == s]
                cmp = [_nanmean([at_rate(curves, c, p["image"], p["bpp"]) for p in pts]) for c in classics]
                md.append(f"| {key[1]} | {s:g} | {np.mean([p['bpp'] for p in pts]):.3f} | "
                          f"{np.mean([p['psnr'] for p in pts]):.2f} | {np.mean([p['ms_ssim'] for p in pts]):.4f} | "
                          + " | ".join(_fmt(v) for v in cmp)
                          + f" | {np.mean([p['encode_s'] for p in pts]):.1f} | "
                          f"{np.mean([p['decode_s'] for p in pts]):.2f} | {pts[0]['device']} |")
        md.append("")
        md += ["## BD-rate of inrcodec against each codec (%, negative = inrcodec needs fewer bits)", "",
               "Bjøntegaard, PCHIP of log-rate against mean PSNR over the PSNR range both mean curves cover. "
               "A dash: the two mean curves share no PSNR range (one codec never reaches the other's lowest "
               "measured quality), so no BD-rate exists.", "",
               "| inrcodec variant | " + " | ".join(k[0] for k in classics) + " |",
               "|---|" + "---|" * len(classics)]
        for key in inr:
            _, b, p, _ = mean_curve(curves[key])
            cells = []
            for c in classics:
                _, cb, cp, _ = mean_curve(curves[c])
                cells.append(_fmt(bd_rate(cb, cp, b, p), 1))
            md.append(f"| {key[1]} | " + " | ".join(cells) + " |")
        md.append("")
        if len(inr) > 1:
            md += ["## BD-rate between inrcodec variants (%, row against column: negative = the row needs fewer bits)",
                   "", "| variant | " + " | ".join(k[1] for k in inr) + " |", "|---|" + "---|" * len(inr)]
            for key in inr:
                _, b, p, _ = mean_curve(curves[key])
                md.append(f"| {key[1]} | " + " | ".join(
                    "" if other == key else _fmt(bd_rate(*mean_curve(curves[other])[1:3], b, p), 1) for other in inr) + " |")
            md.append("")
    md += ["## Mean PSNR at fixed rates (per-image interpolation) and times", "",
           "| codec | " + " | ".join(f"{r} bpp" for r in FIXED_RATES) + " | median encode s | median decode s |",
           "|---|" + "---|" * (len(FIXED_RATES) + 2)]
    for key in inr + classics:
        allp = [p for img in curves[key].values() for p in img]
        md.append(f"| {label(key)} | " + " | ".join(_fmt(mean_at(curves, key, r)) for r in FIXED_RATES)
                  + f" | {np.median([p['encode_s'] for p in allp]):.3f} | {np.median([p['decode_s'] for p in allp]):.3f} |")
    md += ["", "A dash: the rate lies outside the codec's measured range for at least one image.", ""]
    md += ["## Seams: PSNR on tile-border pixels against interior ones", "",
           "Border pixels lie in the cross-fade bands between inrcodec's tiles (within 2 px of a tile edge, "
           "about 23% of the pixels with 32-px tiles); every codec is measured on "
           "the same pixels. A seam shows as border PSNR well below interior PSNR, beyond what the classic "
           "codecs show on the same pixels. Mean over all images and points.", "",
           "| codec | border PSNR | interior PSNR | border − interior (dB) |", "|---|---|---|---|"]
    for key in inr + classics:
        allp = [p for img in curves[key].values() for p in img]
        seam, inner = (_nanmean([p[k] for p in allp]) for k in ("psnr_seam", "psnr_interior"))
        md.append(f"| {label(key)} | {_fmt(seam)} | {_fmt(inner)} | {_fmt(seam - inner)} |")
    md.append("")
    md += ["## Mean curves of the classic codecs (mean over images at each setting)", "",
           "| codec | setting | mean bpp | PSNR | MS-SSIM |", "|---|---|---|---|---|"]
    for key in classics:
        for setting, b, p, m in zip(*mean_curve(curves[key])):
            md.append(f"| {key[0]} | {setting:g} | {b:.3f} | {p:.2f} | {m:.4f} |")
    md.append("")
    if skipped:
        md += ["## Targets inrcodec could not meet within 10% (left out above)", ""] + [f"- {x}" for x in skipped] + [""]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    plot_rd(curves, stem.with_suffix(".png"), name, machine)
    plot_time(curves, stem.parent / f"{stem.name}-time.png", name, machine)


def published_curves() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if not REFERENCE.exists():
        return {}
    out: dict = defaultdict(list)
    with open(REFERENCE) as f:
        for r in csv.DictReader(f):
            if r["codec"] in PUBLISHED:
                out[r["codec"]].append((float(r["bpp"]), float(r["psnr"]),
                                        float(r["ms_ssim"]) if r["ms_ssim"] else float("nan")))
    return {k: tuple(np.array(sorted(v)).T) for k, v in out.items()}


def plot_rd(curves: Curves, path: Path, name: str, machine: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(15, 8))
    published = published_curves() if name.lower().startswith("kodak") else {}
    for ax, field, ylabel in ((axes[0], 2, "RGB PSNR (dB)"), (axes[1], 3, "MS-SSIM (RGB)")):
        for key in sorted(curves):
            c = mean_curve(curves[key])
            mine = key[0] == "inrcodec"
            ax.plot(c[1], c[field], "o-" if mine else "s-", lw=2.4 if mine else 1.3, ms=4,
                    label=f"{label(key)} (measured)")
        for i, (codec, (b, p, m)) in enumerate(published.items()):
            y = p if field == 2 else m
            if np.isfinite(y).any():
                ax.plot(b, y, "--", lw=1.4, color=plt.cm.tab20(2 * i + 1),
                        label=f"{codec.split(' (repo')[0]} (published)")
        ax.set_xlim(0, 1.6)
        ax.set_xlabel("bits per pixel (real file size)")
        ax.set_ylabel(f"{ylabel}, mean over images")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()  # same colours in both panels: one legend
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"Rate-distortion on {name} — {machine}", fontsize=9)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_time(curves: Curves, path: Path, name: str, machine: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for key in sorted(curves):
        q = mean_at(curves, key, 0.5)
        t = np.median([p["encode_s"] for img in curves[key].values() for p in img])
        if np.isfinite(q):
            ax.scatter([t], [q], s=60 if key[0] == "inrcodec" else 35, marker="o" if key[0] == "inrcodec" else "s")
            ax.annotate(label(key), (t, q), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("median encode time per image (s, log scale)")
    ax.set_ylabel("mean RGB PSNR at 0.5 bpp (dB)")
    ax.set_title(f"Quality against encode time on {name}\n{machine}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
