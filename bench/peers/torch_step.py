#!/usr/bin/env python3
"""PyTorch peer for bench/step.ts: one pre-LN transformer encoder layer
(fused qkv, softmax attention, exact GELU, two LayerNorms), forward + backward
of an MSE loss, timed per step. Prints one JSON object.

Usage: torch_step.py B N D HEADS MLP STEPS WARMUP THREADS
Thread variables (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, OMP_WAIT_POLICY) must
be set by the caller before Python starts: Debian's torch calls the system
OpenBLAS, which torch.set_num_threads does not limit.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def main():
    b, n, d, heads, mlp, steps, warmup, threads = (int(a) for a in sys.argv[1:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = Layer(d, heads, mlp)
    x = torch.randn(b, n, d)
    target = torch.randn(b, n, d)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        layer.zero_grad(set_to_none=True)
        loss = F.mse_loss(layer(x), target)
        loss.backward()
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(dt)
    times.sort()
    print(json.dumps({"median_ms": times[len(times) // 2], "min_ms": times[0], "steps": steps, "threads": threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
