#!/usr/bin/python3
"""How far can a from-scratch tiny RetinaNet get in N steps on the demo data? (PyTorch reference)

The demo trains det's tiny RetinaNet for ~10 minutes on 2 cores (~1,100 steps of batch 2 on
wasm). This script trains the same-sized model with torchvision's RetinaNet (trainable
BatchNorm, the from-scratch best case), AdamW, batch 2, warmup 50, lr x0.1 at 80 %, on the
embedded synthetic dataset, and writes val detections at the given steps for det-coco-eval:

  /usr/bin/python3 packages/detectors/bench/torch_tiny_retinanet_curve.py \
      [--root .cache/det-synth-default] [--steps 3000] [--evals 1000,2000,3000] [--lr 5e-4]
  node packages/coco-eval/dist/cli.js --gt <root>/annotations/instances_val.json \
      --dt /tmp/torch-tiny-retinanet-val-1000.json

Measured (2026-11-21, 2 threads, ~0.09 s/step): val AP50 0.025 at 1,000 steps, 0.070 at 2,000,
0.109 at 3,000 (lr 5e-4); lr 2e-3: 0.001 at 1,000; SGD 0.01: no detection above 0.05 at
1,000; 2x width (32-256 channels, FPN 64): 0.049 at 1,000; an easier variant of the data
(no object < 32 px, no ratio beyond 2:1, <= 4 objects): 0.159 at 1,000; --size 160 (4x cheaper
steps): 0.008 at 1,000, 0.044 at 3,000. det's wasm demo (same recipe): 0.021 at 1,000.

With --arch faster the same backbone (FPN P2-P5 + pool, 32 channels) carries torchvision's
Faster R-CNN (RPN: one 8x-stride anchor x 3 ratios per level; RoI head: 2 x 128 fc), the
fidelity matrix's parity cell beside det's tinyFasterRcnn; --seed seeds torch and the data order.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.models.detection import FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

parser = argparse.ArgumentParser()
parser.add_argument("--root", default=".cache/det-synth-default")
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--evals", default="1000,2000,3000")
parser.add_argument("--lr", type=float, default=5e-4)
parser.add_argument("--width", type=int, default=16)
parser.add_argument("--fpn", type=int, default=32)
parser.add_argument("--size", type=int, default=320, help="training/test resolution")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--out", default="/tmp/torch-tiny-retinanet")
parser.add_argument("--arch", choices=["retinanet", "faster"], default="retinanet")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--norm", choices=["batch", "det"], default="batch",
                    help="batch: trainable BatchNorm with batch statistics (torchvision's from-scratch "
                         "default); det: det's tiny preset -- fixed identity statistics, trainable "
                         "affine, zero-initialised last BN of each block")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
random.seed(args.seed)


def load(split):
    coco = json.load(open(os.path.join(args.root, "annotations", f"instances_{split}.json")))
    by_image = {}
    for a in coco["annotations"]:
        if not a["iscrowd"]:
            by_image.setdefault(a["image_id"], []).append(a)
    items = []
    for image in coco["images"]:
        anns = by_image.get(image["id"], [])
        boxes = torch.tensor(
            [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=torch.float32
        ).reshape(-1, 4)
        labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
        pixels = np.array(Image.open(os.path.join(args.root, split, image["file_name"])).convert("RGB"))
        items.append((image["id"], torch.from_numpy(pixels).permute(2, 0, 1).float() / 255,
                      {"boxes": boxes, "labels": labels}))
    return items


class IdentityStatsNorm(nn.Module):
    """det's FrozenBatchNorm2d in the tiny preset: running mean 0 / variance 1 that never
    change, eps 1e-5, trainable weight and bias (mmdetection's norm_eval with requires_grad)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        scale = self.weight * (1.0 / (1.0 + 1e-5) ** 0.5)
        return x * scale[None, :, None, None] + self.bias[None, :, None, None]


class TinyResNet18(ResNet):
    """ResNet-18 at `width` stem channels (det's tiny preset: 16, i.e. x0.25)."""

    def __init__(self, width, norm="batch"):
        nn.Module.__init__(self)
        norm_layer = nn.BatchNorm2d if norm == "batch" else IdentityStatsNorm
        self._norm_layer, self.inplanes, self.dilation, self.groups, self.base_width = (
            norm_layer, width, 1, 1, 64)
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1, self.relu, self.maxpool = norm_layer(width), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if norm == "det":
            # det's tinyBackbone sets zeroInitResidual: each block starts as an identity.
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)


train, val = load("train"), load("val")
w = args.width
if args.arch == "retinanet":
    backbone = BackboneWithFPN(TinyResNet18(w, args.norm), {"layer2": "0", "layer3": "1", "layer4": "2"},
                               [w * 2, w * 4, w * 8], args.fpn, extra_blocks=LastLevelP6P7(args.fpn, args.fpn))
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in [32, 64, 128, 256, 512])
    model = RetinaNet(backbone, 6, min_size=args.size, max_size=args.size,
                      anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5),
                      head=RetinaNetHead(args.fpn, 9, 6))
else:
    # det's tinyFasterRcnn: P2-P6 (maxpool P6), RPN scale 8 x stride, 300 proposals, RoIAlign
    # 7x7 on P2-P5, two 128-wide fc layers, 128 sampled RoIs.
    backbone = BackboneWithFPN(TinyResNet18(w, args.norm), {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [w, w * 2, w * 4, w * 8], args.fpn)
    sizes = tuple((8 * s,) for s in [4, 8, 16, 32, 64])
    model = FasterRCNN(backbone, None, min_size=args.size, max_size=args.size,
                       rpn_anchor_generator=AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5),
                       rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=300,
                       rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300,
                       box_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2),
                       box_head=TwoMLPHead(args.fpn * 49, 128), box_predictor=FastRCNNPredictor(128, 6),
                       box_batch_size_per_image=128)
optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
evals = {int(x) for x in args.evals.split(",")}


def evaluate(step):
    model.eval()
    results = []
    with torch.no_grad():
        for i in range(0, len(val), 8):
            chunk = val[i:i + 8]
            for (image_id, _, _), out in zip(chunk, model([c[1] for c in chunk])):
                for (x0, y0, x1, y1), score, label in zip(out["boxes"].tolist(), out["scores"].tolist(),
                                                          out["labels"].tolist()):
                    results.append({"image_id": image_id, "category_id": label,
                                    "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
    path = f"{args.out}-val-{step}.json"
    json.dump(results, open(path, "w"))
    print(f"step {step}: {len(results)} detections -> {path}", flush=True)
    model.train()


model.train()
order, started = [], time.time()
for step in range(1, args.steps + 1):
    if len(order) < 2:
        order += random.sample(range(len(train)), len(train))
    batch = [train[order.pop()] for _ in range(2)]
    scale = min(1.0, 0.1 + 0.9 * step / 50) * (0.1 if step > 0.8 * args.steps else 1.0)
    for group in optimizer.param_groups:
        group["lr"] = args.lr * scale
    losses = model([b[1] for b in batch], [b[2] for b in batch])
    optimizer.zero_grad()
    sum(losses.values()).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
    optimizer.step()
    if step % 100 == 0:
        print(f"{step} {time.time() - started:.0f}s " + " ".join(f"{k} {v.item():.3f}" for k, v in losses.items()),
              flush=True)
    if step in evals:
        evaluate(step)
