#!/usr/bin/env python3
"""The GPU peers of `gpucalc bench` through PyTorch on a CUDA machine: cuBLAS
matmul (TF32 off, the fair comparison for an f32 kernel), BabelStream's
kernels as tensor ops, torch.rand / torch.randn / random_ into device memory,
and torch.sqrt / torch.exp. Timed with CUDA events after a warm-up.

usage: torch_peers.py [--quick] [--only stream,rng,map,matmul] [--json FILE]
then:  gpucalc --device cuda bench --compare FILE
"""
import argparse

import torch

from peer_report import bench_size, emit, row


def timed(fn, iterations):
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) * 1e-3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="stream,rng,map,matmul")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--json", default="-")
    args = ap.parse_args()
    only = set(args.only.split(","))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    name = f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}"
    it = args.iterations
    rows = []
    props = torch.cuda.get_device_properties(0)
    # gpucalc's sizes on this GPU (its bandwidth rows grow past the L2 cache).
    cache = getattr(props, "L2_cache_size", 0)

    def size(workload, variant):
        return bench_size(workload, variant, args.quick, cache, props.total_memory)

    if "stream" in only:
        for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
            n = size("stream", tag)
            a = torch.full((n,), 0.1, dtype=dtype, device=dev)
            b = torch.full((n,), 0.2, dtype=dtype, device=dev)
            c = torch.zeros(n, dtype=dtype, device=dev)
            size = a.element_size()
            for kernel, arrays, fn in (
                ("copy", 2, lambda: c.copy_(a)),
                ("mul", 2, lambda: torch.mul(c, 0.4, out=b)),
                ("add", 3, lambda: torch.add(a, b, out=c)),
                ("triad", 3, lambda: torch.add(b, c, alpha=0.4, out=a)),
                ("dot", 2, lambda: torch.dot(a, b)),
            ):
                rows.append(row("stream", f"{tag}-{kernel}", "torch-cuda", name, n, "B/s", arrays * size * n, timed(fn, it)))
    if "rng" in only:
        for variant, fill in (
            ("uniform-f32", lambda t: t.uniform_()),
            ("normal-f32", lambda t: t.normal_()),
            ("raw-u32", lambda t: t.random_()),
        ):
            n = size("rng", variant)
            dtype = torch.int32 if variant == "raw-u32" else torch.float32
            out = torch.empty(n, dtype=dtype, device=dev)
            rows.append(row("rng", variant, "torch-cuda", name, n, "B/s", 4 * n, timed(lambda: fill(out), it)))
    if "map" in only:
        n32, n64 = size("map", "sqrt-f32"), size("map", "exp-f64")
        x32 = (torch.arange(n32, device=dev) % 65536).float() * 0.25
        x64 = (torch.arange(n64, device=dev) % 65536).double() * 0.01 - 327.68
        y32, y64 = torch.empty_like(x32), torch.empty_like(x64)
        rows += [
            row("map", "sqrt-f32", "torch-cuda", name, n32, "B/s", 8 * n32, timed(lambda: torch.sqrt(x32, out=y32), it)),
            row("map", "exp-f64", "torch-cuda", name, n64, "B/s", 16 * n64, timed(lambda: torch.exp(x64, out=y64), it)),
        ]
    if "matmul" in only:
        side = size("matmul", "f32")
        for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
            a = torch.rand(side, side, dtype=dtype, device=dev) * 2 - 1
            b = torch.rand(side, side, dtype=dtype, device=dev) * 2 - 1
            rows.append(row("matmul", tag, "torch-cuda", name, side, "FLOP/s", 2 * side**3, timed(lambda: a @ b, it)))
    emit(rows, {"torch": torch.__version__, "cuda": torch.version.cuda}, args.json)


if __name__ == "__main__":
    main()
