"""Importance resampling from the proposal's posterior back to the prior's."""

import json
import shutil

import numpy as np
import pytest

from mulens_npe.artifact import load_model
from mulens_npe.errors import ConfigurationError, ModelCardError
from mulens_npe.prior import Prior
from mulens_npe.reweighting import (
    PriorReweighting,
    effective_sample_size,
    prior_reweighting,
    systematic_resample,
)
from mulens_npe.simulate.sampling import ProposalSampler

SEASON = (2460000.0, 2460072.0)


def test_systematic_resampling_repeats_each_draw_in_proportion_to_its_weight():
    weights = np.array([0.1, 0.0, 0.6, 0.3])
    with np.errstate(divide="ignore"):
        rows = systematic_resample(np.log(weights), 1000, np.random.default_rng(0))
    counts = np.bincount(rows, minlength=4)
    # systematic resampling: floor or ceil of n times the share, never a zero-weight draw
    assert np.all(np.abs(counts - 1000 * weights) < 1)
    assert counts[1] == 0


def test_effective_sample_size():
    assert effective_sample_size(np.zeros(50)) == pytest.approx(50)
    assert effective_sample_size(np.log([1.0, 1e-12, 1e-12])) == pytest.approx(1.0)


def test_resampled_proposal_draws_follow_the_prior():
    """What inference does to a proposal-trained network, done to the proposal itself.

    Under the proposal half the draws aim at a caustic (many with u_0 near 0); resampled with
    the weights they must follow the prior again: u_0 uniform on [0, 2], t_0 uniform over the
    season (4-sigma Monte Carlo bounds).
    """
    prior = Prior(t_0=SEASON)
    params, _ = ProposalSampler(prior).sample(8000, np.random.default_rng(1))
    u_0 = np.asarray(params["u_0"])
    assert np.mean(u_0 < 0.1) > 0.15  # the proposal is far from the prior (0.05)
    reweighting = PriorReweighting(prior=prior, proposal={"caustic_fraction": 0.5})
    rows, log_w = reweighting.resample(params, SEASON, 8000, np.random.default_rng(2))
    ess = effective_sample_size(log_w)
    u_r = u_0[rows]
    t_r = (np.asarray(params["t_0"])[rows] - SEASON[0]) / (SEASON[1] - SEASON[0])
    for fraction, observed in (
        (0.05, np.mean(u_r < 0.1)),
        (0.25, np.mean(u_r < 0.5)),
        (0.5, np.mean(u_r < 1.0)),
        (0.1, np.mean(t_r < 0.1)),
    ):
        assert abs(observed - fraction) < 4 * np.sqrt(fraction * (1 - fraction) / ess)


def test_weights_equal_the_samplers_inside_the_prior():
    prior = Prior(t_0=SEASON)
    sampler = ProposalSampler(prior, caustic_fraction=0.3)
    params, log_weight = sampler.sample(200, np.random.default_rng(3))
    reweighting = PriorReweighting(prior=prior, proposal={"caustic_fraction": 0.3})
    np.testing.assert_allclose(reweighting.log_weights(params, SEASON), log_weight, rtol=1e-12)
    # outside the season (t_0 after the data) a draw keeps a finite weight
    late = {k: v.copy() for k, v in params.items()}
    late["t_0"] = late["t_0"] + 100.0
    assert np.all(np.isfinite(reweighting.log_weights(late, SEASON)))


def test_resampling_never_keeps_a_draw_outside_the_prior():
    prior = Prior(t_0=SEASON)
    params, _ = ProposalSampler(prior).sample(400, np.random.default_rng(4))
    params = {k: np.asarray(v, float).copy() for k, v in params.items()}
    params["u_0"] = np.abs(params["u_0"])
    # a squashed flow's far tails: t_E beyond the prior, t_0 years from the data
    params["t_E"][:100] = 10.0 ** np.linspace(2.6, 79.0, 100)
    params["t_0"][100:200] = SEASON[1] + np.linspace(37.0, 7000.0, 100)
    reweighting = PriorReweighting(prior=prior, proposal={"caustic_fraction": 0.5})
    rows, log_w = reweighting.resample(params, SEASON, 4000, np.random.default_rng(5))
    kept_t_E = params["t_E"][rows]
    assert kept_t_E.max() <= prior.bounds["t_E"][1]
    # t_0 up to half the span after the data stays (Proposal.prior's range), beyond never
    assert params["t_0"][rows].max() <= SEASON[1] + 36.0
    outside = ~np.isfinite(log_w)
    assert outside[:100].sum() == np.sum(params["t_E"][:100] > prior.bounds["t_E"][1])
    assert outside[100:200].all() and not outside[200:].any()
    # every draw outside: the finite weights are used rather than none
    params["t_E"][:] = 1e4
    rows, log_w = reweighting.resample(params, SEASON, 50, np.random.default_rng(6))
    assert np.all(np.isfinite(log_w)) and rows.size == 50


def test_cards_say_whether_a_model_needs_reweighting(tiny_model, tmp_path):
    prior = Prior(t_0=SEASON)
    assert prior_reweighting({}, prior) is None
    assert prior_reweighting({"training": {"config": {"target": "prior"}}}, prior) is None
    card = {"training": {"config": {"target": "proposal"}}, "dataset": {"proposal": {"width": 1}}}
    assert prior_reweighting(card, prior).proposal == {"width": 1}
    with pytest.raises(ConfigurationError, match="dataset.proposal is missing"):
        prior_reweighting({"training": {"config": {"target": "proposal"}}}, prior)
    with pytest.raises(ConfigurationError, match="unknown training target"):
        prior_reweighting({"training": {"config": {"target": "x"}}}, prior)

    broken = tmp_path / "model"
    shutil.copytree(tiny_model, broken)
    card = json.loads((broken / "card.json").read_text())
    card["training"]["config"]["target"] = "proposal"
    card["dataset"].pop("proposal", None)
    (broken / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelCardError, match="dataset.proposal is missing"):
        load_model(broken)


def test_caustic_table_matches_the_exact_caustics():
    """Interpolated centres and radii agree with VBMicrolensing's over the prior.

    Errors are measured in units of the proposal's box half-width, 2 (radius + rho) with
    rho at its smallest (1e-4): what decides a draw's weight.
    """
    from mulens_npe.reweighting import CausticTable
    from mulens_npe.simulate.sampling import caustic_targets

    rng = np.random.default_rng(5)
    s = 10 ** rng.uniform(np.log10(0.2), np.log10(5.0), 400)
    q = 10 ** rng.uniform(-6, 0, 400)
    table, exact = CausticTable()(s, q), caustic_targets(s, q)
    np.testing.assert_array_equal(np.isfinite(table[..., 0]), np.isfinite(exact[..., 0]))
    centre_error, radius_error = [], []
    # same caustics, possibly listed in another order: compare each with its nearest
    for t, e in zip(table, exact, strict=True):
        for x, y, radius in e[np.isfinite(e[:, 0])]:
            d = np.hypot(t[:, 0] - x, t[:, 1] - y)
            k = np.nanargmin(d)
            box = 2 * (radius + 1e-4)
            centre_error.append(d[k] / box)
            radius_error.append(abs(t[k, 2] - radius) / box)
    # measured: median 1e-3, 90% 0.12 (the worst: tiny close-planet caustics at s ~ 0.2)
    assert np.median(centre_error) < 0.01 and np.quantile(centre_error, 0.9) < 0.25
    assert np.quantile(radius_error, 0.99) < 0.05


def test_table_weights_agree_with_exact_weights():
    from mulens_npe.reweighting import CausticTable

    prior = Prior(t_0=SEASON)
    # nearly all draws aimed at a caustic: the draws whose weight the caustics decide
    params, log_weight = ProposalSampler(prior, caustic_fraction=0.999).sample(
        2000, np.random.default_rng(6)
    )
    fast = PriorReweighting(prior=prior, proposal={"caustic_fraction": 0.5}, targets=CausticTable())
    exact = PriorReweighting(prior=prior, proposal={"caustic_fraction": 0.5})
    difference = np.abs(fast.log_weights(params, SEASON) - exact.log_weights(params, SEASON))
    assert np.mean(difference < 0.05) > 0.99  # measured 0.997 on 4,000 draws


def test_caustic_table_interpolates_across_a_change_of_topology(monkeypatch):
    """Lenses within 0.005 dex of the resonant/wide boundary: the fine grid of the
    topology-change cells gives the exact number of caustics and their centres, and
    leaves only the lenses closest to the boundary to VBMicrolensing.

    Within ~0.001 dex of the boundary VBMicrolensing's own count flips back and forth
    (200 points per critical curve), so the count is compared beyond that.
    """
    import mulens_npe.reweighting as reweighting
    from mulens_npe.simulate.sampling import caustic_targets

    rng = np.random.default_rng(8)
    q = 10 ** rng.uniform(-5, 0, 300)
    # Erdl & Schneider 1993 / Dominik 1999: the resonant caustic splits in two at this s
    s_wide = np.sqrt((1 + q ** (1 / 3)) ** 3 / (1 + q))
    offset = rng.uniform(-0.005, 0.005, q.size)
    s = s_wide * 10**offset
    computed = []

    def counted(s_, q_):
        computed.append(np.size(s_))
        return caustic_targets(s_, q_)

    monkeypatch.setattr(reweighting, "caustic_targets", counted)
    table = reweighting.CausticTable()(s, q)
    exact = caustic_targets(s, q)
    assert sum(computed) < 0.3 * q.size  # measured: 45 of 300 (249 with the coarse grid alone)
    same = np.all(np.isfinite(table[..., 0]) == np.isfinite(exact[..., 0]), axis=1)
    assert np.all(same[np.abs(offset) > 0.001]) and np.mean(same) > 0.98  # measured: 298/300
    assert np.any(np.sum(np.isfinite(exact[same, :, 0]), axis=1) == 2)  # both sides sampled
    for t, e in zip(table[same], exact[same], strict=True):
        for x, y, radius in e[np.isfinite(e[:, 0])]:
            d = np.min(np.hypot(t[:, 0] - x, t[:, 1] - y)[np.isfinite(t[:, 0])])
            assert d < 0.5 * (radius + 1e-3)
