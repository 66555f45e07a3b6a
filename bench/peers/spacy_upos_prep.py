"""Turn `spacy convert` output (tag_ = XPOS, pos_ = UPOS) into DocBins whose tag_ is the UPOS,
so spaCy's `tagger` component learns UPOS.

    python -m spacy convert ../shared/corpora/ud-en-ewt/en_ewt-ud-{train,dev,test}.conllu \
        ../bench-extra/spacy-data --converter conllu -n 10
    python bench/peers/spacy_upos_prep.py ../bench-extra/spacy-data
"""
import sys
from pathlib import Path

import spacy
from spacy.tokens import DocBin

DATA = Path(sys.argv[1] if len(sys.argv) > 1 else "../bench-extra/spacy-data")
nlp = spacy.blank("en")
for split in ("train", "dev", "test"):
    docs = list(DocBin().from_disk(DATA / f"en_ewt-ud-{split}.spacy").get_docs(nlp.vocab))
    out = DocBin(attrs=["ORTH", "SPACY", "TAG", "POS", "SENT_START"])
    for doc in docs:
        for token in doc:
            token.tag_ = token.pos_
        out.add(doc)
    out.to_disk(DATA / f"upos-{split}.spacy")
    print(split, len(docs), sum(len(d) for d in docs))
