"""Training: the loop (``train``), the optimisation step it shares with pretraining, checkpoints,
distributed helpers, what a model takes over (pretrained vectors, ``init_from``), seeds and pretraining."""

from tagger.training.loop import TrainingState, TrainResult, train
from tagger.training.monitor import TrainingMonitor

__all__ = ["TrainResult", "TrainingMonitor", "TrainingState", "train"]
