"""Floating-point mode of training on the CPU: subnormal numbers are flushed to zero.

Why: a full-precision network trained with weight decay drives the weights of inputs that are
always zero (MNIST's border pixels, wherever a permutation puts them) towards zero, and some
end below the smallest normal float32, 1.18e-38 (measured in a checkpoint of fig2's
784-512-512-10 MLP after one task: 610 of 401,408 first-layer and 298 of 262,144 second-layer
weights, and 16 % of the first layer's Adam first moments). On x86 every multiply-add with a
subnormal operand takes a microcode assist: fig2's MLP runs took 645-671 s against 130-148 s
for its BNN runs of the same size, and a profile put 80 % of their time in GEMMs.
benchmarks/perf/subnormals.py plants those 908 subnormal weights in a fresh MLP: its forward
and backward pass takes 6.2 ms kept against 2.5 ms flushed (2.5x), and flushing costs nothing
without subnormals (2.7 ms both). Flushing (FTZ: subnormal results become 0; DAZ: subnormal
inputs read as 0) changes a result only where a value falls below 1.18e-38; TensorFlow does
the same on CPUs by default. GPUs keep their own mode (CUDA arithmetic is unchanged by this).

The mode is a property of each thread: a thread inherits it from the thread that creates it.
:func:`flush_subnormals` is therefore called at the start of every run, before torch starts
its worker threads; a program that runs torch with several threads *before* calling it leaves
those threads as they were (call it first).
"""

from __future__ import annotations

import torch

__all__ = ["flush_subnormals"]


def flush_subnormals() -> bool:
    """Flush subnormal floats to zero on the CPU from now on, in this thread and in the threads
    it creates; ``False`` where the CPU cannot (then nothing changes)."""
    return bool(torch.set_flush_denormal(True))
