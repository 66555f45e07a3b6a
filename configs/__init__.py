"""The shipped training configs, installed as ``tagger.configs``: ``tagger train quickstart`` finds
``quickstart.toml`` here from any folder (:func:`tagger.data.configs.load_config`)."""
