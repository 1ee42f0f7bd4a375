"""Toy models of superposition (Elhage et al. 2022): the model and its batched trainer, and the analyses
built on them: the antipodal pair, feature geometry and the 2-in-1 phase diagram.

    from course_utils.toy_models import ToyModel, ToyModelConfig, TrainConfig, train, train_with_restarts
"""

from course_utils.toy_models.model import (
    ToyModel,
    ToyModelConfig,
    ToyParameters,
    importance_weighted_mse,
    linear_optimum_loss,
)
from course_utils.toy_models.training import (
    BatchFn,
    TrainConfig,
    TrainLog,
    train,
    train_with_restarts,
)

__all__ = [
    "BatchFn",
    "ToyModel",
    "ToyModelConfig",
    "ToyParameters",
    "TrainConfig",
    "TrainLog",
    "importance_weighted_mse",
    "linear_optimum_loss",
    "train",
    "train_with_restarts",
]
