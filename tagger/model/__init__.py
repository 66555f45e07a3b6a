"""The model directory (serialize), the predictor every front end uses (Tagger) and the learned segmenter."""
