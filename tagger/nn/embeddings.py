"""Token vectors: a word table concatenated with a character-level encoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tagger.core.batching import Batch, CharStream
from tagger.core.config import EmbeddingsConfig
from tagger.core.errors import ConfigError
from tagger.nn.dropout import sequence_dropout
from tagger.nn.word_table import PartlyTrainedTable


class CharLSTM(nn.Module):
    """Bidirectional LSTM over a word's characters; the two final states make its vector.

    Packed, unlike the word encoder: word lengths vary so much that padding to the
    longest word in a batch would cost more than packing saves.
    """

    def __init__(self, num_chars: int, char_dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.lstm = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
        self.output_dim = 2 * hidden

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """[types, chars] -> [types, 2 * hidden]"""
        lengths = (char_ids != 0).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(char_ids), lengths, batch_first=True, enforce_sorted=False)
        _, (final, _) = self.lstm(packed)  # final: [2, types, hidden]
        return torch.cat([final[0], final[1]], dim=-1)


class SentenceCharLSTM(nn.Module):
    """A forward and a backward LSTM over a sentence's characters, words joined by spaces
    (LM-LSTM-CRF, Liu et al. 2018; Flair's contextual string embeddings read the same way).

    A word's vector is the forward state at the space after it and the backward state at the
    space before it, so each direction has read the word and all of the sentence on its side.
    The states of every character also feed the character LM (:class:`tagger.nn.char_lm.CharLMHead`).
    """

    def __init__(self, num_chars: int, char_dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.lstm = nn.LSTM(char_dim, hidden, batch_first=True, bidirectional=True)
        self.hidden = hidden
        self.output_dim = 2 * hidden

    def states(self, stream: CharStream) -> torch.Tensor:
        """[batch, chars, 2 * hidden]: forward then backward state at every character (0 past a row's end)."""
        packed = pack_padded_sequence(self.embed(stream.ids), stream.lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        return pad_packed_sequence(states, batch_first=True, total_length=stream.ids.shape[1])[0]

    def word_vectors(self, states: torch.Tensor, boundaries: torch.Tensor) -> torch.Tensor:
        """[batch, chars, 2 * hidden] states, [batch, seq + 1] boundaries -> [batch, seq, 2 * hidden]"""
        def at(positions: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
            return half.gather(1, positions[..., None].expand(-1, -1, self.hidden))

        return torch.cat([at(boundaries[:, 1:], states[..., : self.hidden]), at(boundaries[:, :-1], states[..., self.hidden :])], dim=-1)


WIDTHS = (6, 10, 16)  # CharCNN's group widths (in characters) below the widest word


class CharCNN(nn.Module):
    """Convolution over characters with max pooling over the word."""

    def __init__(self, num_chars: int, char_dim: int, filters: int, kernel: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, filters, kernel, padding=kernel // 2)
        self.output_dim = filters

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """[types, chars] -> [types, filters]

        Words are convolved in groups of similar length, each group only as wide as its longest
        word: most words are short, and one long word would otherwise widen every row. The result
        is the same, since the convolution pads with zeros as the padding character embeds to.
        """
        width = char_ids.shape[1]
        if width <= WIDTHS[0]:
            return self._convolve(char_ids)
        lengths = (char_ids != 0).sum(1)
        vectors = torch.empty(char_ids.shape[0], self.output_dim, device=char_ids.device)
        low = -1
        for high in (*(w for w in WIDTHS if w < width), width):
            rows = ((lengths > low) & (lengths <= high)).nonzero().squeeze(1)
            if rows.numel():
                vectors = vectors.index_put((rows,), self._convolve(char_ids[rows, :high]))
            low = high
        return vectors

    def _convolve(self, char_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(self.embed(char_ids).transpose(1, 2)).transpose(1, 2)  # [types, chars, filters]
        hidden = hidden.masked_fill((char_ids == 0)[..., None], float("-inf"))
        return torch.relu(hidden.max(dim=1).values)


class TokenEmbeddings(nn.Module):
    """Batch -> [batch, seq, word_dim + char features (+ extra features)], with word dropout and dropout.

    Extra features (``embeddings.features``: name -> size; ``feature_sizes``: name -> number of
    values) each get a table of their own, with the same dropout to ``<unk>`` as words.
    """

    def __init__(self, config: EmbeddingsConfig, num_words: int, num_chars: int, unk_id: int,
                 feature_sizes: dict[str, int] | None = None, locked_dropout: bool = False) -> None:
        super().__init__()
        if config.word_dim <= 0:  # 0 is resolved from the vectors when training starts
            raise ConfigError("embeddings.word_dim", f"must be positive when the network is built, got {config.word_dim}")
        self.words: nn.Embedding | PartlyTrainedTable = nn.Embedding(num_words, config.word_dim, padding_idx=0)
        nn.init.normal_(self.words.weight, std=0.1)
        with torch.no_grad():
            self.words.weight[0].zero_()
        self.chars: CharLSTM | CharCNN | SentenceCharLSTM | None
        if config.char_encoder == "lstm":
            self.chars = CharLSTM(num_chars, config.char_dim, config.char_hidden)
        elif config.char_encoder == "sentence_lstm":
            self.chars = SentenceCharLSTM(num_chars, config.char_dim, config.char_hidden)
        elif config.char_encoder == "cnn":
            self.chars = CharCNN(num_chars, config.char_dim, config.char_hidden, config.char_kernel)
        else:
            self.chars = None
        self.features = nn.ModuleDict({name: nn.Embedding(count, config.features[name], padding_idx=0)
                                       for name, count in (feature_sizes or {}).items()})
        self.word_dropout = config.word_dropout
        self.unk_id = unk_id
        self.dropout = sequence_dropout(config.dropout, locked_dropout)
        self.output_dim = config.word_dim + (self.chars.output_dim if self.chars else 0) + sum(t.embedding_dim for t in self.features.values())

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.embed(batch)[0]

    def embed(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The token vectors, and the sentence-level character encoder's states at every
        character (for the character LM; None with the other encoders)."""
        parts = [self.words(self._drop(batch.word_ids, batch.mask))]
        parts.extend(table(self._drop(batch.features[name], batch.mask)) for name, table in self.features.items())
        char_states = None
        if isinstance(self.chars, SentenceCharLSTM):
            if batch.stream is None:
                raise ValueError("the sentence-level character encoder needs batches with a character stream")
            char_states = self.chars.states(batch.stream)
            parts.append(self.chars.word_vectors(char_states, batch.stream.boundaries))
        elif self.chars is not None:
            per_form = self.chars(batch.char_ids)  # [types, char features]
            parts.append(per_form[batch.char_index])  # [batch, seq, char features]
        return self.dropout(torch.cat(parts, dim=-1)), char_states

    def train_rows(self, trainable: torch.Tensor) -> int:
        """Train only the word rows where ``trainable`` (a [words] bool mask) is True from now on, the others
        kept as they are (see :mod:`tagger.nn.word_table`); the number of rows that train."""
        if not bool(trainable[1:].any()):  # every row fixed (frozen vectors for every word): the table does not train
            self.words.weight.requires_grad_(False)
            return 0
        self.words = PartlyTrainedTable(self.words.weight, trainable)
        return int(self.words.trained.shape[0])

    def _drop(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """In training, each real token's id becomes ``<unk>`` with probability ``word_dropout``."""
        if not (self.training and self.word_dropout > 0):
            return ids
        drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & mask
        return ids.masked_fill(drop, self.unk_id)
