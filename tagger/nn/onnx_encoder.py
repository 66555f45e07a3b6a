"""The LSTM encoder on ONNX Runtime, with int8 weights: faster CPU inference (``--precision int8``).

``BiRNNEncoder`` in evaluation mode runs all its layers as one stacked bidirectional ``nn.LSTM``
on a packed batch. Here that same stacked LSTM is exported to ONNX (padded input
``[batch, seq, input]`` plus ``lengths``, fed to every LSTM node as ``sequence_lens`` so that
padding never reaches a real token's states), its weights quantized to int8 with
``onnxruntime.quantization.quantize_dynamic``, and run by an ``onnxruntime.InferenceSession``.

Precisions (measured by ``bench/precision.py`` on a 2-core AVX2 CPU, see BENCHMARKS.md):

- ``int8``: int8 weights on the second LSTM layer and above, the first kept in fp32: x1.5-1.6
  words/s end to end, accuracy within 0.07 points (UPOS accuracy, NER F1). A one-layer encoder
  has nothing to quantize then: it runs in ONNX Runtime in fp32 (about x1.2, same output).
- ``int8-all``: int8 weights on every layer: x1.7-2.0, but NER lost 0.25-0.35 F1.

Dynamic quantization scales a layer's int8 activations by the largest value in the whole batch, so
with int8 a sentence's states (rarely its labels) can change slightly with the other sentences in
its batch; padding has no part in it (it is zeroed on the way in and out).

The export happens at load time into a temporary folder (about a second), removed once the
session has read it: nothing is written into the model directory. Needs the ``onnx`` extra
(``pip install 'birnn-tagger[onnx]'``); CPU only, LSTM encoders only.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tagger.core.errors import TaggerError
from tagger.core.runtime import require_onnxruntime
from tagger.core.types import QUANTIZED


def stacked_lstm(encoder: Any) -> nn.LSTM:
    """A real stacked bidirectional ``nn.LSTM`` holding copies of a BiRNNEncoder's weights (under the
    names of its ``stacked_weights``, the mapping its packed torch back end uses too)."""
    if not isinstance(encoder.stacked, nn.LSTM):
        raise TaggerError("int8 precision runs the encoder in ONNX Runtime: int8 needs an LSTM encoder (this model's is a GRU)")
    state = {name: parameter.detach().to("cpu", torch.float32).clone() for name, parameter in encoder.stacked_weights().items()}
    lstm = nn.LSTM(encoder.input_size, encoder.output_dim // 2, num_layers=len(encoder.layers), bidirectional=True, batch_first=True)
    lstm.load_state_dict(state)
    return lstm.eval()


class _Padded(nn.Module):
    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.lstm(inputs)[0]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the TorchScript exporter's deprecation warnings and the quantizer's logged advice."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def export_encoder(encoder: Any, path: str | Path) -> Path:
    """Write the encoder's stacked LSTM as fp32 ONNX (see :func:`export_lstm`)."""
    return export_lstm(stacked_lstm(encoder), path)


def export_lstm(lstm: nn.LSTM, path: str | Path) -> Path:
    """Write a stacked bidirectional ``nn.LSTM`` as fp32 ONNX: inputs ``inputs`` [batch, seq, input]
    (float32) and ``lengths`` [batch] (int32, >= 1), output ``states`` [batch, seq, 2 * hidden]."""
    require_onnxruntime()
    import onnx

    path = Path(path)
    example = torch.randn(2, 5, lstm.input_size)
    # The TorchScript exporter keeps the weights as initializers (the dynamo one builds them from
    # Slice/Concat at run time, which onnxruntime's quantizer cannot see through).
    with _quiet(), torch.no_grad():
        torch.onnx.export(_Padded(lstm), (example,), str(path), dynamo=False, opset_version=17, input_names=["inputs"],
                          output_names=["states"], dynamic_axes={"inputs": {0: "batch", 1: "seq"}, "states": {0: "batch", 1: "seq"}})
    model = onnx.load(str(path))
    nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    if len(nodes) != lstm.num_layers:
        raise RuntimeError(f"expected one ONNX LSTM node per layer ({lstm.num_layers}), the exporter wrote {len(nodes)}")
    if any(len(n.input) > 4 and n.input[4] for n in nodes):
        raise RuntimeError("the ONNX exporter now emits sequence_lens itself: check it before patching")
    for node in nodes:  # the exporter leaves sequence_lens empty: give every layer the real lengths
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = "lengths"
    model.graph.input.append(onnx.helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32, ["batch"]))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def quantize_encoder(source: str | Path, target: str | Path, precision: str = "int8") -> Path:
    """int8 weights (``quantize_dynamic``) on the LSTM nodes of an exported encoder: all but the
    first layer's for ``int8``, every layer's for ``int8-all``. Returns ``target`` or, when there is
    nothing to quantize (``int8`` on a one-layer encoder), ``source``."""
    require_onnxruntime()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    lstm_nodes = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "LSTM"]
    excluded = lstm_nodes[:1] if precision == "int8" else []
    if len(excluded) == len(lstm_nodes):
        return Path(source)
    with _quiet():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    return Path(target)


class OnnxEncoderRunner:
    """``(inputs [batch, seq, input], lengths [batch]) -> states [batch, seq, 2 * hidden]`` on ONNX
    Runtime, padding positions zeroed: the contract of ``BiRNNEncoder.forward`` in evaluation mode.
    Not an ``nn.Module`` (it holds no torch weights), so that an encoder does not register it."""

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "fp32") -> None:
        require_onnxruntime()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # No busy-waiting threads between calls: they would compete with torch's for the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.precision = precision

    def __call__(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.cpu()
        mask = (torch.arange(inputs.shape[1])[None, :] < lengths[:, None])[..., None]
        # Zero the padding going in too: int8 activations are quantized with one scale per tensor,
        # found from its values at run time, and padding must have no say in it.
        feed = {"inputs": (inputs.detach().to("cpu", torch.float32) * mask).contiguous().numpy(),
                "lengths": lengths.clamp(min=1).to(torch.int32).numpy()}
        return (torch.from_numpy(self.session.run(None, feed)[0]) * mask).to(inputs.device)

    def __repr__(self) -> str:
        return f"OnnxEncoderRunner(precision={self.precision!r})"


def build_runner(encoder: Any, precision: str = "int8", threads: int | None = None) -> OnnxEncoderRunner:
    """Export ``encoder`` (a BiRNNEncoder with an LSTM) to a temporary folder, quantize it as
    ``precision`` says (``fp32``: not at all) and open it in ONNX Runtime with ``threads`` intra-op
    threads (default ``torch.get_num_threads()``). The folder is gone when this returns. ``precision`` is
    one RunOptions has checked."""
    require_onnxruntime()
    stacked_lstm(encoder)  # the GRU check, before any work
    with tempfile.TemporaryDirectory(prefix="birnn-tagger-onnx-") as scratch:
        path = export_encoder(encoder, Path(scratch) / "encoder.onnx")
        if precision in QUANTIZED:
            path = quantize_encoder(path, Path(scratch) / f"encoder-{precision}.onnx", precision)
        return OnnxEncoderRunner(path, threads, precision)
