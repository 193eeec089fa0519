"""Write the model card (weights/<name>.md) of a trained init from the metadata inside it."""
from __future__ import annotations

import argparse
from pathlib import Path

from inrcodec.sharedinit import load_init


def card(path: Path, reproduce: str) -> str:
    init = load_init(str(path))
    m, a = init.meta, init.meta["args"]
    s = init.spec
    lines = [
        f"# Init card: `{init.name}`", "",
        f"- **File**: `{path.name}`, {path.stat().st_size:,} bytes, sha256 `{init.sha256}`",
        f"- **Architecture**: per-tile SIREN 2 → {s.hidden} × {s.depth} (sine, w0 = {s.w0:g}) → 3 (linear), "
        f"{sum(v.numel() for v in init.levels[0].values):,} parameters; tiles of {init.tile} px with "
        f"{init.overlap} px overlap (networks see {m['tile_px']}×{m['tile_px']} px).",
        f"- **Codec level**: {m.get('codec_level', len(init.levels) - 1)} (the level streams use by default)"
        + (f", chosen by `training/tune.py` on {m['codec_selection']['on']} ({'/'.join(map(str, m['codec_selection']['steps']))} "
           f"steps, rates {'/'.join(map(str, m['codec_selection']['rates']))} bpp): mean PSNR over those rates "
           + ", ".join(f"{k} {v:.2f} dB" for k, v in m['codec_selection']['mean_psnr'].items()) + "."
           if "codec_selection" in m else "."),
        f"- **Data**: {m['data']}.",
        f"- **Meta-learning**: Meta-SGD ({a['inner_steps']} inner SGD steps with learned per-parameter step "
        f"sizes, initial {a['inner_lr']:g}, capped at {a['max_lr_factor']:g}×, "
        f"{'second' if a['second_order'] else 'first'}-order), outer Adam lr {a['outer_lr']:g} "
        f"(step sizes {a['lr_lr']:g}), batch {a['batch']} tiles, gradient clip {a['clip']:g}.",
        f"- **Pruning (Meta-SparseINR)**: {a['dense_steps']} dense steps, then {a['rounds']} rounds of global "
        f"magnitude pruning of {a['prune_fraction']:.0%} of the surviving weights (biases never pruned), "
        f"each followed by {a['round_steps']} MAML steps. Each round keeps its best state on validation.",
        f"- **Training time**: {m['train_seconds'] / 60:.0f} min on {m['machine']}.",
        f"- **Reproduce**: `{reproduce}`", "",
        "| level | density (weights) | adapted parameters per tile | val PSNR after inner steps (dB) |",
        "|---|---|---|---|",
    ]
    for h in m["history"]:
        lines.append(f"| {h['round']} | {h['density']:.3f} | {h['adapted_params']} | "
                     f"{h['val_psnr_after_inner_steps']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("init", type=Path)
    ap.add_argument("--reproduce", required=True, help="the command line that trained it")
    a = ap.parse_args()
    out = a.init.with_suffix(".md")
    out.write_text(card(a.init, a.reproduce))
    print(out.read_text())


if __name__ == "__main__":
    main()
