#!/usr/bin/python3
"""PyTorch CPU reference for the det RetinaNet R-50-FPN training step (bench/speed.bench.ts).

torchvision's retinanet_resnet50_fpn (random init, 80 classes), batch 2 at 512x512, SGD,
same thread count as det's wasm backend (1 by default). Prints seconds per step.
Run: /usr/bin/python3 packages/detectors/bench/torch_retinanet_step.py [threads]
"""
import sys
import time

import torch
import torchvision

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.detection.retinanet_resnet50_fpn(
    weights=None, weights_backbone=None, num_classes=91, min_size=512, max_size=512
)
model.train()
optimizer = torch.optim.SGD(model.parameters(), lr=0.0025, momentum=0.9, weight_decay=1e-4)
images = [torch.randn(3, 512, 512) for _ in range(2)]
box = torch.tensor([[51.2, 102.4, 256.0, 307.2], [204.8, 51.2, 460.8, 256.0]])
targets = [{"boxes": box.clone(), "labels": torch.tensor([1, 2])} for _ in range(2)]


def step():
    losses = model(images, targets)
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
    optimizer.step()


step()
times = []
for _ in range(3):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
mean = sum(times) / len(times)
print(f"torchvision retinanet_resnet50_fpn train step, batch 2, 512x512, {threads} thread(s): "
      f"{mean:.3f} s/step, {2 / mean:.2f} images/s")
