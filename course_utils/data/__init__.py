"""Data for the course: sparse feature batches with known ground truth, and the text corpus."""
from course_utils.data.correlated import feature_batch, feature_batches, pair_cosines  # noqa: F401
from course_utils.data.directions import (  # noqa: F401
    EXAMPLE_FEATURE_NAMES,
    activation_vector,
    one_hot_coefficients,
    random_directions,
    sparse_coefficients,
)
from course_utils.data.synthetic import (  # noqa: F401,E501
    SyntheticConfig,
    feature_directions,
    feature_probabilities,
    sample_active,
    sample_coefficients,
    synthetic_batch,
    synthetic_batches,
)
