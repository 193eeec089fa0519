#!/usr/bin/env bash
# The prepared GPU job for a session lent a device (issue 22: train where the compute is). Two halves:
#
#   here, once a session:  bash training/device_job.sh prepare
#       packs 1,000 random 128² train crops (47 MiB) and 3 val images into runs/gpu/ and fetches the
#       constriction wheel for the device's Python 3.12 into .whl/ (both ignored; with the repo < 64 MiB)
#   there, with the device tool:  run(command="bash training/device_job.sh train 6",
#                                     carry=["runs/gpu", ".whl"], timeout_s=600)
#       trains a 48-channel latent predictor from latents-v1 for 6 minutes on CUDA (resumable: carry the
#       returned checkpoint back into runs/gpu/ and run it again), then times `inrcodec encode --device cuda`
#       per preset on the val images; everything comes back under $OUT (8 files at most)
#   here again:  bash training/device_job.sh check DIR    (DIR: the files_at folder the tool returned)
#       decodes the returned streams on this CPU and prints their PSNR beside what the encoder reported.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=latents-gpu DEVICE=${DEVICE:-cuda}  # DEVICE=cpu OUT=/tmp/out: a dry run here
case "${1:-}" in
prepare)
    mkdir -p runs/gpu .whl
    python -m training.patches ../shared/data/train/bsds432 ../shared/data/train/imagenet \
        --out runs/gpu/pool.npy --size 128 --count 1000 --seed 5
    install -m 644 $(ls ../shared/data/val/cbsd68/*.png | sed -n '19,21p') runs/gpu/
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "constriction==$(python -c 'import importlib.metadata as m; print(m.version("constriction"))')"
    du -sh runs/gpu .whl
    ;;
train)
    [ "$DEVICE" = cpu ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl  # the device's Python lacks constriction; a dry run here has it
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    ckpt=runs/gpu/$NAME.ckpt
    python3 -m training.predictor --crops runs/gpu/pool.npy --base inrcodec/weights/latents-v1.npz \
        --out "$OUT/$NAME.npz" --name $NAME --channels 48 --batch 32 --steps 40000 --lam-min 0.0004 \
        --pool-seed 5 --seed 4 --device "$DEVICE" --checkpoint "$ckpt" --minutes "${2:-6}" --log-every 500 \
        --save-every 2000 2>&1 | tee "$OUT/train.log"
    cp "$ckpt" "$OUT/"
    mkdir -p /tmp/streams
    TIMEFORMAT="%R s as a command"
    for img in runs/gpu/*.png; do
        for preset in fast default; do
            time python3 -m inrcodec encode "$img" "/tmp/streams/$(basename "$img" .png)-$preset.inr" --bpp 0.5 \
                --preset "$preset" --device "$DEVICE"
        done
    done 2>&1 | tee "$OUT/encode.log"
    tar -C /tmp -cf "$OUT/streams.tar" streams
    ;;
check)
    tmp=$(mktemp -d)
    tar -C "$tmp" -xf "${2:?the folder the device tool returned}/streams.tar"
    for s in "$tmp"/streams/*.inr; do
        img=runs/gpu/$(basename "$s" .inr | sed 's/-[a-z]*$//').png
        python -c "import sys, numpy as np; from PIL import Image; import inrcodec; from inrcodec.metrics import psnr
a = np.asarray(Image.open(sys.argv[1]).convert('RGB')); d = open(sys.argv[2], 'rb').read()
print(sys.argv[2].rsplit('/', 1)[-1], f'{8 * len(d) / (a.shape[0] * a.shape[1]):.3f} bpp', f'{psnr(a, inrcodec.decode(d)):.2f} dB on this CPU')" "$img" "$s"
    done
    cat "$2/encode.log"  # what the encoder reported there, and the command's time
    ;;
*)
    echo "usage: bash training/device_job.sh prepare | train [MINUTES] | check DIR" >&2
    exit 2
    ;;
esac
