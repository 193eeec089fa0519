"""Summaries of rate-distortion rows: interpolated quality at fixed rates, BD-rates, tables and plots.

    python -m benchmarks.report benchmarks/results/kodak.csv --minutes 62
    python -m benchmarks.report results/kodak.shard-*.csv --name kodak --machine "..." --command "..."

Rewrites <name>.md and the plots from one CSV of benchmarks.rd, or merges several (the shards
of one benchmark, or runs that measured different codecs or images) into <name>.csv first.
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bdrate import bd_rate
from benchmarks.common import RESULTS, ROOT, pyplot, save, write_csv

REFERENCE = ROOT / "benchmarks" / "reference" / "kodak_rd_reference.csv"  # published numbers, with sources
FIELDS = ["image", "codec", "preset", "setting", "bpp", "psnr", "ms_ssim", "psnr_seam", "psnr_interior",
          "encode_s", "decode_s", "cli_encode_s", "cli_decode_s", "device", "network", "note"]
NUMBERS = ("setting", "bpp", "psnr", "ms_ssim", "psnr_seam", "psnr_interior", "encode_s", "decode_s",
           "cli_encode_s", "cli_decode_s")
FIXED_RATES = (0.25, 0.5, 0.75, 1.0)
PUBLISHED = ["JPEG (Pillow 7.1.2)", "WebP (Pillow 7.1.2)", "BPG 4:4:4 x265 (0.9.8)", "COIN", "COIN++",
             "Struempler2022 MAML INR (SPY)", "MSCN (Schwarz&Teh 2022)", "RECOMBINER", "C3",
             "Cool-chic v5.0 (repo TSV; mean of 24 per-image PSNR)"]

Curves = dict  # (codec, preset) -> image -> list of row dicts


def point_key(row: dict) -> tuple[str, str, str, float]:
    """What makes a row one measured point: a run skips points it finds done, a merge keeps one row of each."""
    return row["image"], row["codec"], row["preset"], round(float(row["setting"]), 6)


def read_rows(path: Path) -> list[dict]:
    """Rows of a results CSV with numbers as numbers; columns that older runs lacked read as empty,
    and a row cut short (a run killed while writing it) is left out."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if None in r or None in r.values():  # cut short, or longer than its header
                continue
            r = {k: r.get(k) or "" for k in FIELDS}
            for k in NUMBERS:
                r[k] = float(r[k] or "nan")
            out.append(r)
    return out


def merge(paths: list[Path]) -> list[dict]:
    """The rows of several CSVs, one per point (the first CSV that has it wins)."""
    rows: dict[tuple, dict] = {}
    for path in paths:
        for r in read_rows(path):
            rows.setdefault(point_key(r), r)
    return list(rows.values())


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


def median_of(curves: Curves, key, field: str) -> float:
    """Median of a column over every point of a curve, NaN where it was not measured (CLI timings)."""
    v = np.array([p[field] for img in curves[key].values() for p in img], float)
    return float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")


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

    def mean(k: str) -> np.ndarray:
        return np.array([np.mean([p[k] for p in by[x]]) for x in s])
    return s, mean("bpp"), mean("psnr"), mean("ms_ssim")


def _nanmean(vals: list[float]) -> float:
    """Mean over the images where the value exists (NaN when none)."""
    v = np.asarray(vals, float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def _fmt(v: float, digits: int = 2) -> str:
    return "—" if v is None or np.isnan(v) else f"{v:.{digits}f}"


def write_report(rows: list[dict], stem: Path, name: str, machine: str, command: str, timing: str = "") -> None:
    """<stem>.md, <stem>.png and <stem>-time.png from the rows of one benchmark (points and skipped targets)."""
    skipped = [f"{r['image']} {r['preset']} {r['setting']:g} bpp: {r['note']}" for r in rows if r["note"]]
    rows = [r for r in rows if not r["note"]]
    curves = group(rows)
    inr = sorted(k for k in curves if k[0] == "inrcodec")
    classics = sorted(k for k in curves if k[0] != "inrcodec")
    n_images = len({r["image"] for r in rows})
    cli_images = sorted({r["image"] for r in rows if np.isfinite(r["cli_encode_s"])})
    md = [f"# Rate-distortion on {name} ({n_images} images)", "",
          f"Machine: {machine}. Command: `{command}`" + (f" ({timing})." if timing else "."), "",
          "bpp is the real file size (header included) over the pixel count. PSNR is RGB PSNR per image, "
          "then averaged; MS-SSIM is RGB MS-SSIM (pytorch_msssim conventions). Where a codec is compared at "
          "another codec's rate, its quality is interpolated per image on its own measured curve, then "
          "averaged. inrcodec's encode time is the measured fit plus the measured rate control for that "
          "target (the two stages of one `inrcodec encode`), in the benchmark's long-running process.", ""]
    if cli_images:
        md += [f"CLI columns: what a user waits for, the wall time of `inrcodec encode` and of `inrcodec decode` "
               f"of the same point, each run as a fresh process (start-up, imports and loading included), "
               f"measured on {len(cli_images)} of the images ({', '.join(cli_images)}).", ""]
    cli_cols = [("cli_encode_s", "CLI encode s"), ("cli_decode_s", "CLI decode s")] if cli_images else []
    if inr:
        md += ["## inrcodec at each target rate", "",
               "| variant | target bpp | mean bpp | PSNR | MS-SSIM | "
               + " | ".join(f"{k[0]} PSNR at same bpp" for k in classics)
               + " | encode s | decode s | " + "".join(f"{title} | " for _, title in cli_cols) + "device |",
               "|---|---|---|---|---|" + "---|" * len(classics) + "---|---|" + "---|" * len(cli_cols) + "---|"]
        for key in inr:
            for s in mean_curve(curves[key])[0]:
                pts = [p for img in curves[key].values() for p in img if p["setting"] == s]
                cmp = [_nanmean([at_rate(curves, c, p["image"], p["bpp"]) for p in pts]) for c in classics]
                md.append(f"| {key[1]} | {s:g} | {np.mean([p['bpp'] for p in pts]):.3f} | "
                          f"{np.mean([p['psnr'] for p in pts]):.2f} | {np.mean([p['ms_ssim'] for p in pts]):.4f} | "
                          + " | ".join(_fmt(v) for v in cmp)
                          + f" | {np.mean([p['encode_s'] for p in pts]):.1f} | "
                          f"{np.mean([p['decode_s'] for p in pts]):.2f} | "
                          + "".join(f"{_fmt(_nanmean([p[k] for p in pts]))} | " for k, _ in cli_cols)
                          + f"{pts[0]['device']} |")
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
           "| codec | " + " | ".join([*(f"{r} bpp" for r in FIXED_RATES), "median encode s", "median decode s",
                                      *(f"median {title}" for _, title in cli_cols)]) + " |",
           "|---|" + "---|" * (len(FIXED_RATES) + 2 + len(cli_cols))]
    for key in inr + classics:
        md.append(f"| {label(key)} | " + " | ".join(_fmt(mean_at(curves, key, r)) for r in FIXED_RATES)
                  + "".join(f" | {_fmt(median_of(curves, key, k), 3)}" for k in ("encode_s", "decode_s"))
                  + "".join(f" | {_fmt(median_of(curves, key, k), 2)}" for k, _ in cli_cols) + " |")
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
        for setting, b, p, m in zip(*mean_curve(curves[key]), strict=True):
            md.append(f"| {key[0]} | {setting:g} | {b:.3f} | {p:.2f} | {m:.4f} |")
    md.append("")
    if skipped:
        md += ["## Targets inrcodec could not meet within 10% (left out above)", ""] + [f"- {x}" for x in skipped] + [""]
    (stem.parent / f"{stem.name}.md").write_text("\n".join(md) + "\n")  # a dotted name keeps its dots
    plot_rd(curves, stem.parent / f"{stem.name}.png", name, machine)
    plot_time(curves, stem.parent / f"{stem.name}-time.png", name, machine)


def published_curves() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Mean (bpp, PSNR, MS-SSIM) curves of the published codecs drawn beside ours (PUBLISHED)."""
    out: dict = defaultdict(list)
    with open(REFERENCE) as f:
        for r in csv.DictReader(f):
            if r["codec"] in PUBLISHED:
                out[r["codec"]].append((float(r["bpp"]), float(r["psnr"]),
                                        float(r["ms_ssim"]) if r["ms_ssim"] else float("nan")))
    return {k: tuple(np.array(sorted(v)).T) for k, v in out.items()}


def plot_rd(curves: Curves, path: Path, name: str, machine: str) -> None:
    plt = pyplot()
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
    save(fig, path)


def plot_time(curves: Curves, path: Path, name: str, machine: str) -> None:
    """Quality at 0.5 bpp against median encode time, one legend entry per codec (labels beside close
    points would overlap); an inrcodec variant with CLI timings also shows what a user waits for."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = plt.cm.tab10.colors
    for i, key in enumerate(k for k in sorted(curves) if np.isfinite(mean_at(curves, k, 0.5))):
        q, t, cli = mean_at(curves, key, 0.5), median_of(curves, key, "encode_s"), median_of(curves, key, "cli_encode_s")
        mine = key[0] == "inrcodec"
        c = colours[i % len(colours)]
        ax.scatter([t], [q], s=60 if mine else 35, marker="o" if mine else "s", color=c, label=label(key), zorder=3)
        if np.isfinite(cli):
            ax.plot([t, cli], [q, q], ":", color=c, lw=1)
            ax.scatter([cli], [q], s=60, marker="o", facecolors="none", edgecolors=c, zorder=3,
                       label=f"{label(key)}: wall time of inrcodec encode, fresh process")
    ax.set_xscale("log")
    ax.set_xlabel("median encode time per image (s, log scale)")
    ax.set_ylabel("mean RGB PSNR at 0.5 bpp (dB)")
    ax.set_title(f"Quality against encode time on {name}\n{machine}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    save(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path, nargs="+", help="CSVs written by benchmarks.rd")
    ap.add_argument("--name", help="dataset name of the report (default: the first CSV's name)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--machine", default="", help="the machine the rows were measured on, as the report states it")
    ap.add_argument("--command", default="", help="the command that measured them")
    ap.add_argument("--minutes", type=float, help="how long measuring took, in all")
    a = ap.parse_args()
    name = a.name or a.csv[0].stem
    rows = merge(a.csv)
    a.out.mkdir(parents=True, exist_ok=True)
    if [p.resolve() for p in a.csv] != [(a.out / f"{name}.csv").resolve()]:
        write_csv(a.out / f"{name}.csv", FIELDS, rows)
    command = a.command or "python -m benchmarks.rd (merged: " + ", ".join(p.name for p in a.csv) + ")"
    write_report(rows, a.out / name, name, a.machine or "not stated", command,
                 f"{a.minutes:.1f} min in all" if a.minutes is not None else "")
    print(f"wrote {a.out / name}.md and its plots")


if __name__ == "__main__":
    main()
