"""Tests of course_utils.data.hierarchical: the hierarchy's rules and rates, the clusters' geometry."""

from __future__ import annotations

import pytest
import torch

from course_utils.data.hierarchical import (
    ClusterConfig,
    HierarchyConfig,
    cluster_directions,
    clustered_batches,
    hierarchical_batch,
    hierarchical_batches,
    hierarchical_coefficients,
    hierarchy_directions,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_children_fire_only_with_their_parent_and_one_at_a_time():
    cfg = HierarchyConfig(n_parents=4, n_children=3, p_parent=0.5, p_child=0.7)
    coeffs = hierarchical_coefficients(cfg, 20_000, generator=_gen())
    parents = coeffs[:, :4] > 0
    children = coeffs[:, cfg.children()] > 0  # batch parents children
    assert not bool((children.any(-1) & ~parents).any())
    assert int(children.sum(-1).max()) == 1
    assert float(parents.float().mean()) == pytest.approx(0.5, abs=0.01)
    assert float(children.any(-1)[parents].float().mean()) == pytest.approx(0.7, abs=0.01)
    assert float((coeffs > 0).sum(-1).float().mean()) == pytest.approx(cfg.true_l0(), rel=0.02)
    assert set(coeffs.unique().tolist()) == {0.0, 1.0}


def test_batches_are_the_coefficients_times_the_directions():
    cfg = HierarchyConfig()
    directions = hierarchy_directions(cfg, generator=_gen())
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(cfg.n_feats))
    x, coeffs = hierarchical_batch(cfg, directions, 64, generator=_gen(1))
    torch.testing.assert_close(x, coeffs @ directions)
    stream = next(hierarchical_batches(cfg, directions, 64, generator=_gen(1)))
    torch.testing.assert_close(stream, x)
    assert cfg.children()[1].tolist() == [11, 12, 13]


def test_bad_hierarchies_are_refused():
    with pytest.raises(ValueError, match="p_child"):
        HierarchyConfig(p_child=1.5)
    with pytest.raises(ValueError, match="shape"):
        hierarchical_batch(HierarchyConfig(), torch.zeros(5, 48), 4)


def test_clusters_have_the_stated_geometry_and_one_member_at_a_time():
    cfg = ClusterConfig(n_clusters=3, per_cluster=4, d_hidden=16, spread=1.0, p_cluster=1.0)
    centres, fine = cluster_directions(cfg, generator=_gen())
    cos = (fine.reshape(3, 4, 16) * centres[:, None]).sum(-1)
    torch.testing.assert_close(cos, torch.full((3, 4), 2 ** -0.5))
    x = next(clustered_batches(cfg, fine, 500, generator=_gen(1)))
    # with p_cluster = 1 every input is a sum of one member of each cluster
    coeffs = torch.linalg.lstsq(fine.T, x.T).solution.T
    active = coeffs.abs() > 1e-4
    assert active.reshape(500, 3, 4).sum(-1).max() == 1
    with pytest.raises(ValueError, match="fine features"):
        next(clustered_batches(cfg, fine[:5], 4))
