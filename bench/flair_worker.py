"""Helper of bench/compare.py: a flair SequenceTagger timed in its own process (flair's own venv).

    ../bench-extra/flair-venv/bin/python bench/flair_worker.py --model ../bench-extra/flair-upos \
        --tokens tokens.json --gold ../shared/corpora/ud-en-ewt/en_ewt-ud-test.conllu --threads 2

Standard library and flair only (it runs in flair's venv, which does not have this project).
It loads the model, scores it on the gold test file (gold tokens, UPOS accuracy), then answers
one JSON line per command read from stdin:

- ``tag``: one timed pass over the token lists of ``--tokens`` (a JSON list of token lists):
  flair ``Sentence`` objects built from the tokens, then ``SequenceTagger.predict`` with
  ``mini_batch_size`` ``--batch-size``; answers ``{"seconds": ...}``.
- ``train N``: training tokens/s of this model over N mini-batches of 32 random EWT training
  sentences (after 3 untimed warm-up batches): forward_loss, backward, gradient clipping at 5,
  Adam step, the body of flair's ModelTrainer loop; answers ``{"tokens": ..., "seconds": ...}``.
- ``quit``.

Every answer line starts with ``@@ `` (flair logs to stdout too).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPLY = sys.stdout
sys.stdout = sys.stderr  # flair's logging goes to sys.stdout: keep it off the reply channel


def reply(obj: dict) -> None:
    REPLY.write("@@ " + json.dumps(obj) + "\n")
    REPLY.flush()


def read_conllu(path: str) -> list[tuple[list[str], list[str]]]:
    """(words, UPOS) per sentence; multiword-token ranges and empty nodes skipped."""
    sentences, words, tags = [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if "-" in fields[0] or "." in fields[0]:
            continue
        words.append(fields[1])
        tags.append(fields[3])
    if words:
        sentences.append((words, tags))
    return sentences


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a .pt file, or a folder with best-model.pt or final-model.pt")
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--gold", help="CoNLL-U test file for the UPOS accuracy")
    parser.add_argument("--train", help="CoNLL-U training file for the `train N` command")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import flair
    from flair.data import Sentence
    from flair.models import SequenceTagger

    model_path = Path(args.model)
    if model_path.is_dir():
        model_path = next(p for p in (model_path / "best-model.pt", model_path / "final-model.pt") if p.exists())
    tagger = SequenceTagger.load(str(model_path))
    restore_stacked_names(tagger)
    tagger.eval()
    token_lists = json.loads(Path(args.tokens).read_text(encoding="utf-8"))

    def tag_pass() -> float:
        start = time.perf_counter()
        sentences = [Sentence(tokens) for tokens in token_lists]
        tagger.predict(sentences, mini_batch_size=args.batch_size, label_name="predicted", verbose=False)
        return time.perf_counter() - start

    info: dict = {"flair": flair.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "model": str(model_path), "parameters": sum(p.numel() for p in tagger.parameters()),
                  "tag_type": tagger.tag_type, "words": sum(map(len, token_lists))}
    if args.gold:
        gold = read_conllu(args.gold)
        sentences = [Sentence(words) for words, _ in gold]
        tagger.predict(sentences, mini_batch_size=args.batch_size, label_name="predicted", verbose=False)
        right = total = 0
        for sentence, (_, tags) in zip(sentences, gold):
            for token, tag in zip(sentence, tags):
                right += token.get_label("predicted").value == tag
                total += 1
        info.update(test_accuracy=right / total, test_tokens=total)
    reply(info)

    training = None
    for line in sys.stdin:
        command = line.split()
        if not command:
            continue
        if command[0] == "quit":
            break
        if command[0] == "tag":
            reply({"seconds": tag_pass()})
        elif command[0] == "train":
            if training is None:
                if not args.train:
                    reply({"error": "no --train file"})
                    continue
                training = [words_tags for words_tags in read_conllu(args.train)]
            reply(train_speed(tagger, training, int(command[1]), torch, Sentence))
        else:
            reply({"error": f"unknown command {command[0]!r}"})


def restore_stacked_names(tagger) -> None:  # noqa: ANN001 - a flair SequenceTagger
    """Give a loaded StackedEmbeddings' members the names they had in training.

    In training, StackedEmbeddings renames its members ``"0-one-hot-text"``, ``"1-Char"``, ...; a
    token's vectors are joined in sorted name order. OneHotEmbeddings (flair 0.15.1) does not save
    its name, so after loading it is ``"one-hot-text"`` again, sorts after ``"1-Char"``, and the model
    reads its input features swapped (UPOS accuracy 15% instead of 94% on EWT test).
    """
    from flair.embeddings import StackedEmbeddings

    stack = tagger.embeddings
    if not isinstance(stack, StackedEmbeddings):
        return
    for index, embedding in enumerate(stack.embeddings):
        if not embedding.name.startswith(f"{index}-"):
            embedding.name = f"{index}-{embedding.name}"
    stack._StackedEmbeddings__names = [name for embedding in stack.embeddings for name in embedding.get_names()]


def train_speed(tagger, training, batches: int, torch, Sentence) -> dict:  # noqa: ANN001 - flair objects
    """Real tokens per second of flair's training step on random mini-batches of 32."""
    rng = random.Random(13)
    state = {k: v.clone() for k, v in tagger.state_dict().items()}  # leave the model as loaded
    optimizer = torch.optim.Adam(tagger.parameters(), lr=2e-3)
    tagger.train()
    tokens, seconds = 0, 0.0
    for step in range(batches + 3):
        picked = rng.sample(training, 32)
        batch = []
        for words, tags in picked:
            sentence = Sentence(words)
            for token, tag in zip(sentence, tags):
                token.add_label(tagger.tag_type, tag)
            batch.append(sentence)
        start = time.perf_counter()
        tagger.zero_grad()
        optimizer.zero_grad()
        loss, _ = tagger.forward_loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tagger.parameters(), 5.0)
        optimizer.step()
        for sentence in batch:
            sentence.clear_embeddings()
        if step >= 3:
            seconds += time.perf_counter() - start
            tokens += sum(len(s) for s in batch)
    tagger.load_state_dict(state)
    tagger.eval()
    return {"tokens": tokens, "seconds": seconds, "batches": batches, "tokens_per_second": tokens / seconds}


if __name__ == "__main__":
    main()
