"""spaCy: the pipeline component ``birnn_tagger``, where labels go on a Doc, and the pipeline export."""
