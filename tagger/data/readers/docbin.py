"""spaCy's binary corpus format (``.spacy`` DocBin files): tasks read from Doc annotations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from tagger.core.errors import DataFormatError
from tagger.core.types import Sentence

# Doc attribute -> (spaCy's annotation name for Doc.has_annotation, label of a token).
ATTRIBUTES: dict[str, tuple[str, Callable]] = {
    "pos": ("POS", lambda token: token.pos_),
    "tag": ("TAG", lambda token: token.tag_),
    "morph": ("MORPH", lambda token: str(token.morph) or "_"),
    "lemma": ("LEMMA", lambda token: token.lemma_),
    "dep": ("DEP", lambda token: token.dep_),
    "ents": ("ENT_IOB", lambda token: f"{token.ent_iob_}-{token.ent_type_}" if token.ent_iob_ in ("B", "I") else "O"),
}
# Task -> attribute when the config names no columns; a task is read where the Doc has it.
DEFAULT_LAYERS = {"upos": "pos", "xpos": "tag", "ner": "ents"}


def read_docbin(path: str | Path, columns: dict[str, str] | None = None) -> Iterator[Sentence]:
    """One Sentence per sentence of each Doc (the whole Doc when it has no sentence boundaries).

    ``columns`` maps a task to a Doc attribute: ``pos``, ``tag``, ``morph``, ``lemma``, ``dep`` or
    ``ents`` (as BIO tags). Whitespace tokens are left out, as the model never sees them.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    layers = dict(columns or DEFAULT_LAYERS)
    for task, attribute in layers.items():
        if attribute not in ATTRIBUTES:
            raise DataFormatError(path, None, f"task {task!r}: a .spacy file has no attribute {attribute!r}; choose from {', '.join(ATTRIBUTES)}")
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    try:
        docs = DocBin().from_bytes(path.read_bytes()).get_docs(Vocab())
    except Exception as error:  # DocBin raises msgpack, zlib and ValueError types on bad input
        raise DataFormatError(path, None, f"not a spaCy DocBin (.spacy) file ({type(error).__name__}: {error})") from None
    seen: set[str] = set()
    for number, doc in enumerate(docs, start=1):
        present = {task: attribute for task, attribute in layers.items() if doc.has_annotation(ATTRIBUTES[attribute][0])}
        seen.update(present)
        for span in doc.sents if doc.has_annotation("SENT_START") else [doc[:]]:
            tokens = [token for token in span if not token.text.isspace()]  # no is_space: a bare Vocab has no lexeme attributes
            if not tokens:
                continue
            tags = {task: [ATTRIBUTES[attribute][1](token) for token in tokens] for task, attribute in present.items()}
            meta = {"source": str(path), "doc": number, "text": span.text}
            yield Sentence([token.text for token in tokens], tags, meta=meta)
    unseen = [task for task in layers if task not in seen] if columns else []
    if unseen:
        raise DataFormatError(path, None, f"no Doc has the annotation for {', '.join(f'{t} ({layers[t]})' for t in unseen)}")
