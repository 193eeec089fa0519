"""Write the model card (weights/<name>.md) of a trained init from the metadata inside it."""
from __future__ import annotations

import argparse
from pathlib import Path

from inrcodec.sharedinit import load_init_file


def card(path: Path, reproduce: str) -> str:
    init = load_init_file(path)
    m, a = init.meta, init.meta["args"]
    s = init.spec
    integral = init.integral
    lines = [
        f"# Init card: `{init.name}`", "",
        f"- **File**: `{path.name}`, {path.stat().st_size:,} bytes, sha256 `{init.sha256}`",
        f"- **Architecture**: per-tile SIREN 2 → {s.hidden} × {s.depth} (sine, w0 = {s.w0:g}) → 3 (linear), "
        f"{sum(v.size for v in init.levels[0].values):,} parameters; tiles of {init.tile} px with "
        f"{init.overlap} px overlap (networks see {m['tile_px']}×{m['tile_px']} px).",
        codec_use(m, len(init.levels)),
        f"- **Data**: {m['data']}.",
        f"- **Meta-learning**: Meta-SGD ({a['inner_steps']} inner SGD steps with learned per-parameter step "
        f"sizes, initial {a['inner_lr']:g}, capped at {a['max_lr_factor']:g}×, "
        f"{'second' if a['second_order'] else 'first'}-order), outer Adam lr {a['outer_lr']:g} "
        f"(step sizes {a['lr_lr']:g}), batch {a['batch']} tiles, gradient clip {a['clip']:g}.",
        f"- **Pruning (Meta-SparseINR)**: {a['dense_steps']} dense steps, then {a['rounds']} rounds of global "
        f"magnitude pruning of {a['prune_fraction']:.0%} of the surviving weights (biases never pruned), "
        f"each followed by {a['round_steps']} MAML steps. Each round keeps its best state on validation.",
        *([f"- **Continuous width** (Integral Neural Networks): values are nodes of each hidden layer's channel "
           f"axis; any width in {init.widths[0]}..{init.widths[1]} is a resampling (representation 2). Converted from "
           f"`{Path(a['start']).stem}`'s dense level (2-opt channel order); every outer step trains the full width "
           f"and one random narrower width (the sandwich rule), each adapting its own resampled node grid."]
          if integral else []),
        f"- **Training time**: {m['train_seconds'] / 60:.0f} min on {m['machine']}.",
        f"- **Reproduce**: `{reproduce}`", "",
    ]
    if integral:
        ws = m["val_widths"]
        lines += ["| level | density (weights) | adapted parameters per tile (full width) | "
                  + " | ".join(f"val PSNR at {w} channels (dB)" for w in ws) + " |", "|---|---|---|" + "---|" * len(ws)]
        lines += [f"| {h['round']} | {h['density']:.3f} | {h['adapted_params']} | "
                  + " | ".join(f"{x:.2f}" for x in h["val_psnr_by_view"]) + " |" for h in m["history"]]
    else:
        lines += ["| level | density (weights) | adapted parameters per tile | val PSNR after inner steps (dB) |",
                  "|---|---|---|---|"]
        lines += [f"| {h['round']} | {h['density']:.3f} | {h['adapted_params']} | "
                  f"{h['val_psnr_after_inner_steps']:.2f} |" for h in m["history"]]
    lines.append("")
    lines.append("Val PSNR: float pixels of the selection tiles after the inner (Meta-SGD) steps.")
    return "\n".join(lines) + "\n"


def codec_use(m: dict, levels: int) -> str:
    """How the codec uses the init, and on what it was chosen (training/tune.py)."""
    sel = m.get("codec_selection")
    if "codec_table" in m:
        return (f"- **Codec choice**: the {sel['policy']} policy, chosen by `training/tune.py` on {sel['on']} "
                f"({sel['steps']} steps, rates {'/'.join(map(str, sel['rates']))} bpp; mean PSNR by policy: "
                + ", ".join(f"{k} {v:.2f} dB" for k, v in sel["mean_psnr_by_policy"].items()) + "): "
                + "; ".join(f"up to {r['max_bpp']:g} bpp width {r['width']} level {r['level']}" for r in m["codec_table"])
                + ".")
    level = f"- **Codec level**: {m.get('codec_level', levels - 1)} (the level streams use by default)"
    if not sel:
        return level + "."
    steps = sel["steps"] if isinstance(sel["steps"], int) else "/".join(map(str, sel["steps"]))
    return (level + f", chosen by `training/tune.py` on {sel['on']} ({steps} steps, rates "
            f"{'/'.join(map(str, sel['rates']))} bpp): mean PSNR over those rates "
            + ", ".join(f"{k} {v:.2f} dB" for k, v in sel["mean_psnr"].items()) + ".")


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
