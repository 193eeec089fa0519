"""Rate-distortion benchmark: inrcodec and classic codecs, in one process, on the same images.

    python benchmarks/rd.py --data ../shared/data/kodak --rates 0.25 0.5 1.0 --presets default

Writes benchmarks/results/<dataset>.csv (one row per image and point), <dataset>.md
(summary) and <dataset>.png (curves, published ones dashed). Real file sizes only.

inrcodec variants: the presets (the shipped default init), and with --policies the rate-control
policies of the integral init chosen on val by training/tune.py (ladder: full width, level by
rate; width: one level, width by rate; both: width and level by rate), each at the default
preset. Variants that pick the same network for the same rate weight share one fit.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import inrcodec  # noqa: E402
from benchmarks.classic import CLASSICS, run_classic  # noqa: E402
from benchmarks.report import write_report  # noqa: E402
from inrcodec import tilesiren  # noqa: E402
from inrcodec.codec import choose_network, pick_device, table_choice  # noqa: E402
from inrcodec.images import load_image  # noqa: E402
from inrcodec.metrics import ms_ssim, psnr  # noqa: E402
from inrcodec.sharedinit import DEFAULT_INIT, INTEGRAL_INIT, load_init  # noqa: E402

FIELDS = ["image", "codec", "preset", "setting", "bpp", "psnr", "ms_ssim", "psnr_seam", "psnr_interior",
          "encode_s", "decode_s", "device", "network"]
POLICY_FILE = ROOT / "benchmarks" / "results" / "network-val.json"


def variants(presets: list[str], policies: list[str], policy_file: Path) -> dict[str, dict]:
    """Label -> how inrcodec runs: preset, init, and (policies) a rate -> (width, level) table."""
    out = {p: {"preset": p, "init": DEFAULT_INIT, "table": None} for p in presets}
    if policies:
        tables = json.loads(policy_file.read_text())["policies"]
        out.update({p: {"preset": "default", "init": INTEGRAL_INIT, "table": tables[p]} for p in policies})
    return out


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if device.startswith("cuda"):
        desc += f", GPU {torch.cuda.get_device_name(0)}"
    return desc


def images_in(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif"})
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files[:limit] if limit else files


def read_rows(path: Path) -> list[dict]:
    """Rows of a results CSV with numbers as numbers (for --report-only)."""
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            r.setdefault("network", "")
            for k in ("setting", "bpp", "psnr", "ms_ssim", "psnr_seam", "psnr_interior", "encode_s", "decode_s"):
                r[k] = float(r.get(k) or "nan")
            out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = ROOT.parent / "shared" / "data" / "kodak"
    ap.add_argument("--data", type=Path, default=default_data if default_data.is_dir() else None)
    ap.add_argument("--name", help="dataset name for the result files (default: the folder's name)")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5])
    ap.add_argument("--presets", nargs="*", default=["fast", "default", "slow"], choices=list(inrcodec.PRESETS))
    ap.add_argument("--policies", nargs="*", default=[], choices=["ladder", "width", "both"],
                    help="integral-init rate-control policies from --policy-file, at the default preset")
    ap.add_argument("--policy-file", type=Path, default=POLICY_FILE)
    ap.add_argument("--compare", nargs="*", default=[], metavar="CSV:VARIANT[:LABEL]",
                    help="also report an inrcodec variant measured by an earlier run (its rows for these images), "
                         "as LABEL (default 'VARIANT (CSV name)'); only for an encoder that is byte-identical since")
    ap.add_argument("--classic", nargs="*", default=list(CLASSICS), choices=list(CLASSICS))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--limit", type=int, help="use the first N images only")
    ap.add_argument("--quick", action="store_true", help="4 images, 3 rates, fast and default presets")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--report-only", nargs=3, metavar=("MACHINE", "COMMAND", "MINUTES"),
                    help="rewrite <name>.md and the plots from an existing <name>.csv, as measured by COMMAND")
    a = ap.parse_args()
    if a.report_only:
        name = a.name or (a.data.name if a.data else "kodak")
        machine_, command, minutes = a.report_only
        write_report(read_rows(a.out / f"{name}.csv"), a.out / name, name, machine_, command, 60 * float(minutes))
        return
    if a.data is None:
        raise SystemExit("give --data DIR (no ../shared/data/kodak beside the project)")
    if a.quick:
        a.limit, a.rates = a.limit or 4, [0.25, 0.5, 1.0]
        a.presets = [p for p in a.presets if p != "slow"] or ([] if a.policies else ["fast"])
    device = pick_device(a.device)
    files = images_in(a.data, a.limit)
    name = a.name or a.data.name
    a.out.mkdir(parents=True, exist_ok=True)
    runs = variants(a.presets, a.policies, a.policy_file)
    jobs = [(f, "inrcodec", v, tuple(a.rates)) for f in files for v in runs]
    jobs += [(f, c, "", s) for f in files for c in a.classic for s in CLASSICS[c].settings]
    rows: list[dict] = []
    skipped: list[str] = []
    pixels_cache: dict[Path, np.ndarray] = {}
    fits_by_image: dict[Path, dict] = {}  # variants picking the same network for a rate weight share its fit
    t_start = time.time()

    shared = load_init(DEFAULT_INIT)
    seam_masks: dict[tuple[int, int], np.ndarray] = {}  # every codec is measured on inrcodec's tile bands

    def record(path, px, codec_name, preset, setting, data, out, enc, dec, dev, network=""):
        size = px.shape[:2]
        if size not in seam_masks:
            seam_masks[size] = tilesiren.grid_for(shared, *size).seam_mask()
        seam = seam_masks[size]
        rows.append({"image": path.stem, "codec": codec_name, "preset": preset, "setting": setting,
                     "bpp": 8 * len(data) / (px.shape[0] * px.shape[1]), "psnr": psnr(out, px),
                     "ms_ssim": ms_ssim(out, px) if min(px.shape[:2]) > 160 else float("nan"),
                     "psnr_seam": psnr(out, px, seam), "psnr_interior": psnr(out, px, ~seam),
                     "encode_s": enc, "decode_s": dec, "device": dev, "network": network})

    with click.progressbar(jobs, label=f"{name}: {len(files)} images", file=sys.stderr, hidden=a.quiet,
                           item_show_func=lambda j: j and f"{j[0].stem} {j[1]} {j[2]}") as bar:
        for path, codec_name, preset, setting in bar:
            px = pixels_cache.setdefault(path, load_image(path))
            if codec_name == "inrcodec":  # one fit per rate weight; encode time = fit + rate control
                if path not in fits_by_image:
                    fits_by_image.clear()  # jobs come image by image: earlier fits are done with
                fits = fits_by_image.setdefault(path, {})
                run = runs[preset]
                for rate in setting:
                    weight = inrcodec.rate_weight(bpp=rate)
                    width, level = (table_choice(run["table"], rate) if run["table"] else  # explicit, so that
                                    choose_network(load_init(run["init"]), rate, None, None))  # equal fits are shared
                    key = (run["preset"], run["init"], weight, width, level)
                    try:
                        if key not in fits:  # targets sharing a weight share a fit, as in `inrcodec encode`
                            fits[key] = inrcodec.analyse(px, bpp=rate, preset=run["preset"], device=device,
                                                         init=run["init"], network_width=width, level=level)
                        fit = fits[key]
                        t0 = time.perf_counter()
                        data = fit.compress(bpp=rate)
                    except inrcodec.UsageError as e:  # an unreachable target is a result, not a crash
                        skipped.append(f"{path.stem} {preset} {rate} bpp: {e}")
                        continue
                    t1 = time.perf_counter()
                    out = inrcodec.decode(data)
                    record(path, px, codec_name, preset, rate, data, out, fit.seconds + t1 - t0,
                           time.perf_counter() - t1, device, f"{width}/L{level}")
            else:
                data, out, enc, dec = run_classic(codec_name, px, setting)
                record(path, px, codec_name, preset, setting, data, out, enc, dec, "cpu")
    stems = {p.stem for p in files}
    for spec in a.compare:
        path, variant, *label = spec.split(":")
        rows += [dict(r, preset=label[0] if label else f"{variant} ({Path(path).name})") for r in read_rows(Path(path))
                 if r["codec"] == "inrcodec" and r["preset"] == variant and r["image"] in stems]
    csv_path = a.out / f"{name}.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_report(rows, a.out / name, name, machine(device), " ".join(sys.argv), time.time() - t_start, skipped)
    print(f"wrote {csv_path}, {a.out / name}.md and .png")


if __name__ == "__main__":
    main()
