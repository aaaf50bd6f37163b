"""K seeds batched into one model next to K separate runs, measured in the same run.

    python -m metabnn.benchmarks.perf.seeds [--k 4] [--hidden 1024 1024] [--n 6000] [--repeats 3]
                                    [--device cpu] [--kernels auto] [--threads N]

Every repeat trains, in alternation (so that load from other processes falls on all alike):

* **separate**: K :class:`~metabnn.models.BinaryMLP` (784-H-H-10, m = 1.35, batch 100), one after
  another, each one epoch of ``--n`` images in its own seeded order, then its evaluation on
  ``--n-test`` images (the per-epoch evaluation of a run), the loop of
  :class:`~metabnn.strategies.MetaplasticStrategy` without Avalanche's callbacks;
* **batched**: the same K networks stacked in one :class:`~metabnn.batched.BatchedBinaryMLP`,
  one epoch of :class:`~metabnn.batched_train.BatchedTrainer` with the same K orders; on CPU by
  default with the seeds side by side (``--kernels threads``: one seed per CPU thread, each on
  one intra-op thread), ``per-seed`` one after another, ``batched`` one ``bmm`` for all.

It prints the medians, the cost of K batched seeds in units of one seed (median seed epoch of
*separate*, on all of torch's threads), and checks the results: every seed's weights must equal
its separate run's, bitwise, where both ran the same kernels on the same number of threads.
Per-seed kernels are checked on the timed runs (after the repeats both sides have seen the same
minibatches); seeds side by side run on fewer threads each, so one fresh epoch of each side is
checked against separate runs on that many threads (BatchNorm's CPU sums follow the thread
count); for batched kernels the largest difference is printed. The images are random (speed
does not depend on pixel values).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from metabnn.batched import BatchedBinaryMLP
from metabnn.batched_train import BatchedExperience, BatchedTrainer, intra_op_threads
from metabnn.evaluation import accuracy
from metabnn.models import BinaryMLP, init_weights_
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups
from metabnn.seeding import generator


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _separate_epoch(model, opt, x, y, xt, yt, batch, gen) -> None:
    """One epoch and one evaluation of one seed: the Avalanche path's loop, without Avalanche."""
    order = torch.randperm(len(y), generator=gen).to(y.device)
    for start in range(0, len(y), batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    accuracy(model, xt, yt, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=4, help="seeds (default: 4)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024, 1024])
    parser.add_argument("--n", type=int, default=6000, help="training images per epoch")
    parser.add_argument("--n-test", type=int, default=2000, help="test images per epoch")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's default)")
    parser.add_argument("--kernels", choices=["auto", "threads", "per-seed", "batched"],
                        default="auto", help="how the batched seeds run; auto: threads on CPU, "
                        "batched elsewhere")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, k = torch.device(args.device), args.k
    kernels = args.kernels
    if kernels == "auto":
        kernels = "threads" if device.type == "cpu" else "batched"
    per_seed = kernels != "batched"

    data = torch.Generator().manual_seed(0)
    x = torch.rand(k, args.n, 784, generator=data).to(device)  # (K, N, 784)
    y = torch.randint(0, 10, (k, args.n), generator=data).to(device)  # (K, N)
    xt = torch.rand(k, args.n_test, 784, generator=data).to(device)
    yt = torch.randint(0, 10, (k, args.n_test), generator=data).to(device)

    def setup():
        """K fresh separate models with optimizers and order generators, and the same K
        stacked in a BatchedTrainer with its own copies of the generators."""
        models = [init_weights_(BinaryMLP(784, args.hidden, 10), 0.05, generator(s, "init"))
                  .to(device) for s in range(k)]
        trainer = BatchedTrainer(
            BatchedBinaryMLP.stack(models, per_seed=per_seed), [BatchedExperience(xt, yt, 0)],
            generators=[generator(s, "order") for s in range(k)],
            meta=1.35, lr=0.005, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-7,
            reset_per_experience=False, epochs=1, batch_size=args.batch, eval_batch_size=1000,
            per_task_bn=False, seed_threads=None if kernels == "threads" else 1,
        )
        opts = [MetaplasticAdam(metaplastic_param_groups(m, 1.35)) for m in models]
        return models, opts, [generator(s, "order") for s in range(k)], trainer

    def separate_epoch(models, opts, gens, s):
        _separate_epoch(models[s], opts[s], x[s], y[s], xt[s], yt[s], args.batch, gens[s])

    def max_diff(models, trainer):
        params = dict(trainer.model.named_parameters())
        return max((params[n][s] - p).abs().max().item()
                   for s, m in enumerate(models) for n, p in m.named_parameters())

    models, opts, gens, trainer = setup()
    seed_threads = trainer.seed_threads
    train = BatchedExperience(x, y, 0)

    seed_times: list[float] = []
    times: dict[str, list[float]] = {"separate": [], "batched": []}
    for rep in range(args.repeats + 1):  # the first is a warm-up
        _sync(device)
        t0 = time.perf_counter()
        for s in range(k):
            t1 = time.perf_counter()
            separate_epoch(models, opts, gens, s)
            _sync(device)
            if rep:
                seed_times.append(time.perf_counter() - t1)
        if rep:
            times["separate"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        trainer.train(train)
        _sync(device)
        if rep:
            times["batched"].append(time.perf_counter() - t0)

    med = {name: statistics.median(ts) for name, ts in times.items()}
    one = statistics.median(seed_times)
    epochs, ref_threads = args.repeats + 1, torch.get_num_threads()
    if seed_threads > 1:
        # side by side, each seed ran on threads_per_seed threads: check against separate runs
        # on that many (BatchNorm's CPU sums follow the thread count), one fresh epoch each
        epochs, ref_threads = 1, trainer.threads_per_seed
        models, opts, gens, trainer = setup()
        trainer.train(train)
        with intra_op_threads(ref_threads):
            for s in range(k):
                separate_epoch(models, opts, gens, s)
    diff = max_diff(models, trainer)

    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    print(f"versions: python {platform.python_version()}, torch {torch.__version__}")
    print(f"model 784-{'-'.join(map(str, args.hidden))}-10, m = 1.35, batch {args.batch}, "
          f"{args.n} images + {args.n_test} test images per epoch, K = {k}, "
          f"{kernels} kernels"
          + (f" ({seed_threads} seeds side by side)" if seed_threads > 1 else "")
          + f", median of {args.repeats}")
    print(f"one seed   : {one:8.3f} s/epoch")
    print(f"separate   : {med['separate']:8.3f} s/epoch   = {med['separate'] / one:.2f} x one seed")
    print(f"batched    : {med['batched']:8.3f} s/epoch   = {med['batched'] / one:.2f} x one seed"
          f"   ({med['separate'] / med['batched']:.2f}x faster than separate)")
    print(f"results: max |W_batched - W_separate| over {k} seeds after {epochs} epoch(s), "
          f"separate runs on {ref_threads} thread(s) = {diff:.3g}"
          + ("  (bitwise equal)" if diff == 0 else ""))


if __name__ == "__main__":
    main()
