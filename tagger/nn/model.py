"""SequenceTagger: embeddings -> encoder -> one head per task."""

from __future__ import annotations

import torch
from torch import nn

from tagger.batching import Batch
from tagger.config import TaggerConfig
from tagger.nn.crf import CrfHead
from tagger.nn.embeddings import TokenEmbeddings
from tagger.nn.encoder import BiRNNEncoder
from tagger.nn.heads import HeadOutput, SoftmaxHead
from tagger.schemes import allowed_transition
from tagger.vocab import Vocab


class SequenceTagger(nn.Module):
    def __init__(self, embeddings: TokenEmbeddings, encoder: BiRNNEncoder, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        if encoder.input_size != embeddings.output_dim:
            raise ValueError(f"embeddings give {embeddings.output_dim} features, encoder takes {encoder.input_size}")
        self.embeddings = embeddings
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)

    def forward(self, batch: Batch, decode: bool = False) -> dict[str, HeadOutput]:
        """Run every head; with targets in the batch each output carries its loss."""
        states = self.encoder(self.embeddings(batch), batch.lengths)  # [batch, seq, 2 * hidden]
        return {
            task: head(states, batch.mask, batch.targets.get(task), decode=decode)
            for task, head in self.heads.items()
        }


def build_model(config: TaggerConfig, vocab: Vocab) -> SequenceTagger:
    """Build the network for a config and vocabulary (weights freshly initialised)."""
    embeddings = TokenEmbeddings(config.embeddings, len(vocab.words), len(vocab.chars), vocab.words.unk_id or 1)
    encoder = BiRNNEncoder(config.encoder, embeddings.output_dim)
    heads: dict[str, nn.Module] = {}
    for task, task_config in config.tasks.items():
        labels = vocab.labels[task].items
        if task_config.decoder == "crf":
            heads[task] = CrfHead(encoder.output_dim, len(labels), **transition_constraints(labels, task_config.scheme))
        else:
            heads[task] = SoftmaxHead(encoder.output_dim, len(labels))
    return SequenceTagger(embeddings, encoder, heads)


def transition_constraints(labels: list[str], scheme: str) -> dict[str, torch.Tensor]:
    """Boolean masks of the label moves the scheme allows (between labels, from start, to end)."""
    allowed = torch.tensor([[allowed_transition(a, b, scheme) for b in labels] for a in labels], dtype=torch.bool)  # type: ignore[arg-type]
    start = torch.tensor([allowed_transition("", b, scheme) for b in labels], dtype=torch.bool)  # type: ignore[arg-type]
    end = torch.tensor([allowed_transition(a, "", scheme) for a in labels], dtype=torch.bool)  # type: ignore[arg-type]
    return {"allowed": allowed, "allowed_start": start, "allowed_end": end}
