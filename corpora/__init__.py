"""The corpus catalogue's data: an entry per corpus (``*.toml``, ``*.tsv``), the training configs of
the UD and UNER families (``configs/``), the vectors' entries (``vectors/``) and the sample corpus
(``sample/``). Installed as ``tagger.corpora``; the code that reads it is :mod:`tagger.data.catalogue`."""
