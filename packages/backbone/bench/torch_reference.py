#!/usr/bin/python3
"""PyTorch CPU timings of the same backbones as backbone-bench.mjs, printed as JSON.

torchvision ResNet with FrozenBatchNorm2d, stem + layer1 frozen (as det's default), and
torchvision's FeaturePyramidNetwork with LastLevelP6P7 from C5 (RetinaNet, 256 channels).
Usage: torch_reference.py THREADS ITERATIONS CASE... where CASE is name:depth:width:fpn
"""
import json
import statistics
import sys
import time

import torch
import torchvision
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/../scripts/fixtures")


def build(depth, width, fpn_channels):
    if width == 1:
        model = getattr(torchvision.models, "resnet%d" % depth)(norm_layer=FrozenBatchNorm2d)
    else:
        from backbone_torchvision import WidthResNet  # the width-reduced torchvision ResNet

        block = torchvision.models.resnet.BasicBlock if depth < 50 else torchvision.models.resnet.Bottleneck
        layers = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}[depth]
        model = WidthResNet(block, layers, width)
    for name, parameter in model.named_parameters():
        if name.startswith(("conv1", "bn1", "layer1")):
            parameter.requires_grad_(False)
    body = IntermediateLayerGetter(model, {"layer2": "c3", "layer3": "c4", "layer4": "c5"})
    expansion = 1 if depth < 50 else 4
    channels = [int(64 * width) * expansion * 2**i for i in (1, 2, 3)]
    fpn = FeaturePyramidNetwork(channels, fpn_channels, extra_blocks=LastLevelP6P7(channels[-1], fpn_channels))
    return body, fpn


def timed(fn, iterations):
    fn()  # warm-up
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main():
    threads, iterations = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    results = {}
    for spec in sys.argv[3:]:
        name, depth, width, fpn_channels, size, batch = spec.split(":")
        body, fpn = build(int(depth), float(width), int(fpn_channels))
        size, batch = int(size), int(batch)
        forward_input = torch.randn(1, 3, size, size)
        train_input = torch.randn(batch, 3, size, size)

        def forward():
            with torch.no_grad():
                fpn(body(forward_input))

        def train():
            outputs = fpn(body(train_input))
            loss = sum(level.pow(2).mean() for level in outputs.values())
            loss.backward()
            for module in (body, fpn):
                module.zero_grad(set_to_none=True)

        results[name] = {"forward_ms": timed(forward, iterations), "train_ms": timed(train, iterations)}
    print(json.dumps({"torch": torch.__version__, "threads": threads, "results": results}))


if __name__ == "__main__":
    main()
