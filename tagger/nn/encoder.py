"""Deep bidirectional LSTM/GRU: forward and backward states joined per token.

In training, each layer runs one forward and one backward recurrent net over the *padded*
batch. The backward net reads every sentence reversed within its own length, so padding only
ever follows the real tokens in either direction and cannot change their states. This gives
the same result as packed sequences, while letting torch use its fused padded kernels, which
train about twice as fast as packed ones on CPU.

In evaluation mode the same weights run as one stacked bidirectional ``nn.LSTM``/``nn.GRU``
call on a packed batch (``torch.func.functional_call`` lends them to a weightless template),
which skips the padding and the reversals: the same states, found faster.

The encoder owns its evaluation back ends: :meth:`BiRNNEncoder.set_precision` chooses between the
packed torch call (``fp32``) and the same stacked LSTM on ONNX Runtime with int8 weights (``int8``,
``int8-all``: ``tagger.nn.onnx_encoder``). Both read the weights through one mapping,
:meth:`BiRNNEncoder.stacked_weights`. Training mode always runs the layers in torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tagger.core.config import EncoderConfig
from tagger.core.types import QUANTIZED
from tagger.nn.dropout import sequence_dropout


def reverse_within_lengths(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first ``length`` steps; padding stays where it is. [batch, seq, ...]"""
    steps = torch.arange(inputs.shape[1], device=inputs.device)[None, :]  # [1, seq]
    lengths = lengths.to(inputs.device)[:, None]  # [batch, 1]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # [batch, seq]
    return inputs.gather(1, index[..., None].expand_as(inputs))


class BiRNNLayer(nn.Module):
    def __init__(self, cell: type[nn.LSTM] | type[nn.GRU], input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.forward_rnn = cell(input_size, hidden_size, batch_first=True)
        self.backward_rnn = cell(input_size, hidden_size, batch_first=True)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[batch, seq, input] -> [batch, seq, 2 * hidden]"""
        forward_states, _ = self.forward_rnn(inputs)
        backward_states, _ = self.backward_rnn(reverse_within_lengths(inputs, lengths))
        return torch.cat([forward_states, reverse_within_lengths(backward_states, lengths)], dim=-1)


class BiRNNEncoder(nn.Module):
    def __init__(self, config: EncoderConfig, input_size: int) -> None:
        super().__init__()
        cell = nn.LSTM if config.kind == "lstm" else nn.GRU
        sizes = [input_size] + [2 * config.hidden_size] * (config.num_layers - 1)
        self.layers = nn.ModuleList(BiRNNLayer(cell, size, config.hidden_size) for size in sizes)
        self.dropout = sequence_dropout(config.dropout, config.locked_dropout)
        self.input_size = input_size
        self.output_dim = 2 * config.hidden_size
        # Not a submodule: it holds no weights of its own (meta tensors), only the call shape.
        self.__dict__["stacked"] = cell(input_size, config.hidden_size, num_layers=config.num_layers, bidirectional=True,
                                        batch_first=True, device="meta")
        self.runner = None  # the ONNX back end when precision is int8 (not a Module: no weights, not in the state dict)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[batch, seq, input] + lengths [batch] -> [batch, seq, 2 * hidden]; padding positions zeroed."""
        if inputs.shape[-1] != self.input_size:
            raise ValueError(f"encoder expects inputs of size {self.input_size}, got {inputs.shape[-1]}")
        if not self.training:
            return self._packed(inputs, lengths) if self.runner is None else self.runner(inputs, lengths)
        states = inputs
        for depth, layer in enumerate(self.layers):
            if depth:
                states = self.dropout(states)
            states = layer(states, lengths)
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < lengths.to(states.device)[:, None]
        return self.dropout(states * mask[..., None])

    @property
    def precision(self) -> str:
        """How evaluation mode runs: ``fp32`` (torch, packed) or the ONNX back end's precision."""
        return "fp32" if self.runner is None else self.runner.precision

    def set_precision(self, precision: str, threads: int | None = None) -> None:
        """Run evaluation mode at ``precision`` from now on: ``fp32``, ``int8`` or ``int8-all`` (LSTM only;
        see ``tagger.nn.onnx_encoder``), as RunOptions checked it, the int8 ones on ``threads`` ONNX Runtime
        threads (None: torch's number now). Raises TaggerError for a GRU with an int8 precision."""
        from tagger.nn.onnx_encoder import build_runner

        self.runner = build_runner(self, precision, threads) if precision in QUANTIZED else None

    def stacked_weights(self) -> dict[str, nn.Parameter]:
        """This encoder's weights under the names of one stacked bidirectional ``nn.LSTM``/``nn.GRU``:
        layer ``depth``'s forward net -> ``weight_ih_l{depth}``..., its backward net -> ``..._reverse``."""
        weights = {}
        for depth, layer in enumerate(self.layers):
            for suffix, rnn in (("", layer.forward_rnn), ("_reverse", layer.backward_rnn)):
                for name, parameter in rnn.named_parameters():
                    weights[f"{name[:-1]}{depth}{suffix}"] = parameter  # weight_ih_l0 -> weight_ih_l{depth}
        return weights

    def _packed(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """All layers at once on the packed batch, with this encoder's weights (evaluation mode: no dropout)."""
        packed = pack_padded_sequence(inputs, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        states, _ = functional_call(self.stacked, self.stacked_weights(), (packed,))
        return pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])[0]
