"""Every plotly figure the notebooks show. Each function returns a `go.Figure` and never shows it."""

from course_utils.plots.antipodal import (  # noqa: F401
    plot_density_sweep,
    plot_expected_loss_map,
    plot_loss_landscapes,
    plot_readouts,
)
from course_utils.plots.directions import (  # noqa: F401
    plot_directions_3d,
    plot_feature_mixer,
    plot_feature_neuron_weights,
    plot_interference_vs_hidden,
    plot_max_cosine_sweep,
    plot_neuron_top_samples,
)
from course_utils.plots.feature_geometry import (  # noqa: F401,E501
    plot_basis_alignment,
    plot_dimensionality,
    plot_neuron_weights,
    plot_pair_geometry,
    plot_phase_diagram,
)
from course_utils.plots.sae import (  # noqa: F401,E501
    plot_cosine_matrix,
    plot_decoder_directions_2d,
    plot_density_histograms,
    plot_feature_recovery,
    plot_frontier,
    plot_l1_vs_l2,
    plot_training_curves,
)
from course_utils.plots.style import COURSE_TEMPLATE, styled

__all__ = ["COURSE_TEMPLATE", "styled"]
