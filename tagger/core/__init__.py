"""The core of the one data path, imported by every layer above: errors, types, the config, label
schemes, tasks, vocabularies, tokenization, batches, masking and how a model runs (runtime)."""
