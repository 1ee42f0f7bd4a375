"""Data for the course: sparse feature batches with known ground truth, and the text corpus."""
from course_utils.data.directions import (  # noqa: F401
    EXAMPLE_FEATURE_NAMES,
    activation_vector,
    one_hot_coefficients,
    random_directions,
    sparse_coefficients,
)
