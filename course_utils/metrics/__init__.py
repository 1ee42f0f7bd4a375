"""Metrics: functions from tensors to numbers (geometry of features, dictionary quality)."""
from course_utils.metrics.dictionary import (  # noqa: F401,E501
    best_latents,
    cosine_matrix,
    dead_fraction,
    dense_fraction,
    density_histogram,
    feature_density,
    fvu,
    l0,
    match_latents,
    max_cosine,
    mmcs,
)
from course_utils.metrics.interference import (  # noqa: F401
    CosineSweep,
    feature_cosines,
    interference,
    max_abs_cosine,
    max_abs_cosine_sweep,
    random_cosine_scale,
    read_back,
    welch_bound,
)
