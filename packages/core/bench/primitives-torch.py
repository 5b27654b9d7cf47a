#!/usr/bin/python3
"""torchvision CPU reference timings for bench/primitives.bench.ts.

usage: primitives-torch.py THREADS DATA_JSON
Writes the benchmark inputs (gt boxes, NMS boxes and scores) to DATA_JSON so the wasm
bench runs on the same data, and prints one JSON object: milliseconds per call, median
of repeats."""
import json
import math
import statistics
import sys
import time

import torch
import torchvision
from torchvision.ops import boxes as box_ops


def median_ms(fn, repeats=10):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def random_boxes(n, extent, max_size, gen):
    xy = torch.rand(n, 2, generator=gen) * extent
    wh = torch.rand(n, 2, generator=gen) * max_size + 1
    return torch.cat([xy, xy + wh], dim=1)


def grid_anchors(sizes):
    # mmdetection's RetinaNet anchors on P3-P7, as torch ops (what AnchorGenerator.grid_priors runs).
    out = []
    for level, (h, w) in enumerate(sizes):
        stride = 8 * 2 ** level
        scales = torch.tensor([2 ** (i / 3) for i in range(3)]) * 4
        ratios = torch.tensor([0.5, 1.0, 2.0])
        hr = torch.sqrt(ratios)
        ws = (stride * (1 / hr)[:, None] * scales[None, :]).view(-1)
        hs = (stride * hr[:, None] * scales[None, :]).view(-1)
        base = torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)
        sx = torch.arange(0, w, dtype=torch.float32) * stride
        sy = torch.arange(0, h, dtype=torch.float32) * stride
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        shifts = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)], dim=-1)
        out.append((base[None] + shifts[:, None]).view(-1, 4))
    return out


def assign(anchors, gts):
    # The tensor work of mmdetection's MaxIoUAssigner (IoU + assign_wrt_overlaps, low-quality loop).
    overlaps = box_ops.box_iou(gts, anchors)
    assigned = overlaps.new_full((anchors.shape[0],), -1, dtype=torch.long)
    max_o, argmax_o = overlaps.max(dim=0)
    gt_max, _ = overlaps.max(dim=1)
    assigned[(max_o >= 0) & (max_o < 0.4)] = 0
    pos = max_o >= 0.5
    assigned[pos] = argmax_o[pos] + 1
    for i in range(gts.shape[0]):
        if gt_max[i] >= 0:
            assigned[overlaps[i, :] == gt_max[i]] = i + 1
    return assigned


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    data_path = sys.argv[2] if len(sys.argv) > 2 else None
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    sizes = [(math.ceil(800 / s), math.ceil(1333 / s)) for s in (8, 16, 32, 64, 128)]
    anchors = torch.cat(grid_anchors(sizes))[:120000]
    gts = random_boxes(50, 1200, 300, gen)
    boxes = random_boxes(20000, 1300, 150, gen)
    scores = torch.rand(20000, generator=gen)
    if data_path:
        with open(data_path, "w") as f:
            json.dump({"gts": gts.reshape(-1).tolist(), "boxes": boxes.reshape(-1).tolist(),
                       "scores": scores.tolist(), "numAnchors": anchors.shape[0]}, f)
    result = {
        "keptByNms": int(torchvision.ops.nms(boxes, scores, 0.5).numel()),
        "threads": threads,
        "torch": torch.__version__,
        "assign_120k_x_50": median_ms(lambda: assign(anchors, gts)),
        "nms_20k": median_ms(lambda: torchvision.ops.nms(boxes, scores, 0.5)),
        "grid_priors_p3_p7": median_ms(lambda: grid_anchors(sizes)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
