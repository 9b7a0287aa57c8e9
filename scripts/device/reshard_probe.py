#!/usr/bin/env python3
"""Measures the GPU-to-GPU copy time of in-place re-shards of Llama2-70B-sized bf16 weights (issue 5).

For each move (TP4->TP8, TP8->TP4, TP4->TP2, TP2->TP4) it builds the plan that keeps most shards in place (each new
shard goes to the GPU that already holds most of it; the rest is copied from the GPUs that hold it), allocates only
the bytes that move, and times all the copies of the move launched together as peer-to-peer copies over NVLink
(each on a stream of its receiving GPU), several times. It prints one CSV row per move with the median time, next to
what the simulator's in-place preset (ReshardCost.IN_PLACE_NVLINK: 10 ms + bytes received per GPU / 400 GB/s) says.

Read-only for the GPUs' settings: it never sets a clock, an application clock, a power limit, persistence or compute
mode, and never resets a GPU. It uses no collective library and creates no multicast object; NCCL_NVLS_ENABLE=0,
TORCH_SYMM_MEM_DISABLE_MULTICAST=1 and NVSHMEM_DISABLE_NVLS=1 are set before torch loads all the same.

Usage (repository root, on a host with 8 GPUs):
    python3 scripts/device/reshard_probe.py [--repeats 10] [--moves 4:8,8:4,4:2,2:4] > reshard.csv
    python3 scripts/device/reshard_probe.py --plan            # the plans only, no GPU needed
    python3 scripts/device/reshard_probe.py --harness-check   # one GPU: every "GPU" is device 0 (NOT an NVLink figure)
"""
import os

os.environ["NCCL_NVLS_ENABLE"] = "0"
os.environ["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
os.environ["NVSHMEM_DISABLE_NVLS"] = "1"

import argparse
import itertools
import statistics
import sys
import time
from fractions import Fraction

# Llama2-70B: 68.98e9 parameters in bf16 (as ReshardCost.LLAMA2_70B_BYTES); every weight is taken as sharded along one
# dimension into equal slices, shard i of TP t holding the fraction [i/t, (i+1)/t) of it.
MODEL_BYTES = int(68.98e9 * 2)
# the simulator's in-place preset, for comparison
PRESET_BANDWIDTH = 400e9
PRESET_OVERHEAD_MS = 10.0


def plan(from_tp, to_tp, model_bytes=MODEL_BYTES):
    """The copies of a re-shard that keeps most shards in place.

    GPUs 0..from_tp-1 hold the old shards; the new instance uses to_tp GPUs among 0..max(from_tp, to_tp)-1, new shard j
    on the GPU that keeps the most of the weights in place over all new shards together.
    Returns (assignment, copies): assignment[j] is the GPU of new shard j; copies are (src_gpu, dst_gpu, bytes), one
    per pair, in a fixed order.
    """
    if from_tp < 1 or to_tp < 1:
        raise ValueError(f"tensor parallelism must be >= 1, got {from_tp} -> {to_tp}")
    gpus = max(from_tp, to_tp)

    def old(i):
        return Fraction(i, from_tp), Fraction(i + 1, from_tp)

    def new(j):
        return Fraction(j, to_tp), Fraction(j + 1, to_tp)

    def overlap(a, b):
        return max(Fraction(0), min(a[1], b[1]) - max(a[0], b[0]))

    def held(g, j):  # the part of new shard j that GPU g already holds
        return overlap(old(g), new(j)) if g < from_tp else Fraction(0)

    # the assignment that keeps the most bytes in place (all of them tried: at most 8! of 8 GPUs); of equals, the first
    # in lexicographic order, so that the plan is the same on every run
    keep = [[held(g, j) for g in range(gpus)] for j in range(to_tp)]
    best, best_kept = None, Fraction(-1)
    for perm in itertools.permutations(range(gpus), to_tp):
        kept = sum(keep[j][g] for j, g in enumerate(perm))
        if kept > best_kept:
            best, best_kept = perm, kept
    assignment = dict(enumerate(best))
    copies = {}
    for j in range(to_tp):
        dst = assignment[j]
        for i in range(from_tp):
            if i == dst:
                continue
            part = overlap(old(i), new(j))
            if part > 0:
                copies[(i, dst)] = copies.get((i, dst), 0) + int(part * model_bytes)
    return [assignment[j] for j in range(to_tp)], [(s, d, b) for (s, d), b in sorted(copies.items())]


def received_per_gpu(copies):
    per = {}
    for _, dst, b in copies:
        per[dst] = per.get(dst, 0) + b
    return per


def preset_ms(copies):
    """What ReshardCost.IN_PLACE_NVLINK predicts: the most bytes any GPU receives over one GPU's NVLink bandwidth."""
    most = max(received_per_gpu(copies).values(), default=0)
    return PRESET_OVERHEAD_MS + most / PRESET_BANDWIDTH * 1e3


def parse_moves(text):
    moves = []
    for item in text.split(","):
        try:
            a, b = (int(x) for x in item.split(":"))
        except ValueError:
            raise SystemExit(f"error: --moves takes FROM:TO pairs like 4:8,8:4; got '{item}'")
        if a not in (1, 2, 4, 8) or b not in (1, 2, 4, 8) or a == b:
            raise SystemExit(f"error: a move is between two different TPs of 1, 2, 4, 8; got '{item}'")
        moves.append((a, b))
    return moves


def measure(move, copies, repeats, one_gpu):
    import torch

    def device(g):
        return torch.device("cuda", 0 if one_gpu else g)

    if not one_gpu:
        for s, d, _ in copies:
            if not torch.cuda.can_device_access_peer(d, s):
                raise SystemExit(f"error: GPU {d} cannot read GPU {s} peer-to-peer; the copies would go through the"
                                 " host and say nothing about NVLink")
    src = {}
    dst = {}
    for s, d, b in copies:
        n = b // 2  # bf16 elements
        src[(s, d)] = torch.empty(n, dtype=torch.bfloat16, device=device(s)).normal_()
        dst[(s, d)] = torch.empty(n, dtype=torch.bfloat16, device=device(d))
    streams = {d: torch.cuda.Stream(device=device(d)) for _, d, _ in copies}
    used = sorted({device(g).index for s, d, _ in copies for g in (s, d)})

    def once():
        for g in used:
            torch.cuda.synchronize(g)
        t0 = time.perf_counter()
        for (s, d), buf in dst.items():
            with torch.cuda.stream(streams[d]):
                buf.copy_(src[(s, d)], non_blocking=True)
        for g in used:
            torch.cuda.synchronize(g)
        return (time.perf_counter() - t0) * 1e3

    once()  # warm-up: peer mappings, stream creation
    times = [once() for _ in range(repeats)]
    for (s, d), buf in dst.items():  # the bytes arrived intact
        if not torch.equal(buf[:1024].cpu(), src[(s, d)][:1024].cpu()):
            raise SystemExit(f"error: the copy {s}->{d} of move {move} did not arrive intact")
    del src, dst
    torch.cuda.empty_cache()
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", default="4:8,8:4,4:2,2:4", help="FROM:TO pairs, comma-separated")
    ap.add_argument("--repeats", type=int, default=10, help="timed repetitions of each move (default 10)")
    ap.add_argument("--plan", action="store_true", help="print the plans and the preset's times; no GPU needed")
    ap.add_argument("--harness-check", action="store_true",
                    help="run on one GPU, every logical GPU being device 0: checks the script, NOT an NVLink figure")
    ap.add_argument("--scale", type=float, default=None,
                    help="share of the model's bytes to move (default 1; 0.05 with --harness-check, to fit one GPU)")
    args = ap.parse_args()
    if args.repeats < 1:
        raise SystemExit("error: --repeats must be >= 1")
    scale = args.scale if args.scale is not None else 0.05 if args.harness_check else 1.0
    if not 0 < scale <= 1:
        raise SystemExit(f"error: --scale must be in (0, 1], got {scale}")
    moves = parse_moves(args.moves)
    mode = "plan" if args.plan else "harness-check (device 0 only; not NVLink)" if args.harness_check else "nvlink-p2p"
    if scale != 1:
        mode += f"; {scale:g} of the model"
    print("move,mode,copies,receiving_gpus,max_bytes_received_per_gpu,total_bytes,median_ms,min_ms,max_ms,"
          "gb_per_s_per_receiving_gpu,preset_ms", flush=True)
    if not args.plan:
        import torch
        have = torch.cuda.device_count()
        need = 1 if args.harness_check else max(max(a, b) for a, b in moves)
        if have < need:
            raise SystemExit(f"error: the moves {args.moves} need {need} GPUs, this machine shows {have}"
                             " (--plan needs none; --harness-check needs one)")
        print(f"# {have} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}", file=sys.stderr, flush=True)
    for a, b in moves:
        assignment, copies = plan(a, b, int(MODEL_BYTES * scale))
        per = received_per_gpu(copies)
        most = max(per.values(), default=0)
        total = sum(c[2] for c in copies)
        move = f"TP{a}->TP{b}"
        if args.plan:
            print(f"# {move}: new shards on GPUs {assignment}; copies {copies}", file=sys.stderr)
            print(f"{move},{mode},{len(copies)},{len(per)},{most},{total},,,,,{preset_ms(copies):.1f}", flush=True)
            continue
        t = measure(move, copies, args.repeats, args.harness_check)
        med = statistics.median(t)
        print(f"{move},{mode},{len(copies)},{len(per)},{most},{total},{med:.1f},{min(t):.1f},{max(t):.1f},"
              f"{most / (med / 1e3) / 1e9:.0f},{preset_ms(copies):.1f}", flush=True)


if __name__ == "__main__":
    main()
