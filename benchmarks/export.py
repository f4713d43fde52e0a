"""Latency of exported models: eager PyTorch vs TorchScript vs onnxruntime.

Run:  python benchmarks/export.py            (needs: pip install -e ".[onnx]")
      python benchmarks/export.py --quick    (128×128, 1 repeat: a smoke run)

For the shipped "fast" and "default" colour models, one forward pass of a ``(1, 3, H, W)``
float32 input at 640×640 and 1920×1080 (W×H), medians of ``--repeats`` runs in one process.
On CPU: eager PyTorch (NCHW, and channels-last as ``Denoiser`` runs float32 on a CPU with
``runtime="torch"``), TorchScript (``cvdenoise.export.to_torchscript``), onnxruntime's CPU
provider on the exported file (``to_onnx``) and on the in-memory graph ``Denoiser`` runs with
``runtime="onnxruntime"`` (``cvdenoise.ort_runtime``),
with torch threads = onnxruntime intra-op threads = ``--threads``. With CUDA also eager fp16,
TorchScript fp16, onnxruntime's CUDA provider (fp32 and an fp16 graph; device-resident I/O
through IO binding) and the TensorRT provider when this onnxruntime build has it (its engine
build happens in the warm-up and is not timed). The last column is the max
abs difference to eager fp32 on the same input. Writes ``benchmarks/results/export.json`` and
the ``export`` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_write_option, machine, markdown_table, median_time, should_write, write_section  # noqa: E402

import onnxruntime as ort  # noqa: E402

from cvdenoise.export import to_onnx, to_torchscript  # noqa: E402
from cvdenoise.weights import FAMILIES, load_model  # noqa: E402

Runner = Callable[[], Any]


def _session(path: Path, threads: int, providers: list[Any]) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=providers)


def _jit_load(path: Path, device: str) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location=device).eval()


def cpu_runners(files: dict[str, Path], model: torch.nn.Module, x: torch.Tensor, threads: int) -> dict[str, tuple[Runner, Runner]]:
    """name → (timed call, call returning the output as numpy)."""
    ts = _jit_load(files["torchscript"], "cpu")
    sess = _session(files["onnx"], threads, ["CPUExecutionProvider"])
    arr = np.ascontiguousarray(x.numpy())

    model_nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)

    def eager() -> np.ndarray:
        return model(x).numpy()

    def eager_nhwc() -> np.ndarray:
        return model_nhwc(x_nhwc).contiguous().numpy()

    def script() -> np.ndarray:
        return ts(x).numpy()

    def onnx_cpu() -> np.ndarray:
        return sess.run(None, {"image": arr})[0]

    from cvdenoise.ort_runtime import OrtModel

    in_memory = OrtModel(copy.deepcopy(model), threads=threads)

    def onnx_in_memory() -> np.ndarray:
        return in_memory(x).numpy()

    return {"eager PyTorch (CPU)": (eager, eager),
            "eager channels-last (CPU; Denoiser fp32, runtime='torch', the default)": (eager_nhwc, eager_nhwc),
            "TorchScript (CPU)": (script, script), "onnxruntime CPU": (onnx_cpu, onnx_cpu),
            "onnxruntime, in-memory graph (CPU; Denoiser fp32, runtime='onnxruntime')": (onnx_in_memory, onnx_in_memory)}


def cuda_runners(files: dict[str, Path], family: str, x: torch.Tensor, threads: int) -> dict[str, tuple[Runner, Runner]]:
    """CUDA variants; timed calls synchronise; inputs and outputs stay on the GPU."""
    out: dict[str, tuple[Runner, Runner]] = {}
    xc = x.cuda()
    m32 = load_model(FAMILIES[family][3]).cuda()
    m16 = load_model(FAMILIES[family][3]).cuda().half()

    def timed(fn: Callable[[], torch.Tensor]) -> tuple[Runner, Runner]:
        def run() -> None:
            fn()
            torch.cuda.synchronize()

        return run, lambda: fn().float().cpu().numpy()

    out["eager PyTorch fp32 (CUDA)"] = timed(lambda: m32(xc))
    out["eager PyTorch fp16 (CUDA)"] = timed(lambda: m16(xc.half()))
    for tag in ("torchscript", "torchscript_fp16"):
        try:
            mod = _jit_load(files[tag], "cuda")
            out[f"TorchScript {'fp16' if tag.endswith('fp16') else 'fp32'} (CUDA)"] = timed(lambda mod=mod: mod(xc))
        except Exception as e:  # noqa: BLE001 - report, keep going
            print(f"skip TorchScript {tag} on CUDA: {e}", file=sys.stderr)
    have = set(ort.get_available_providers())
    arr = np.ascontiguousarray(x.numpy())
    variants: list[tuple[str, str, list[Any]]] = []
    if "CUDAExecutionProvider" in have:
        variants += [("onnxruntime CUDA fp32", "onnx", ["CUDAExecutionProvider"]),
                     ("onnxruntime CUDA fp16 graph", "onnx_fp16", ["CUDAExecutionProvider"])]
    if "TensorrtExecutionProvider" in have:
        variants += [("onnxruntime TensorRT fp32", "onnx", ["TensorrtExecutionProvider", "CUDAExecutionProvider"]),
                     ("onnxruntime TensorRT fp16", "onnx", [("TensorrtExecutionProvider", {"trt_fp16_enable": True}),
                                                           "CUDAExecutionProvider"])]
    for label, tag, provs in variants:
        try:
            sess = _session(files[tag], threads, provs)
            xv = ort.OrtValue.ortvalue_from_numpy(arr, "cuda", 0)
            io = sess.io_binding()
            io.bind_ortvalue_input("image", xv)
            io.bind_output("denoised", "cuda", 0)

            def run(sess: ort.InferenceSession = sess, io: Any = io) -> None:
                sess.run_with_iobinding(io)

            def result(sess: ort.InferenceSession = sess, io: Any = io) -> np.ndarray:
                sess.run_with_iobinding(io)
                return io.copy_outputs_to_cpu()[0]

            out[label] = (run, result)
        except Exception as e:  # noqa: BLE001
            print(f"skip {label}: {e}", file=sys.stderr)
    return out


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available() and not args.cpu_only
    sizes = [(128, 128)] if args.quick else [(640, 640), (1920, 1080)]
    rows: list[list[Any]] = []
    data: dict[str, Any] = {"machine": machine(), "threads": args.threads, "repeats": args.repeats,
                            "onnxruntime": ort.__version__, "results": {}}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for family in args.weights:
            files = {"onnx": Path(tmp) / f"{family}.onnx", "torchscript": Path(tmp) / f"{family}.pt"}
            with torch.inference_mode(False):
                to_onnx(files["onnx"], family, check=False)
                to_torchscript(files["torchscript"], family, check=False)
                if cuda:
                    files["onnx_fp16"] = Path(tmp) / f"{family}-fp16.onnx"
                    files["torchscript_fp16"] = Path(tmp) / f"{family}-fp16.pt"
                    to_onnx(files["onnx_fp16"], family, half=True, check=False)
                    to_torchscript(files["torchscript_fp16"], family, half=True, check=False)
            model = load_model(FAMILIES[family][3])
            for w, h in sizes:
                x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
                runners = cpu_runners(files, model, x, args.threads)
                if cuda:
                    runners.update(cuda_runners(files, family, x, args.threads))
                ref = model(x).numpy()
                base: dict[str, float] = {}  # eager fp32 ms per device, the "vs eager" baseline
                for label, (timed, result) in runners.items():
                    try:
                        diff = float(np.abs(result() - ref).max())  # also the first warm-up
                        ms = median_time(timed, args.repeats, warmup=args.warmup) * 1e3
                    except Exception as e:  # noqa: BLE001 - a runtime that fails is reported, not fatal
                        print(f"{family} {w}×{h} {label}: failed: {e}", file=sys.stderr)
                        continue
                    dev = "CUDA" if ("CUDA" in label or "TensorRT" in label) else "CPU"
                    if label.startswith("eager PyTorch") and "fp16" not in label:
                        base[dev] = ms
                    speed = f"{base[dev] / ms:.2f}×" if dev in base else "-"
                    rows.append([family, f"{w}×{h}", label, f"{ms:.1f}", speed, f"{diff:.1e}"])
                    data["results"].setdefault(family, {}).setdefault(f"{w}x{h}", {})[label] = {"ms": ms, "max_abs_diff": diff}
                    print(" | ".join(rows[-1]), flush=True)
    cmd = "python benchmarks/export.py" + (" --quick" if args.quick else "")
    md = f"""## Exported runtimes (`{cmd}`)

Machine: {machine()}; onnxruntime {ort.__version__} with {args.threads} intra-op threads. One forward
pass of a (1, 3, H, W) float32 input (W×H below), median of {args.repeats} runs after {args.warmup}
warm-up(s), same process. "vs eager" is the speed-up over eager fp32 PyTorch on the same device;
the last column is the max abs difference to eager fp32 on CPU (values in [0, 1]).

{markdown_table(["weights", "input", "runtime", "ms", "vs eager", "max abs diff"], rows)}
"""
    print(md)
    if should_write(args):
        write_section("export", md, data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads = onnxruntime intra-op threads")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--weights", nargs="+", default=["fast", "default"], choices=sorted(FAMILIES))
    p.add_argument("--cpu-only", action="store_true", help="skip the CUDA rows even when CUDA is available")
    p.add_argument("--quick", action="store_true", help="smoke run: 128×128, 1 repeat, 1 warm-up (writes nothing)")
    add_write_option(p)
    args = p.parse_args()
    if args.quick:
        args.repeats, args.warmup = 1, 1
    run(args)


if __name__ == "__main__":
    main()
