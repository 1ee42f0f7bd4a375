"""ipywidgets explorers built on `course_utils.plots`; each holds its state in one explicit object."""
from course_utils.widgets.antipodal_explorer import (  # noqa: F401
    DensityExplorer,
    DensityExplorerState,
    density_explorer,
)
from course_utils.widgets.feature_mixer import FeatureMixer, FeatureMixerState, feature_mixer  # noqa: F401
