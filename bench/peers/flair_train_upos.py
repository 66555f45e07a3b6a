"""Train a flair UPOS tagger from scratch on UD English-EWT, sized like models/ud-en-ewt-upos.

    ../bench-extra/flair-venv/bin/python bench/peers/flair_train_upos.py \
        --output ../bench-extra/flair-upos --epochs 3

Model: OneHotEmbeddings (trainable 100-d word table over corpus words seen >= 2 times, case kept)
+ CharacterEmbeddings (flair's char BiLSTM, char dim 50, 50 hidden per direction -> 100 features,
char dictionary built from the training text: the default one is a download) -> 2-layer BiLSTM,
hidden 256 per direction, softmax (use_crf=False), no reprojection layer, dropout 0.33, word
dropout 0.05, no locked dropout. Trainer: Adam, lr 2e-3, mini-batches of 32 sentences, flair's
anneal-on-plateau schedule, dev evaluated after each epoch, best epoch kept.

Writes training-speed.json beside the model: real (non-padding) training tokens per second of
each epoch, timed from the epoch's first batch to its last (dev evaluation excluded), and the
test accuracy of the kept model.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import flair
import torch
from flair.data import Dictionary
from flair.datasets import UniversalDependenciesCorpus
from flair.embeddings import CharacterEmbeddings, OneHotEmbeddings, StackedEmbeddings
from flair.models import SequenceTagger
from flair.trainers import ModelTrainer
from flair.trainers.plugins import TrainerPlugin

EWT = os.path.join(os.environ.get("BIRNN_TAGGER_DATA", "../shared/corpora"), "ud-en-ewt")


class EpochTimer(TrainerPlugin):
    """Tokens and seconds of each training epoch (first batch start to last batch end)."""

    def __init__(self, report: Path | None = None) -> None:
        super().__init__()
        self.report = report  # rewritten after every epoch, so a run stopped early still leaves its figures
        self.records: list[dict] = []
        self._start = 0.0
        self._tokens = 0
        self._batches = 0

    @TrainerPlugin.hook
    def before_training_epoch(self, epoch, **kw):
        self._start, self._tokens, self._batches = time.perf_counter(), 0, 0

    @TrainerPlugin.hook
    def after_training_batch(self, batch, **kw):
        self._tokens += sum(len(s) for s in batch)
        self._batches += 1

    @TrainerPlugin.hook
    def after_training_epoch(self, epoch, **kw):
        seconds = time.perf_counter() - self._start
        self.records.append({"epoch": epoch, "tokens": self._tokens, "batches": self._batches, "seconds": seconds,
                            "tokens_per_second": self._tokens / seconds})
        print(f"EPOCH {epoch}: {self._tokens} tokens in {seconds:.1f} s = {self._tokens / seconds:.0f} tokens/s", flush=True)
        if self.report is not None:
            tokens = sum(r["tokens"] for r in self.records)
            self.report.parent.mkdir(parents=True, exist_ok=True)
            self.report.write_text(json.dumps({"epochs": self.records, "mini_batch_size": 32, "threads": torch.get_num_threads(),
                                               "train_tokens_per_second": tokens / sum(r["seconds"] for r in self.records),
                                               "complete": False}, indent=2))


def char_dictionary(corpus) -> Dictionary:
    chars = Dictionary(add_unk=True)
    for sentence in corpus.train:
        for token in sentence:
            for char in token.text:
                chars.add_item(char)
    return chars


def build_tagger(corpus, word_dim: int = 100, char_dim: int = 50, char_hidden: int = 50, hidden: int = 256,
                 layers: int = 2, min_freq: int = 2) -> SequenceTagger:
    labels = corpus.make_label_dictionary("upos", add_unk=False)
    embeddings = StackedEmbeddings([
        OneHotEmbeddings.from_corpus(corpus, field="text", min_freq=min_freq, embedding_length=word_dim),
        CharacterEmbeddings(path_to_char_dict=char_dictionary(corpus), char_embedding_dim=char_dim, hidden_size_char=char_hidden),
    ])
    return SequenceTagger(embeddings=embeddings, tag_dictionary=labels, tag_type="upos", use_crf=False,
                          hidden_size=hidden, rnn_layers=layers, reproject_embeddings=False,
                          dropout=0.33, word_dropout=0.05, locked_dropout=0.0)


def load_corpus() -> UniversalDependenciesCorpus:
    return UniversalDependenciesCorpus(EWT, train_file="en_ewt-ud-train.conllu", dev_file="en_ewt-ud-dev.conllu",
                                       test_file="en_ewt-ud-test.conllu")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="../bench-extra/flair-upos")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flair.set_seed(13)
    corpus = load_corpus()
    print(corpus, flush=True)
    tagger = build_tagger(corpus)
    print(tagger, flush=True)
    print("parameters:", sum(p.numel() for p in tagger.parameters()), flush=True)
    timer = EpochTimer(Path(args.output, "training-speed.json"))
    trainer = ModelTrainer(tagger, corpus)
    started = time.perf_counter()
    result = trainer.train(args.output, learning_rate=2e-3, optimizer=torch.optim.Adam, mini_batch_size=32,
                           max_epochs=args.epochs, main_evaluation_metric=("micro avg", "f1-score"),
                           plugins=[timer], save_final_model=False)
    seconds = time.perf_counter() - started
    tokens = sum(e["tokens"] for e in timer.records)
    train_seconds = sum(e["seconds"] for e in timer.records)
    report = {
        "flair": flair.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "mini_batch_size": 32, "optimizer": "Adam lr 2e-3", "epochs": timer.records,
        "train_tokens_per_second": tokens / train_seconds, "seconds_total": seconds,
        "test_accuracy": result.get("test_score"),
        "parameters": sum(p.numel() for p in tagger.parameters()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "complete": True,
    }
    Path(args.output, "training-speed.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
