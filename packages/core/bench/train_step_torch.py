"""The reference net of reference-net.mjs in PyTorch: median SGD step time on CPU."""
import json
import sys
import time

import torch
from torch import nn

steps, batch, size, threads = (int(v) for v in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
layers = [(3, 32, 2), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 256, 1)]
modules = []
for cin, cout, stride in layers:
    modules += [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU()]
net = nn.Sequential(*modules, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))
optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
images = torch.randn(batch, 3, size, size)
labels = torch.tensor([1, 3, 5, 7][:batch])


def step():
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(net(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


step()
times = []
for _ in range(steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({
    "version": torch.__version__,
    "threads": torch.get_num_threads(),
    "parameters": sum(p.numel() for p in net.parameters()),
    "step": times[len(times) // 2],
}))
