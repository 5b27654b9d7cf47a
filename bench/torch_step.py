#!/usr/bin/python3
"""PyTorch reference step times for det's benchmarks (bench/cpu-table.mjs, bench/gpu-step.mjs).

One training step (forward, losses, backward, clip, optimizer) of
  reference      the reference net of packages/core/bench/reference-net.mjs (8 convs + fc)
  tiny-retinanet det's tiny RetinaNet: ResNet-18 x0.25 (16 stem channels), FPN 32 on P3-P7,
                 one 3x3 conv per head tower, 9 anchors, 5 classes (torchvision RetinaNet)
  r50-retinanet  torchvision retinanet_resnet50_fpn (random init), det's R-50-FPN RetinaNet
on random images with two boxes each, median of --steps after one warm-up, printed as JSON:
  {"version", "device", "threads", "parameters", "step"}
Run: /usr/bin/python3 bench/torch_step.py --model tiny-retinanet --threads 2 [--device cuda]
"""
import argparse
import json
import time

import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, choices=["reference", "tiny-retinanet", "r50-retinanet"])
parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--size", type=int, default=320)
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
device = torch.device(args.device)


def reference_net():
    layers = [(3, 32, 2), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2),
              (256, 256, 1), (256, 256, 1)]
    modules = []
    for cin, cout, stride in layers:
        modules += [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU()]
    return nn.Sequential(*modules, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def tiny_retinanet(size):
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.retinanet import RetinaNetHead
    from torchvision.models.resnet import BasicBlock, ResNet
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    class TinyResNet18(ResNet):
        def __init__(self, width):
            nn.Module.__init__(self)
            self._norm_layer, self.inplanes, self.dilation, self.groups, self.base_width = (
                nn.BatchNorm2d, width, 1, 1, 64)
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1, self.relu = nn.BatchNorm2d(width), nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make_layer(BasicBlock, width, 2)
            self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
            self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
            self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)

    width, fpn = 16, 32
    backbone = BackboneWithFPN(TinyResNet18(width), {"layer2": "0", "layer3": "1", "layer4": "2"},
                               [width * 2, width * 4, width * 8], fpn,
                               extra_blocks=LastLevelP6P7(fpn, fpn))
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in [32, 64, 128, 256, 512])
    head = RetinaNetHead(fpn, 9, 6)
    # det's tiny head: one 3x3 conv + ReLU per tower (torchvision's default is four).
    for tower in (head.classification_head, head.regression_head):
        tower.conv = nn.Sequential(nn.Conv2d(fpn, fpn, 3, 1, 1), nn.ReLU(inplace=True))
    return RetinaNet(backbone, 6, min_size=size, max_size=size,
                     anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5), head=head)


def r50_retinanet(size):
    import torchvision
    return torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91, min_size=size, max_size=size)


size, batch = args.size, args.batch
if args.model == "reference":
    model = reference_net().to(device)
    images = torch.randn(batch, 3, size, size, device=device)
    labels = torch.arange(batch, device=device) * 2 + 1

    def losses():
        return {"loss": nn.functional.cross_entropy(model(images), labels)}
else:
    model = (tiny_retinanet if args.model == "tiny-retinanet" else r50_retinanet)(size).to(device)
    model.train()
    images = [torch.randn(3, size, size, device=device) for _ in range(batch)]
    box = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.4, 0.1, 0.9, 0.5]], device=device) * size
    targets = [{"boxes": box.clone(), "labels": torch.tensor([1, 2], device=device)}
               for _ in range(batch)]

    def losses():
        return model(images, targets)

optimizer = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
             if args.optimizer == "sgd" else torch.optim.AdamW(model.parameters(), lr=1e-4))


def step():
    loss = sum(losses().values())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
    optimizer.step()
    if args.device == "cuda":
        torch.cuda.synchronize()


step()
times = []
for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({
    "version": torch.__version__,
    "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU",
    "threads": torch.get_num_threads(),
    "parameters": sum(p.numel() for p in model.parameters()),
    "step": times[len(times) // 2],
}))
