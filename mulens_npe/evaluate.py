"""Calibration and accuracy of a trained model on fresh simulations.

For ``n`` events drawn from the model's prior (not the training proposal) with a new seed, the
model draws posterior samples; we report

* per-parameter coverage of central 68% and 95% credible intervals (alpha: intervals around
  the circular mean) and the SBC rank histograms (Talts et al. 2018);
* TARP expected coverage, a joint test of all seven parameters (Lemos et al. 2023,
  https://arxiv.org/abs/2302.03026);
* errors of the posterior median (and, for comparison, of the highest-density draw) against
  the truth for log10 s (close/wide twin s <-> 1/s
  allowed), log10 q, u_0, log10 t_E and log10 rho, split by the binary signal strength
  (delta chi2 between the best single-lens model and the true binary model on the noisy data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import least_squares

from .artifact import TrainedModel
from .errors import ConfigurationError, InputDataError
from .parameters import PARAMETER_NAMES
from .preprocess import preprocess
from .reweighting import effective_sample_size
from .singlelens import estimate_single_lens, linear_fluxes, pspl_magnification

__all__ = [
    "EvaluationResult",
    "evaluate_model",
    "simulated_events",
    "model_epochs",
    "single_lens_chi2",
    "LEVELS",
]

LEVELS = (0.68, 0.95)
_LOG_PARAMS = ("u_0", "t_E", "rho", "s", "q")
SIGNAL_THRESHOLD = 100.0
"""delta chi2 (single lens - binary) above which an event has a clear binary signal."""


def single_lens_chi2(time: np.ndarray, flux: np.ndarray, flux_err: np.ndarray) -> float:
    """chi2 of the best point-source point-lens model (grid start, then least squares)."""
    weight = 1.0 / flux_err**2
    start = estimate_single_lens(time, flux, flux_err)

    def residuals(p):
        with np.errstate(over="ignore", invalid="ignore"):
            a = pspl_magnification((time - p[0]) / np.exp(np.clip(p[2], -10.0, 10.0)), p[1])
        fs, fb, _ = linear_fluxes(a, flux, weight)
        return (flux - fs * a - fb) / flux_err

    x0 = [start.t_0, start.u_0, np.log(start.t_E)]
    fit = least_squares(residuals, x0, method="lm", max_nfev=200)
    return float(min(np.sum(fit.fun**2), np.sum(residuals(x0) ** 2)))


def model_epochs(model: TrainedModel) -> np.ndarray:
    """The epochs of the model's training set (from its card; the default Roman grid if absent)."""
    from .simulate.config import TimeGrid

    spec = model.card.get("dataset", {}).get("grid", {}).get("spec")
    return (TimeGrid.from_dict(spec) if spec else TimeGrid()).epochs()


def simulated_events(
    model: TrainedModel,
    times: np.ndarray,
    n: int,
    seed: int,
    augment: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The fresh events of an evaluation: truths from the model's prior, noisy light curves.

    Event ``i`` is a truth drawn with ``default_rng([seed, 0])`` and a light curve on ``times``
    augmented with ``default_rng([seed, 1, i])`` and ``augment`` (default: the model's training
    augmentation), so an event depends only on (seed, i) and on ``n`` through the truth draw.

    Yields
    ------
    dict
        ``index``, ``truth`` (MulensModel parameters) and, when the curve can be
        preprocessed, ``lightcurve``, ``net_input``, ``rng`` (the event's generator, after
        the augmentation), ``truth_chi2`` (true magnification, linear fluxes),
        ``single_lens_chi2`` and ``delta_chi2`` (single lens minus truth); otherwise
        ``skipped`` (the reason).
    """
    from .simulate.augment import simulated_lightcurve
    from .simulate.magnification import binary_magnification

    if augment is None:
        augment = dict(model.card.get("training", {}).get("config", {}).get("augment", {}))
    truths = model.prior.sample(n, np.random.default_rng([seed, 0]))
    for i in range(n):
        params = {k: float(truths[k][i]) for k in PARAMETER_NAMES}
        event_rng = np.random.default_rng([seed, 1, i])
        magnification = binary_magnification(params, times)[0]
        try:
            lc = simulated_lightcurve(magnification, times, event_rng, **augment)
            net_input = preprocess(lc, model.preprocess)
        except InputDataError as exc:
            yield {"index": i, "truth": params, "skipped": str(exc)}
            continue
        # the light curve's epochs are a subset of the grid: reuse the computed curve
        a_true = magnification[np.searchsorted(times, lc.time)]
        _, _, chi2_truth = linear_fluxes(a_true, lc.flux, 1.0 / lc.flux_err**2)
        single = single_lens_chi2(lc.time, lc.flux, lc.flux_err)
        yield {
            "index": i,
            "truth": params,
            "lightcurve": lc,
            "net_input": net_input,
            "rng": event_rng,
            "truth_chi2": float(chi2_truth),
            "single_lens_chi2": single,
            "delta_chi2": single - float(chi2_truth),
        }


def _transformed(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {name: np.log10(np.asarray(params[name], float)) for name in _LOG_PARAMS}
    out["t_0"] = np.asarray(params["t_0"], float)
    out["alpha"] = np.asarray(params["alpha"], float)
    return out


def _circular_mean_deg(values: np.ndarray) -> float:
    """Circular mean of angles in degrees, in (-180, 180]."""
    return float(np.rad2deg(np.angle(np.mean(np.exp(1j * np.deg2rad(values))))))


def _circular_distance(a, b):
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


@dataclass
class EvaluationResult:
    """Per-event records and summary metrics of :func:`evaluate_model`."""

    truths: dict[str, np.ndarray]
    modes: dict[str, np.ndarray]
    medians: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]
    coverage: dict[str, dict[str, float]]
    tarp_levels: np.ndarray
    tarp_coverage: np.ndarray
    delta_chi2: np.ndarray
    errors: dict[str, dict[str, float]]
    mode_errors: dict[str, dict[str, float]]
    samples: list[dict[str, np.ndarray]]
    seconds_per_event: float
    reference_errors: dict[str, dict[str, float]] = field(default_factory=dict)
    """Errors of the no-data guess (each group's median truth), the yardstick of ``errors``."""
    clear_coverage: dict[str, dict[str, float]] = field(default_factory=dict)
    """Coverage as ``coverage``, on the clear binaries (delta chi2 > threshold) alone."""
    effective_sample_sizes: np.ndarray | None = None
    """Per event, of the importance weights to the prior (None: the model needs none)."""
    n_samples: int = 1000
    """Posterior draws per event."""
    outside_range: np.ndarray | None = None
    """Per event: its true t_0 or t_E lies beyond the bounds of the flow's linear range
    (a model with a linear map has no posterior mass there; see ``FeatureMap.squash``)."""

    def summary(self) -> dict[str, Any]:
        """JSON-able summary."""
        summary = {
            "n_events": int(self.delta_chi2.size),
            "coverage": self.coverage,
            "tarp": {"levels": self.tarp_levels.tolist(), "coverage": self.tarp_coverage.tolist()},
            "median_errors": self.errors,
            "mode_errors": self.mode_errors,
            "reference_errors": self.reference_errors,
            "clear_binary_coverage": self.clear_coverage,
            "n_clear_binary": int(np.sum(self.delta_chi2 > SIGNAL_THRESHOLD)),
            "seconds_per_event": self.seconds_per_event,
        }
        if self.outside_range is not None:
            summary["outside_linear_range"] = int(np.sum(self.outside_range))
        if self.effective_sample_sizes is not None:
            summary["effective_sample_size"] = {
                "median": float(np.median(self.effective_sample_sizes)),
                "10%": float(np.quantile(self.effective_sample_sizes, 0.1)),
            }
        return summary


def evaluate_model(
    model: TrainedModel,
    times: np.ndarray,
    n: int = 2000,
    seed: int = 12345,
    n_samples: int = 1000,
    augment: dict[str, Any] | None = None,
    keep_samples: int = 40,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``model`` on ``n`` fresh simulated events on epochs ``times``.

    Parameters
    ----------
    model : TrainedModel
        The model to evaluate.
    times : numpy.ndarray
        Epochs (full BJD) of the simulated light curves, e.g. the training grid.
    n : int
        Number of events.
    seed : int
        Seed of the events, their noise and the posterior draws (use one not used in training).
    n_samples : int
        Posterior samples per event.
    augment : dict, optional
        Options for the augmentation (defaults to the model's training options).
    keep_samples : int
        Keep the samples of this many events (for corner plots).
    progress : bool
        Show a progress bar.
    """
    import time as clock

    from tqdm.auto import tqdm

    if n < 1:
        raise ConfigurationError(f"evaluate: n must be >= 1, got {n}.")
    names = PARAMETER_NAMES
    truths = {k: np.full(n, np.nan) for k in names}
    modes = {k: np.full(n, np.nan) for k in names}
    medians = {k: np.full(n, np.nan) for k in names}
    ranks = {k: np.full(n, np.nan) for k in names}
    inside = {level: {k: np.zeros(n, bool) for k in names} for level in LEVELS}
    tarp_levels = np.linspace(0, 1, 51)
    tarp_f = np.full(n, np.nan)
    delta_chi2 = np.full(n, np.nan)
    outside = np.zeros(n, bool)
    kept: list[dict[str, np.ndarray]] = []
    network = model.network.eval()
    reweighting = model.reweighting
    ess = np.full(n, np.nan)
    started = clock.perf_counter()
    used = np.zeros(n, bool)
    events = simulated_events(model, times, n, seed, augment)
    for event in tqdm(events, total=n, disable=not progress, desc="evaluating", unit="event"):
        i, params = event["index"], event["truth"]
        for k in names:
            truths[k][i] = params[k]
        if "skipped" in event:
            continue
        net_input = event["net_input"]
        used[i] = True
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            dist = network(torch.from_numpy(net_input.values)[None])
            z = dist.sample((n_samples,))
            log_q = dist.log_prob(z)[:, 0].numpy()
        z = z[:, 0, :].numpy().astype(float)
        samples = model.features.from_torus(z, net_input.t_ref, net_input.t_scale)
        rows = np.arange(n_samples)
        if reweighting is not None:
            # posterior under the prior: density q * w, draws resampled in proportion to w
            rows, log_w = reweighting.resample(
                samples, net_input.span, n_samples, np.random.default_rng([seed, 2, i])
            )
            log_q = log_q + log_w
            ess[i] = effective_sample_size(log_w)
        best = int(np.argmax(log_q))
        modes_i = {k: v[best] for k, v in samples.items()}
        z = z[rows]
        samples = {k: v[rows] for k, v in samples.items()}
        truth_t = _transformed({k: np.array([v]) for k, v in params.items()})
        samples_t = _transformed(samples)
        for k in names:
            modes[k][i] = modes_i[k]
            medians[k][i] = _posterior_median(k, samples[k])
            if k == "alpha":
                centre = _circular_mean_deg(samples_t[k])
                dist_s = _circular_distance(samples_t[k], centre)
                dist_t = _circular_distance(truth_t[k][0], centre)
                ranks[k][i] = np.mean(
                    (samples_t[k] - centre) % 360.0 < (truth_t[k][0] - centre) % 360.0
                )
                for level in LEVELS:
                    inside[level][k][i] = dist_t <= np.quantile(dist_s, level)
            else:
                r = np.mean(samples_t[k] < truth_t[k][0])
                ranks[k][i] = r
                for level in LEVELS:
                    inside[level][k][i] = abs(r - 0.5) <= level / 2
        # TARP in flow coordinates (scaled to the unit box; alpha wraps)
        z_true = model.features.to_torus(params, net_input.t_ref, net_input.t_scale)
        outside[i] = not model.features.inside_linear_range(z_true)
        ref = event["rng"].uniform(-np.pi, np.pi, 7)
        diff_s = np.angle(np.exp(1j * (z - ref)))
        diff_t = np.angle(np.exp(1j * (z_true - ref)))
        tarp_f[i] = np.mean(np.sum(diff_s**2, -1) < np.sum(diff_t**2))
        delta_chi2[i] = event["delta_chi2"]
        if len(kept) < keep_samples:
            kept.append(
                {"index": i, "truth": params, "samples": samples, "delta_chi2": delta_chi2[i]}
            )
    seconds = (clock.perf_counter() - started) / max(int(used.sum()), 1)
    if not used.any():
        raise InputDataError("evaluate: no simulated event could be preprocessed.")

    def coverage_of(mask: np.ndarray) -> dict[str, dict[str, float]]:
        return {
            k: {f"{int(level * 100)}%": float(np.mean(inside[level][k][mask])) for level in LEVELS}
            for k in names
        }

    coverage = coverage_of(used)
    clear = used & (delta_chi2 > SIGNAL_THRESHOLD)
    clear_coverage = coverage_of(clear) if clear.any() else {}
    tarp_cov = np.array([np.mean(tarp_f[used] < a) for a in tarp_levels])
    errors = _median_errors(truths, medians, delta_chi2, used)
    mode_errors = _median_errors(truths, modes, delta_chi2, used)
    return EvaluationResult(
        truths={k: v[used] for k, v in truths.items()},
        modes={k: v[used] for k, v in modes.items()},
        medians={k: v[used] for k, v in medians.items()},
        ranks={k: v[used] for k, v in ranks.items()},
        coverage=coverage,
        tarp_levels=tarp_levels,
        tarp_coverage=tarp_cov,
        delta_chi2=delta_chi2[used],
        errors=errors,
        mode_errors=mode_errors,
        reference_errors=_reference_errors(truths, delta_chi2, used),
        clear_coverage=clear_coverage,
        samples=kept,
        seconds_per_event=seconds,
        effective_sample_sizes=None if reweighting is None else ess[used],
        n_samples=n_samples,
        outside_range=outside[used],
    )


def _posterior_median(name: str, values: np.ndarray) -> float:
    """Point estimate of one parameter: the posterior median (robust to spiky densities).

    For s the median of |log10 s| (the close/wide twins s and 1/s count as one answer, as in
    the error below), for alpha the circular mean, for log-uniform parameters the median in
    log space (the same as the median of the values).
    """
    values = np.asarray(values, float)
    if name == "s":
        return float(10 ** np.median(np.abs(np.log10(values))))
    if name == "alpha":
        return float(_circular_mean_deg(values) % 360.0)
    return float(np.median(values))


def _groups(delta_chi2: np.ndarray, used: np.ndarray) -> dict[str, np.ndarray]:
    """The event groups of the report: all events, and split at the clear-binary threshold."""
    return {
        "all": used,
        f"delta_chi2 > {SIGNAL_THRESHOLD:g}": used & (delta_chi2 > SIGNAL_THRESHOLD),
        f"delta_chi2 <= {SIGNAL_THRESHOLD:g}": used & (delta_chi2 <= SIGNAL_THRESHOLD),
    }


def _errors(truths, estimates, mask) -> dict[str, float]:
    """Median absolute errors of point ``estimates`` on the events in ``mask``."""
    log_s_t, log_s_m = np.log10(truths["s"][mask]), np.log10(estimates["s"][mask])
    return {
        "n": int(mask.sum()),
        "log10_s": float(
            np.median(np.minimum(np.abs(log_s_m - log_s_t), np.abs(log_s_m + log_s_t)))
        ),
        "log10_q": float(np.median(np.abs(np.log10(estimates["q"][mask] / truths["q"][mask])))),
        "u_0": float(np.median(np.abs(estimates["u_0"][mask] - truths["u_0"][mask]))),
        "log10_t_E": float(
            np.median(np.abs(np.log10(estimates["t_E"][mask] / truths["t_E"][mask])))
        ),
        "log10_rho": float(
            np.median(np.abs(np.log10(estimates["rho"][mask] / truths["rho"][mask])))
        ),
    }


def _median_errors(truths, modes, delta_chi2, used) -> dict[str, dict[str, float]]:
    return {
        group: _errors(truths, modes, mask)
        for group, mask in _groups(delta_chi2, used).items()
        if mask.any()
    }


def _reference_errors(truths, delta_chi2, used) -> dict[str, dict[str, float]]:
    """Errors of a guess that reads no data: every event of a group gets the group's median truth.

    The yardstick for the point errors: an estimator that does not beat it has learnt
    nothing about that parameter for that group (it needs the truths, so it is a reference,
    not an estimator).
    """
    out = {}
    for group, mask in _groups(delta_chi2, used).items():
        if not mask.any():
            continue
        guess = {k: np.full(mask.size, _posterior_median(k, v[mask])) for k, v in truths.items()}
        out[group] = _errors(truths, guess, mask)
    return out


def write_report(result: EvaluationResult, model: TrainedModel, out: str | Path, seed: int) -> Path:
    """Write ``evaluation.json``, ``evaluation.md`` and the plots into folder ``out``."""
    from . import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    summary.update({"model": model.card.get("name"), "seed": seed})
    (out / "evaluation.json").write_text(json.dumps(summary, indent=2))
    figures = plots.evaluation_figures(result, out)
    lines = [
        f"# Evaluation of `{model.card.get('name', 'model')}`",
        "",
        f"{summary['n_events']} fresh simulated events drawn from the model's prior (seed {seed}); "
        f"{summary['n_clear_binary']} have a clear binary signal (delta chi2 > {SIGNAL_THRESHOLD:g}). "
        f"{result.seconds_per_event:.2f} s per event (simulation, fits and sampling included).",
    ]
    if "effective_sample_size" in summary:
        ess = summary["effective_sample_size"]
        lines += [
            "",
            "The network was trained on the simulation proposal's posterior; its draws are "
            "importance-resampled to the prior (`mulens_npe.reweighting`). Effective sample "
            f"size of the weights: median {ess['median']:.0f}, 10th percentile "
            f"{ess['10%']:.0f} per {result.n_samples} draws.",
        ]
    if "outside_linear_range" in summary:
        n_out = summary["outside_linear_range"]
        squash = model.features.squash
        lines += [
            "",
            f"{n_out} events ({n_out / max(summary['n_events'], 1):.1%}) have a true t_0 more than "
            "3 single-lens timescales from the single-lens t_0, or a t_E more than e^3.5 times "
            "that timescale or less than 1/e^3.5 of it"
            + (
                f": this model maps {' and '.join(squash)} from the whole real line "
                "(`FeatureMap.squash`), so its posterior can reach them."
                if squash
                else ": this model's flow maps t_0 and t_E linearly from that range, so its "
                "posterior has no mass at their true values (a ceiling on their coverage)."
            ),
        ]
    lines += [
        "",
        "## Coverage of central credible intervals (target 68 +- 5 %, 95 +- 3 %)",
        "",
        "| parameter | 68% | 95% |",
        "|---|---|---|",
    ]
    for k, cov in result.coverage.items():
        lines.append(f"| {k} | {cov['68%']:.3f} | {cov['95%']:.3f} |")
    if result.clear_coverage:
        lines += [
            "",
            f"On the {summary['n_clear_binary']} clear binaries alone "
            f"(delta chi2 > {SIGNAL_THRESHOLD:g}):",
            "",
            "| parameter | 68% | 95% |",
            "|---|---|---|",
        ]
        for k, cov in result.clear_coverage.items():
            lines.append(f"| {k} | {cov['68%']:.3f} | {cov['95%']:.3f} |")
    lines += [
        "",
        "## Median error of the posterior median (the point estimate for the targets)",
        "",
        *_error_table(result.errors),
        "",
        "The same errors for a guess that reads no data (every event of a group given the",
        "median of that group's true values; a yardstick, not an estimator): where the",
        "posterior median does no better, the network has learnt nothing of that parameter",
        "for that group.",
        "",
        *_error_table(result.reference_errors),
        "",
        "## Median error of the posterior mode (highest-density draw)",
        "",
        "For broad posteriors the highest-density draw is erratic (the flow's density has narrow",
        "spikes, often at the edges of the prior), so this table is shown for comparison only.",
        "",
        *_error_table(result.mode_errors),
    ]
    lines += [
        "",
        "log10 s error allows the close/wide twin (s <-> 1/s): the posterior median of |log10 s|",
        "is compared with |log10 s| of the truth.",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    (out / "evaluation.md").write_text("\n".join(lines) + "\n")
    return out


def _error_table(errors: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "| events | n | log10 s | log10 q | u_0 | log10 t_E | log10 rho |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, e in errors.items():
        lines.append(
            f"| {group} | {e['n']} | {e['log10_s']:.3f} | {e['log10_q']:.3f} | {e['u_0']:.3f} | "
            f"{e['log10_t_E']:.3f} | {e['log10_rho']:.3f} |"
        )
    return lines
