"""What the generalist's backbone alone reaches on Fashion-MNIST within a step
budget: the yardstick for issue 5's classification target (top-1 >= 0.92).

The same conv stack as vision's backbone (3x3 convs 16 / 32-32 / 64-64 /
128-128, stride 2 at each stage, ReLU, He init), on the same input (digits
centred on 32x32, pixels scaled to [-1, 1]), then global average pooling and
a linear classifier; AdamW (weight decay 0.05) with the zoo's schedule
(warm-up 200, cosine to 2e-5). --bn adds BatchNorm after every conv, which
the generalist does not have (its tasks alternate between digits and scenes).
Prints the accuracy on all 10,000 test digits. Debian's python3-torch:

    /usr/bin/python3 bench/reference/fmnist_cnn_budget.py --steps 480 --batch 128 --lr 5e-4
"""
import argparse
import gzip
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist/"


def idx_file(name, offset):
    with gzip.open(DATA + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def digits(prefix):
    x = idx_file(prefix + "-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    y = idx_file(prefix + "-labels-idx1-ubyte.gz", 8)
    t = torch.full((len(x), 1, 32, 32), -1.0)
    t[:, 0, 2:30, 2:30] = torch.tensor(x, dtype=torch.float32) * (2 / 255) - 1
    return t, torch.tensor(y, dtype=torch.long)


def conv(cin, cout, stride, bn):
    c = nn.Conv2d(cin, cout, 3, stride, 1)
    nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
    nn.init.zeros_(c.bias)
    return [c] + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.ReLU()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=480)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--bn", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    xtr, ytr = digits("train")
    xte, yte = digits("t10k")
    w = [16, 32, 64, 128]
    layers = conv(1, w[0], 1, a.bn)
    for s in range(3):
        layers += conv(w[s], w[s + 1], 2, a.bn) + conv(w[s + 1], w[s + 1], 1, a.bn)
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w[3], 10))
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=0.05)
    gen = torch.Generator().manual_seed(1)
    warmup = 200
    for step in range(a.steps):
        if step < warmup:
            lr = a.lr * step / warmup
        else:
            lr = max(a.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, a.steps - warmup))),
                     2e-5)
        for g in opt.param_groups:
            g["lr"] = lr
        i = torch.randint(0, len(xtr), (a.batch,), generator=gen)
        loss = F.cross_entropy(net(xtr[i]), ytr[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"steps {a.steps} batch {a.batch} lr {a.lr} bn {a.bn}: "
          f"{a.steps * a.batch / len(xtr):.1f} epochs, test top-1 {acc:.4f}")


if __name__ == "__main__":
    main()
