"""SequenceTagger: embeddings -> encoder -> one head per task."""

from __future__ import annotations

import torch
from torch import nn

from tagger.core.batching import CHAR_LM, IGNORE, MASKED_LM, Batch
from tagger.core.config import TaggerConfig
from tagger.core.schemes import allowed_transition
from tagger.core.vocab import Vocab
from tagger.nn.char_lm import CharLMHead
from tagger.nn.crf import CrfHead
from tagger.nn.embeddings import SentenceCharLSTM, TokenEmbeddings
from tagger.nn.encoder import BiRNNEncoder
from tagger.nn.heads import HeadOutput, SoftmaxHead
from tagger.nn.masked_lm import MaskedWordHead


class SequenceTagger(nn.Module):
    def __init__(self, embeddings: TokenEmbeddings, encoder: BiRNNEncoder, heads: dict[str, nn.Module],
                 masked_lm: MaskedWordHead | None = None, char_lm: CharLMHead | None = None) -> None:
        super().__init__()
        if encoder.input_size != embeddings.output_dim:
            raise ValueError(f"embeddings give {embeddings.output_dim} features, encoder takes {encoder.input_size}")
        self.embeddings = embeddings
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)
        self.masked_lm = masked_lm
        self.char_lm = char_lm

    @property
    def precision(self) -> str:
        """How evaluation mode runs the encoder (see :meth:`BiRNNEncoder.set_precision`)."""
        return self.encoder.precision

    def set_precision(self, precision: str, threads: int | None = None) -> None:
        self.encoder.set_precision(precision, threads)

    def encode(self, batch: Batch) -> torch.Tensor:
        """Joined forward and backward states per token: [batch, seq, 2 * hidden]."""
        return self.encoder(self.embeddings(batch), batch.lengths)

    def forward(self, batch: Batch, decode: bool = False) -> dict[str, HeadOutput]:
        """Run every head; with targets in the batch each output carries its loss.

        With masked-token targets in the batch (training), the output ``MASKED_LM`` carries
        the masked-token loss. With a character LM head, in training, ``CHAR_LM`` carries its loss.
        """
        vectors, char_states = self.embeddings.embed(batch)
        states = self.encoder(vectors, batch.lengths)
        outputs = {
            task: head(states, batch.mask, batch.targets.get(task), decode=decode)
            for task, head in self.heads.items()
        }
        targets = batch.targets.get(MASKED_LM)
        if self.masked_lm is not None and targets is not None:
            chosen = targets != IGNORE
            if bool(chosen.any()):
                picked = states[chosen]
                outputs[MASKED_LM] = HeadOutput(None, self.masked_lm.loss(picked, targets[chosen]))
        if self.char_lm is not None and self.training and char_states is not None and batch.stream is not None:
            outputs[CHAR_LM] = HeadOutput(None, self.char_lm.loss(char_states, batch.stream))
        return outputs


def build_model(config: TaggerConfig, vocab: Vocab) -> SequenceTagger:
    """Build the network for a config and vocabulary (weights freshly initialised)."""
    missing = set(config.embeddings.features) - set(vocab.features)
    if missing:
        raise ValueError(f"the vocabulary has no values for the features {sorted(missing)}")
    embeddings = TokenEmbeddings(config.embeddings, len(vocab.words), len(vocab.chars), vocab.words.unk_id or 1,
                                 {name: len(vocab.features[name]) for name in config.embeddings.features},
                                 locked_dropout=config.encoder.locked_dropout)
    encoder = BiRNNEncoder(config.encoder, embeddings.output_dim)
    heads: dict[str, nn.Module] = {}
    for task, task_config in config.tasks.items():
        labels = vocab.labels[task].items
        if task_config.decoder == "crf":
            heads[task] = CrfHead(encoder.output_dim, len(labels), **transition_constraints(labels, task_config.scheme))
        else:
            heads[task] = SoftmaxHead(encoder.output_dim, len(labels))
    masked_lm = None
    if config.masked_lm.weight > 0:
        masked_lm = MaskedWordHead(encoder.output_dim, len(vocab.words), config.masked_lm.cutoffs)
    char_lm = None
    if config.char_lm.weight > 0 and isinstance(embeddings.chars, SentenceCharLSTM):  # validate() ties the two
        char_lm = CharLMHead(embeddings.chars.hidden, len(vocab.chars))
    return SequenceTagger(embeddings, encoder, heads, masked_lm, char_lm)


def transition_constraints(labels: list[str], scheme: str) -> dict[str, torch.Tensor]:
    """Boolean masks of the label moves the scheme allows (between labels, from start, to end)."""
    allowed = torch.tensor([[allowed_transition(a, b, scheme) for b in labels] for a in labels], dtype=torch.bool)  # type: ignore[arg-type]
    start = torch.tensor([allowed_transition("", b, scheme) for b in labels], dtype=torch.bool)  # type: ignore[arg-type]
    end = torch.tensor([allowed_transition(a, "", scheme) for a in labels], dtype=torch.bool)  # type: ignore[arg-type]
    return {"allowed": allowed, "allowed_start": start, "allowed_end": end}
