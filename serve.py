"""HTTP service for a trained tagger (placeholder).

The FastAPI service with micro-batching is not part of this release yet. Until it is,
label files with ``tagger annotate MODEL INPUT -o OUTPUT`` or call
``tagger.Tagger.load(MODEL).predict(...)`` from Python.
"""

import sys

if __name__ == "__main__":
    sys.exit("serve.py: the HTTP service is not available in this release; use `tagger annotate` or the Python API.")
