"""Writes tests/golden/optim_torch.safetensors: PyTorch's own optimizers
(torch.optim.SGD with momentum and Nesterov, AdamW, Adagrad) run for 10 steps
on fixed gradients, for tests/test_optim_torch.c. Run with Debian's python3
(torch 1.13, CPU):  /usr/bin/python3 tests/reference/gen_optim_golden.py

Three parameters of different shapes start from float32 values drawn with
numpy (fixed seed); step s uses gradient set s (per tensor a different scale).
The optimizers run in float32, as they do in training, with the
hyper-parameters written as a user writes them (unizoo recovers the decimal
from its float config, see decimal_of in train/optim.c). Stored: the initial parameters "<p>", the gradients
"grad.<s>.<p>" and, per optimizer case, the parameters after each step
"<case>.<s>.<p>" (s = 0..9). Rerunning rewrites a byte-identical file.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                   "optim_torch.safetensors")
STEPS = 10
PARAMS = [("a.weight", (4, 5), 1.0), ("b.bias", (7,), 0.1), ("c.weight", (2, 3, 3), 3.0)]


CASES = [
    ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                       weight_decay=0.01)),
    ("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8,
                                                weight_decay=0.02)),
    ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999),
                                           eps=1e-8, weight_decay=0.05)),
    ("adagrad", lambda ps: torch.optim.Adagrad(ps, lr=0.1, weight_decay=0.01,
                                               initial_accumulator_value=0.1,
                                               eps=1e-10)),
]


def main():
    rng = np.random.default_rng(1234)
    init = {n: rng.standard_normal(s).astype(np.float32) for n, s, _ in PARAMS}
    grads = [{n: (rng.standard_normal(s) * sc).astype(np.float32) for n, s, sc in PARAMS}
             for _ in range(STEPS)]
    items = [(n, init[n]) for n, _, _ in PARAMS]
    for s in range(STEPS):
        items += [("grad.%d.%s" % (s, n), grads[s][n]) for n, _, _ in PARAMS]
    for case, make in CASES:
        ps = [torch.tensor(init[n], requires_grad=True) for n, _, _ in PARAMS]
        opt = make(ps)
        for s in range(STEPS):
            for p, (n, _, _) in zip(ps, PARAMS):
                p.grad = torch.tensor(grads[s][n])
            opt.step()
            items += [("%s.%d.%s" % (case, s, n), p.detach().numpy().copy())
                      for p, (n, _, _) in zip(ps, PARAMS)]
    safetensors_writer.save(OUT, items, {
        "generator": "tests/reference/gen_optim_golden.py",
        "torch": torch.__version__,
        "precision": "float32 optimizers, float32-rounded hyper-parameters",
    })


if __name__ == "__main__":
    main()
