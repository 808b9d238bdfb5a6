"""The deployable formats of a pruned model's measured part (the classifier, the detector's
backbone), each written with a free batch dimension and read back the one way a deployment
reads it:

  onnx         `torch.onnx.export`, the dynamo exporter where it captures the model, the
               TorchScript-based exporter otherwise (the record names which); checked with
               `onnx.checker`; run by ONNX Runtime
  pt2          a `torch.export` program (TorchScript's successor)
  torchscript  a traced TorchScript module (deprecated by torch 2.15, still widely shipped)

Everything is serialised in memory first: the file is written only once the export worked, and
ONNX Runtime can run an export that never touches the disk (`measure.speed`).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from prunebench.errors import PrunebenchError
from prunebench.protocol.defaults import FORMATS

SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".torchscript.pt"}
INPUT = "input"
Runner = Callable[[Tensor], list[Tensor]]


@dataclass(frozen=True)
class Exported:
    """One export: its format, the exporter that made it and the file's bytes."""

    format: str
    exporter: str
    data: bytes


class ExportError(PrunebenchError):
    """The model could not be written in a format (the reason names the exporter's error)."""


def file_for(weights: Path, fmt: str) -> Path:
    """Where `--save-models` puts the `fmt` export of the weights file `weights`."""
    return weights.with_name(weights.stem + SUFFIXES[fmt])


def outputs(value: object) -> list[Tensor]:
    """A model's outputs as a flat list: a tensor, or the tensors of a tuple, list or dict (a
    detector's backbone returns its feature maps by name), in order."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [t for v in value for t in outputs(v)]
    raise TypeError(f"a model output of type {type(value).__name__} is not a tensor")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def export(part: nn.Module, example: Tensor, fmt: str) -> Exported:
    """`part` (in eval mode, on the CPU) written as `fmt`, traced at `example`; ExportError says
    why it cannot be."""
    if fmt not in FORMATS:
        raise PrunebenchError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    part = part.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            return _onnx(part, example)
        try:
            if fmt == "pt2":
                program = torch.export.export(part, (example,),
                                              dynamic_shapes=({0: torch.export.Dim("batch")},))
                buffer = io.BytesIO()
                torch.export.save(program, buffer)
                return Exported(fmt, "torch.export", buffer.getvalue())
            traced = torch.jit.trace(part, example, strict=False)
            buffer = io.BytesIO()
            torch.jit.save(traced, buffer)
            return Exported(fmt, "torch.jit.trace", buffer.getvalue())
        except Exception as exc:
            raise ExportError(f"{fmt}: {_reason(exc)}") from None


def _onnx(part: nn.Module, example: Tensor) -> Exported:
    """The dynamo exporter, else the TorchScript-based one; both checked by `onnx.checker`."""
    import onnx

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        program = torch.onnx.export(part, (example,), dynamo=True, verbose=False,
                                    input_names=[INPUT],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
        assert program is not None
        data, exporter = program.model_proto.SerializeToString(), "torch.onnx (dynamo)"
    except Exception as dynamo_error:
        buffer = io.BytesIO()
        try:
            torch.onnx.export(part, (example,), buffer,  # type: ignore[arg-type]
                              dynamo=False, input_names=[INPUT],
                              dynamic_axes={INPUT: {0: "batch"}})
        except Exception as exc:
            raise ExportError(f"onnx: the dynamo exporter failed ({_reason(dynamo_error)}), "
                              f"and so did the TorchScript-based one ({_reason(exc)})") from None
        data, exporter = buffer.getvalue(), "torch.onnx (torchscript)"
    try:
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx: {exporter} wrote a model onnx.checker refuses: "
                          f"{_reason(exc)}") from None
    return Exported("onnx", exporter, data)


def onnx_session(data: bytes, device: torch.device):
    """An ONNX Runtime session of the model `data`: the CUDA execution provider on a GPU
    (onnxruntime-gpu), the CPU one otherwise, with torch's thread count, every graph
    optimisation on, and threads that sleep when a call ends. Left spinning (ONNX Runtime's
    default), they keep the cores busy after the call and slow whatever runs next: measured with
    VGG-16 at batch 1 on 2 cores, a session timed alone took 6.0 ms, two sessions taking turns
    17.7 and 11.0 ms, and eager PyTorch after one 24 ms instead of 11. Sleeping costs a session
    alone about 2%."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("ONNX Runtime has no CUDA execution provider here "
                               "(pip install onnxruntime-gpu)")
        providers: list = [("CUDAExecutionProvider", {"device_id": device.index or 0})]
    else:
        providers = ["CPUExecutionProvider"]
    return ort.InferenceSession(data, options, providers=providers)


def onnx_runner(session, device: torch.device) -> Callable[[Tensor], object]:
    """A call of `session` on a tensor: a CPU tensor goes in as a contiguous array; a GPU one is
    bound where it lies (no copy through the host), and so are the outputs."""
    name = session.get_inputs()[0].name
    if device.type != "cuda":
        return lambda x: session.run(None, {name: x.contiguous().numpy()})

    import numpy as np

    def run(x: Tensor) -> object:
        x = x.contiguous()
        binding = session.io_binding()
        binding.bind_input(name, "cuda", device.index or 0, np.float32, list(x.shape),
                           x.data_ptr())
        for out in session.get_outputs():
            binding.bind_output(out.name, "cuda", device.index or 0)
        session.run_with_iobinding(binding)
        return binding.get_outputs()
    return run


def load(path: Path, fmt: str) -> Runner:
    """The file `path` of format `fmt`, read back as a deployment would and run on the CPU; a
    file that cannot be read, or an ONNX file onnx.checker refuses, is refused (PrunebenchError,
    one line)."""
    if not path.is_file():
        raise PrunebenchError(f"{path} does not exist; write it with `prunebench export RESULT "
                              f"--format {fmt}`")
    quiet = logging.getLogger("torch.export")  # logs a damaged archive's traceback
    level = quiet.level
    try:
        quiet.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _load(path, fmt)
    except Exception as exc:
        raise PrunebenchError(f"{path} is not a readable {fmt} file ({_reason(exc)}); export "
                              f"it again with `prunebench export RESULT --format {fmt}`") from None
    finally:
        quiet.setLevel(level)


def _load(path: Path, fmt: str) -> Runner:
    if fmt == "onnx":
        import onnx

        data = path.read_bytes()
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
        run = onnx_runner(onnx_session(data, torch.device("cpu")), torch.device("cpu"))
        return lambda x: [torch.from_numpy(o) for o in run(x)]  # type: ignore[attr-defined]
    module = torch.export.load(str(path)).module() if fmt == "pt2" else \
        torch.jit.load(str(path), map_location="cpu")

    def call(x: Tensor) -> list[Tensor]:
        with torch.no_grad():
            return outputs(module(x))
    return call
