"""spaCy: the pipeline component ``birnn_tagger``, a learned segmenter as a spaCy tokenizer, and the pipeline export."""
