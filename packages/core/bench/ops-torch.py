#!/usr/bin/python3
"""torchvision CPU timings for the cases of ops.bench.ts (1 thread, like wasm without threads).

/usr/bin/python3 packages/core/bench/ops-torch.py  → prints one JSON object {case: median CPU ms}.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torchvision.ops import MultiScaleRoIAlign, deform_conv2d

torch.set_num_threads(1)
torch.manual_seed(0)
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def median_ms(fn, repeats=None, warmup=True):
    """Median CPU time (process time: the machine is shared, and both sides use 1 thread)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats or REPEATS):
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def deform_case():
    x = torch.randn(2, 256, 64, 64, requires_grad=True)
    offset = (torch.randn(2, 18, 64, 64) * 2).requires_grad_()
    weight = (torch.randn(256, 256, 3, 3) * 0.02).requires_grad_()

    def run():
        out = deform_conv2d(x, offset, weight, padding=(1, 1))
        out.sum().backward()
    # torchvision's CPU deform_conv2d takes tens of seconds here: one untimed-warmup-free run.
    return median_ms(run, repeats=1, warmup=False)


def rois_800(count=512):
    # Same distribution as ops.bench.ts: log-uniform sizes 16..800 px, centres in the image.
    g = torch.Generator().manual_seed(1)
    size = torch.exp(torch.rand(count, 2, generator=g) * (torch.log(torch.tensor(800.0)) - torch.log(torch.tensor(16.0))) + torch.log(torch.tensor(16.0)))
    centre = torch.rand(count, 2, generator=g) * 800
    return torch.cat([centre - size / 2, centre + size / 2], 1)


def roi_case(backward):
    names = ['p2', 'p3', 'p4', 'p5']
    feats = {n: torch.randn(1, 256, 200 // 2 ** i, 200 // 2 ** i, requires_grad=backward) for i, n in enumerate(names)}
    pooler = MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2)
    boxes = [rois_800()]

    def run():
        out = pooler(feats, boxes, [(800, 800)])
        if backward:
            out.sum().backward()
    return median_ms(run)


def masked_dense_case():
    x = torch.randn(2, 256, 64, 64)
    w = torch.randn(256, 256, 3, 3)
    with torch.no_grad():
        return median_ms(lambda: F.conv2d(x, w, padding=1))


if __name__ == '__main__':
    print(json.dumps({
        'deformConv2d fwd+bwd': deform_case(),
        'multiLevelRoiAlign fwd': roi_case(False),
        'multiLevelRoiAlign fwd+bwd': roi_case(True),
        'dense conv2d (masked-conv reference)': masked_dense_case(),
    }))
