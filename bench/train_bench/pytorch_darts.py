#!/usr/bin/python3
"""The DARTS V2 network (C=16, 5 cells, Fashion-MNIST 28x28) in Python
PyTorch, op for op identical to worker/model/network.cc, and the same three
measurements as train_bench.cc: training images/s (batch 64, SGD step as in
worker/train/trainer.cc), batch-64 inference images/s and batch-1 latency.
Prints one JSON line per repetition. Run with /usr/bin/python3 (Debian's
python3-torch)."""
import argparse
import gzip
import json
import math
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
          ("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("skip_connect", 0),
          ("skip_connect", 0), ("dil_conv_3x3", 2)]
REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2),
          ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("skip_connect", 2),
          ("skip_connect", 2), ("max_pool_3x3", 1)]


def relu_conv_bn(c_in, c_out):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False),
                         nn.BatchNorm2d(c_out))


def dw_pw_bn(c, stride, dilation):
    return [nn.ReLU(),
            nn.Conv2d(c, c, 3, stride, dilation, dilation, groups=c,
                      bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        y = F.relu(x)
        shifted = F.pad(y, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv1(y), self.conv2(shifted)], 1))


def make_op(name, c, stride):
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "sep_conv_3x3":
        return nn.Sequential(*dw_pw_bn(c, stride, 1), *dw_pw_bn(c, 1, 1))
    if name == "dil_conv_3x3":
        return nn.Sequential(*dw_pw_bn(c, stride, 2))
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    raise ValueError(name)


class Cell(nn.Module):
    def __init__(self, genotype, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.pre0 = (FactorizedReduce(c_pp, c) if reduction_prev
                     else relu_conv_bn(c_pp, c))
        self.pre1 = relu_conv_bn(c_p, c)
        self.inputs = [j for _, j in genotype]
        self.ops = nn.ModuleList(
            make_op(name, c, 2 if reduction and j < 2 else 1)
            for name, j in genotype)

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(len(self.ops) // 2):
            states.append(sum(self.ops[i](states[self.inputs[i]])
                              for i in (2 * k, 2 * k + 1)))
        return torch.cat(states[2:], 1)


class Network(nn.Module):
    def __init__(self, c=16, cells=5, in_channels=1, classes=10):
        super().__init__()
        stem = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, 1, 1,
                                            bias=False), nn.BatchNorm2d(stem))
        reductions = {cells // 3, 2 * cells // 3}
        c_pp, c_p, reduction_prev = stem, stem, False
        self.cells = nn.ModuleList()
        for i in range(cells):
            reduction = i in reductions
            if reduction:
                c *= 2
            self.cells.append(Cell(REDUCE if reduction else NORMAL, c_pp, c_p,
                                   c, reduction, reduction_prev))
            c_pp, c_p, reduction_prev = c_p, 4 * c, reduction
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean((2, 3)))


def load_images(path, count):
    with gzip.open(path + "/train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(path + "/train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    images = images.reshape(-1, 1, 28, 28)[:count].astype(np.float32) / 255
    images = (images - images.mean()) / images.std()
    return torch.from_numpy(images), torch.from_numpy(
        labels[:count].astype(np.int64))


def train_images_per_second(net, images, labels, steps, batch=64):
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9,
                          weight_decay=3e-4)
    net.train()

    def step(i, total):
        for g in opt.param_groups:
            g["lr"] = 0.5 * 0.025 * (1 + math.cos(math.pi * i / total))
        first = (i * batch) % (len(images) - batch + 1)
        x, y = images[first:first + batch], labels[first:first + batch]
        opt.zero_grad()
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        loss.item()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        logits.detach().argmax(1).eq(y).sum().item()

    for i in range(3):  # Warm-up.
        step(i, steps)
    start = time.perf_counter()
    for i in range(steps):
        step(i, steps)
    return steps * batch / (time.perf_counter() - start)


def latency_ms(net, batch, runs, warmup=3):
    net.eval()
    x = torch.randn(batch, 1, 28, 28)
    with torch.no_grad():
        for _ in range(warmup):
            net(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            net(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train_steps", type=int, default=30)
    p.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--show_config", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.show_config:
        print(torch.__config__.show())
        print(torch.__config__.parallel_info())
    net = Network()
    params = sum(t.numel() for t in net.parameters())
    images, labels = load_images(a.data_dir, a.train_steps * 64 + 64)
    train = train_images_per_second(net, images, labels, a.train_steps)
    b64 = latency_ms(net, 64, 10)
    b1 = latency_ms(net, 1, 50)
    print(json.dumps({"impl": "pytorch", "threads": torch.get_num_threads(),
                      "params": params, "train_ips": round(train, 1),
                      "infer64_ips": round(64e3 / b64, 1),
                      "b1_ms": round(b1, 3)}))


if __name__ == "__main__":
    main()
