"""Rate-distortion benchmark: inrcodec and classic codecs on the same images.

    python -m benchmarks.rd --data ../shared/data/kodak --rates 0.25 0.5 1.0 --presets default

Writes benchmarks/results/<dataset>.csv (one row per image and point), <dataset>.md (summary)
and <dataset>.png (curves, published ones dashed). Real file sizes only.

Rows reach the CSV as they finish, and a run resumes from the CSV it finds: a point already
there (same image, codec, variant and setting) is not measured again, so an interrupted run
is restarted with the same command. `--shard i/n` measures the i-th of every n images (in name
order) into <dataset>.shard-i-of-n.csv, so that n processes or machines share one benchmark;
`python -m benchmarks.report` merges their CSVs into one report.

Encode time is the fit plus rate control, measured in this long-running process. For the first
--cli-timing images, every inrcodec point is also run as a user runs it: `inrcodec encode` and
`inrcodec decode`, each a fresh process, timed by the wall clock (start-up and loading included).

inrcodec variants: the presets (the encoder's default: latents where the predicted init reaches
the rate, else the integral tiles; one fit per point), and with --policies the rate-control
policies of the integral init chosen on val by training/tune.py (ladder: full width, level by
rate; width: one level, width by rate; both: width and level by rate), each at the default
preset. Variants that pick the same network for the same rate weight share one fit.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import click
import numpy as np

import inrcodec
from benchmarks.classic import CLASSICS, run_classic
from benchmarks.common import (
    RESULTS,
    SHARED_DATA,
    cell,
    cli_command,
    images_in,
    machine,
    wall_seconds,
)
from benchmarks.report import FIELDS, point_key, read_rows, write_report
from inrcodec import tilesiren
from inrcodec.encoder import pick_device
from inrcodec.images import load_image
from inrcodec.metrics import ms_ssim, psnr
from inrcodec.representations.latents.init import LATENT_INIT
from inrcodec.representations.latents.stream import LATENTS
from inrcodec.sharedinit import INTEGRAL_INIT, load_init
from inrcodec.tiles import choose_network, table_choice

POLICY_FILE = RESULTS / "network-val.json"


def variants(presets: list[str], policies: list[str], policy_file: Path,
             latent_presets: list[str] = (), latent_init: str = LATENT_INIT) -> dict[str, dict]:
    """Label -> how inrcodec runs: preset, init, and (policies) a rate -> (width, level) table; the
    latent presets (`latents-PRESET`, or `INIT-PRESET` for another latent init) code representation 3."""
    out = {p: {"preset": p, "init": None, "table": None} for p in presets}  # init None: the encoder chooses
    prefix = "latents" if latent_init == LATENT_INIT else latent_init
    out.update({f"{prefix}-{p}": {"preset": p, "init": latent_init, "table": None, "latents": True}
                for p in latent_presets})
    if policies:
        tables = json.loads(policy_file.read_text())["policies"]
        out.update({p: {"preset": "default", "init": INTEGRAL_INIT, "table": tables[p]} for p in policies})
    return out


def shard_of(files: list[Path], spec: str) -> list[Path]:
    """The images of shard 'i/n' (1 <= i <= n): every n-th image from the i-th, a split by image
    that every machine makes alike from the same folder."""
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise SystemExit(f"--shard takes i/n, such as 1/4, not {spec!r}") from None
    if not 1 <= i <= n:
        raise SystemExit(f"--shard {spec}: i must lie in 1..n")
    return files[i - 1::n]


def cli_seconds(image: Path, rate: float, preset: str, network: list[str], device: str) -> tuple[float, float]:
    """Wall time of `inrcodec encode` of this point (with the `network` options) and of `inrcodec decode`
    of its stream, each a fresh process."""
    cli = cli_command()
    with tempfile.TemporaryDirectory() as tmp:
        stream, out = Path(tmp) / "point.inr", Path(tmp) / "point.png"
        enc = wall_seconds([*cli, "encode", str(image), str(stream), "--bpp", f"{rate:g}", "--preset", preset,
                            *network, "--device", device, "--quiet"])
        dec = wall_seconds([*cli, "decode", str(stream), str(out), "--quiet"])
    return enc, dec


class Results:
    """The run's CSV, open for appending: rows reach the disk as they finish, and rows found there
    at the start (an interrupted or earlier run) are kept and not measured again."""

    def __init__(self, path: Path):
        self.path = path
        self.found = read_rows(path) if path.exists() else []
        self.done = {point_key(r) for r in self.found}
        self.file = open(path, "w", newline="")  # rewritten once: an older header, a torn last line
        self.writer = csv.DictWriter(self.file, FIELDS)
        self.writer.writeheader()
        self.writer.writerows({k: cell(r[k]) for k in FIELDS} for r in self.found)
        self.file.flush()

    def add(self, row: dict) -> None:
        row = {k: row.get(k, "") for k in FIELDS}
        self.writer.writerow({k: cell(v) for k, v in row.items()})
        self.file.flush()
        self.done.add(point_key(row))

    def missing(self, image: str, codec: str, preset: str, settings: Iterable[float]) -> list[float]:
        return [s for s in settings if point_key({"image": image, "codec": codec, "preset": preset,
                                                  "setting": s}) not in self.done]

    def close(self) -> list[dict]:
        self.file.close()
        return read_rows(self.path)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rd", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = SHARED_DATA / "kodak"
    ap.add_argument("--data", type=Path, default=default_data if default_data.is_dir() else None)
    ap.add_argument("--name", help="dataset name for the result files (default: the folder's name)")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5])
    ap.add_argument("--presets", nargs="*", default=["fast", "default", "slow"], choices=list(inrcodec.PRESETS))
    ap.add_argument("--latent-presets", nargs="*", default=[], choices=list(inrcodec.PRESETS),
                    help="representation 3 (the shipped latent init) at these presets, as latents-PRESET")
    ap.add_argument("--latent-init", default=LATENT_INIT, help="the latent init of --latent-presets")
    ap.add_argument("--policies", nargs="*", default=[], choices=["ladder", "width", "both"],
                    help="integral-init rate-control policies from --policy-file, at the default preset")
    ap.add_argument("--policy-file", type=Path, default=POLICY_FILE)
    ap.add_argument("--compare", nargs="*", default=[], metavar="CSV:VARIANT[:LABEL]",
                    help="also report an inrcodec variant measured by an earlier run (its rows for these images), "
                         "as LABEL (default 'VARIANT (CSV name)'); only for an encoder that is byte-identical since")
    ap.add_argument("--classic", nargs="*", default=list(CLASSICS), choices=list(CLASSICS))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--limit", type=int, help="use the first N images only")
    ap.add_argument("--shard", metavar="I/N", help="measure only the I-th of every N images (merge with benchmarks.report)")
    ap.add_argument("--cli-timing", type=int, default=2, metavar="N",
                    help="also time `inrcodec encode` and `decode` as fresh processes on the first N images (0: none)")
    ap.add_argument("--quick", action="store_true", help="4 images, 3 rates, fast and default presets")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    if a.data is None:
        raise SystemExit("give --data DIR (no ../shared/data/kodak beside the project)")
    if a.quick:
        a.limit, a.rates = a.limit or 4, [0.25, 0.5, 1.0]
        a.presets = [p for p in a.presets if p != "slow"] or ([] if a.policies else ["fast"])
    device = pick_device(a.device)
    every = images_in(a.data, a.limit)
    files = shard_of(every, a.shard) if a.shard else every
    timed_cli = set(every[:a.cli_timing])  # the same images whichever shard measures them
    name = a.name or a.data.name
    stem = f"{name}.shard-{a.shard.replace('/', '-of-')}" if a.shard else name
    a.out.mkdir(parents=True, exist_ok=True)
    runs = variants(a.presets, a.policies, a.policy_file, a.latent_presets, a.latent_init)
    results = Results(a.out / f"{stem}.csv")
    jobs = [(f, "inrcodec", v, results.missing(f.stem, "inrcodec", v, a.rates)) for f in files for v in runs]
    jobs += [(f, c, "", results.missing(f.stem, c, "", CLASSICS[c].settings)) for f in files for c in a.classic]
    jobs = [j for j in jobs if j[3]]
    pixels_cache: dict[Path, np.ndarray] = {}
    fits_by_image: dict[Path, dict] = {}  # variants picking the same network for a rate weight share its fit
    t_start = time.time()

    shared = load_init(INTEGRAL_INIT)
    seam_masks: dict[tuple[int, int], np.ndarray] = {}  # every codec is measured on inrcodec's tile bands

    def record(path, px, codec_name, preset, setting, data, out, enc, dec, dev, network="", cli=(np.nan, np.nan)):
        size = px.shape[:2]
        if size not in seam_masks:
            seam_masks[size] = tilesiren.grid_for(shared, *size).seam_mask()
        seam = seam_masks[size]
        results.add({"image": path.stem, "codec": codec_name, "preset": preset, "setting": setting,
                     "bpp": 8 * len(data) / (px.shape[0] * px.shape[1]), "psnr": psnr(out, px),
                     "ms_ssim": ms_ssim(out, px) if min(px.shape[:2]) > 160 else float("nan"),
                     "psnr_seam": psnr(out, px, seam), "psnr_interior": psnr(out, px, ~seam),
                     "encode_s": enc, "decode_s": dec, "cli_encode_s": float(cli[0]), "cli_decode_s": float(cli[1]),
                     "device": dev, "network": network})

    with click.progressbar(jobs, label=f"{stem}: {len(files)} images", file=sys.stderr, hidden=a.quiet,
                           item_show_func=lambda j: j and f"{j[0].stem} {j[1]} {j[2]}") as bar:
        for path, codec_name, preset, settings in bar:
            if path not in pixels_cache:  # each image is read once, for all its codecs
                pixels_cache[path] = load_image(path)
            px = pixels_cache[path]
            if codec_name == "inrcodec":  # one fit per rate weight; encode time = fit + rate control
                if path not in fits_by_image:
                    fits_by_image.clear()  # jobs come image by image: earlier fits are done with
                fits = fits_by_image.setdefault(path, {})
                run = runs[preset]
                for rate in settings:
                    if run["init"] is None or run.get("latents"):  # the fit aims at the rate: one per point
                        key, network, options = (run["preset"], run["init"], rate), "latents", {}
                        cli_options = ["--init", run["init"]] if run["init"] else []
                    else:
                        width, level = (table_choice(run["table"], rate) if run["table"] else  # explicit, so that
                                        choose_network(load_init(run["init"]), rate, None, None))  # fits are shared
                        key = (run["preset"], run["init"], inrcodec.rate_weight(bpp=rate), width, level)
                        network, options = f"{width}/L{level}", {"network_width": width, "level": level}
                        cli_options = ["--network-width", str(width), "--level", str(level)]
                    try:
                        if key not in fits:  # targets sharing a weight share a fit, as in `inrcodec encode`
                            fits[key] = inrcodec.analyse(px, bpp=rate, preset=run["preset"], device=device,
                                                         init=run["init"], **options)
                        fit = fits[key]
                        if fit.rep.id != LATENTS:  # tiles: the default's fallback, or a tile init's own
                            network = "{}/L{}".format(fit.rep.settings.width, fit.rep.settings.level)
                        elif fit.rep.coded != px.shape[:2]:  # latents for a smaller image
                            network = "latents at {1}x{0}".format(*fit.rep.coded)
                        t0 = time.perf_counter()
                        data = fit.compress(bpp=rate)
                    except inrcodec.UsageError as e:  # an unreachable target is a result, not a crash
                        results.add({"image": path.stem, "codec": codec_name, "preset": preset, "setting": rate,
                                     "device": device, "network": network, "note": str(e)})
                        continue
                    t1 = time.perf_counter()
                    out = inrcodec.decode(data)
                    dec = time.perf_counter() - t1
                    cli = (cli_seconds(path, rate, run["preset"], cli_options, device)
                           if path in timed_cli and (run["init"] is None or run.get("latents")) else (np.nan, np.nan))
                    record(path, px, codec_name, preset, rate, data, out, fit.seconds + t1 - t0, dec, device,
                           network, cli)
            else:
                for setting in settings:
                    data, out, enc, dec = run_classic(codec_name, px, setting)
                    record(path, px, codec_name, preset, setting, data, out, enc, dec, "cpu")
    stems = {p.stem for p in files}
    for spec in a.compare:
        path, variant, *label = spec.split(":")
        for r in read_rows(Path(path)):
            if r["codec"] == "inrcodec" and r["preset"] == variant and r["image"] in stems:
                r["preset"] = label[0] if label else f"{variant} ({Path(path).name})"
                if point_key(r) not in results.done:
                    results.add(r)
    rows = results.close()
    if a.shard:
        print(f"wrote {results.path}; merge the shards with: python -m benchmarks.report "
              f"{a.out / name}.shard-*.csv --name {name}")
        return
    minutes = (time.time() - t_start) / 60
    resumed = len(results.found)
    timing = f"{minutes:.1f} min in all" if not resumed else \
        f"{minutes:.1f} min in its last run, which resumed {resumed} row{'s' if resumed > 1 else ''} of earlier runs"
    write_report(rows, a.out / name, name, machine(device), "python -m benchmarks.rd " + " ".join(sys.argv[1:]), timing)
    print(f"wrote {results.path}, {a.out / name}.md and .png")


if __name__ == "__main__":
    main()
