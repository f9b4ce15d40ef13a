"""Explore's Likelihood tab: "Estimate" runs the held-out log-likelihood job (importance sampling and AIS, engine.
metrics.likelihood) with a progress bar, then shows both estimates with their standard errors, and for data of
known density the data's own figure and the gap to it."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from app import analysis_view
from engine.metrics.likelihood import proposal_for

ESTIMATORS = {"both": "both (IS and AIS)", "is": "importance sampling", "ais": "AIS"}
NAMES = {"is": "importance sampling", "ais": "annealed importance sampling",
         "ais_upper": "AIS in reverse (upper bound)"}


def table(summary: dict) -> pd.DataFrame:
    rows = []
    for name, est in summary["estimates"].items():
        spent = (f"{est.get('proposal', 'encoder')} proposal, S = {est['samples']:,}, ESS {est['ess_mean']:.1f}"
                 if name == "is"
                 else f"{est['samples']} chains x {est['temperatures']} temperatures")
        rows.append({"estimator": NAMES[name], "log p(x), nats": est["nats"], "± SE": est["se"],
                     "NLL, bits/dim": est["nll_bits_per_dim"], "spent": spent, "seconds": est["seconds"]})
    if "data" in summary:
        rows.append({"estimator": "the data's own density (exact)", "log p(x), nats": summary["data"]["nats"],
                     "± SE": summary["data"]["se"],
                     "NLL, bits/dim": -summary["data"]["nats"] / (summary["dims"] * math.log(2)),
                     "spent": "closed form", "seconds": None})
    return pd.DataFrame(rows)


def result(summary: dict) -> None:
    st.dataframe(table(summary).style.format({"log p(x), nats": "{:.3f}", "± SE": "{:.3f}",
                                              "NLL, bits/dim": "{:.4f}", "seconds": "{:.1f}"}, na_rep=""),
                 hide_index=True)
    which = "points simulated from the model" if summary.get("simulated") else "held-out points"
    sigma = f" (mean {summary['sigma_mean']:.4g})" if "sigma_mean" in summary else ""
    if "sigma_elbo_mean" in summary:
        sigma += f", by EM from the ELBO fit's {summary['sigma_elbo_mean']:.4g}"
    notes = [f"{summary['points']:,} {which}, sigma: {summary['sigma']}{sigma}"
             + (", Gaussian truncated to the data range" if summary["truncated"] else ""),
             f"{summary.get('scale', 'a continuous density')} (bits/dim not comparable with 8-bit discrete figures)"]
    if "is_minus_ais" in summary:
        diff = summary["is_minus_ais"]
        notes.append(f"IS − AIS on the same points: {diff['nats']:.3f} ± {diff['se']:.3f} nats")
    if "ais_upper_minus_ais" in summary:
        sandwich = summary["ais_upper_minus_ais"]
        notes.append(f"AIS upper − lower bound: {sandwich['nats']:.3f} ± {sandwich['se']:.3f} nats (the true log p(x) "
                     "lies between; an estimate below the lower bound is off by at least the distance)")
    for name, gap in summary.get("gap", {}).items():
        notes.append(f"gap to the data ({name.upper()}), an estimate of KL(p_data ‖ p_model): "
                     f"{gap['nats']:.3f} ± {gap['se']:.3f} nats")
    st.caption(" · ".join(notes))


PROPOSALS = {"laplace": "Laplace at the MAP (fast)", "encoder": "encoder's diagonal (PresGAN 3.3)",
             "hmc": "HMC-fitted (PresGAN appendix 7.1; slower)"}
SOURCES = {"held-out": "held-out data", "simulated": "simulated from the model (checks the estimators)"}
POINTS = (20, 50, 100, 200, 500, 1_000)
# points first offered per data kind (the proposal: the engine's per-kind default). Images: AIS costs ~90 s per digit
# on one thread (docs/benchmarks.md, session 13)
POINTS_BY_KIND = {"image": 20, "vector": 200}
KIND_KEYED = ("ll_proposal", "ll_points")  # widgets whose first value depends on the run's data kind


def forget_other_kinds_choices(kind: str) -> None:
    """Streamlit keeps a keyed widget's value for the browser session: opening an image run after a vector run
    would keep the vector run's proposal. Drop those choices when the kind changes, so each kind starts at its own."""
    if st.session_state.get("ll_kind") != kind:
        for key in KIND_KEYED:
            st.session_state.pop(key, None)
        st.session_state["ll_kind"] = kind


def render(run_dir: Path, step: int, kind: str = "vector") -> None:
    source = st.segmented_control("Points", list(SOURCES), default="held-out", format_func=SOURCES.get,
                                  key="ll_source", help="Points drawn from the model come with the codes that made "
                                  "them, exact posterior draws: AIS run in reverse from those codes bounds log p(x) "
                                  "from above, AIS forward from below (bidirectional Monte Carlo).")
    simulated = source == "simulated"
    forget_other_kinds_choices(kind)
    default_proposal, default_points = proposal_for(kind), POINTS_BY_KIND.get(kind, POINTS_BY_KIND["vector"])
    estimator_col, proposal_col, points_col, samples_col = st.columns(4)
    estimator = estimator_col.selectbox("Estimator", list(ESTIMATORS), format_func=ESTIMATORS.get, key="ll_est")
    proposal = proposal_col.selectbox("IS proposal", list(PROPOSALS), format_func=PROPOSALS.get, key="ll_proposal",
                                      index=list(PROPOSALS).index(default_proposal),
                                      help="The Gaussian importance sampling draws from. Where a generator's "
                                      "posterior is far from Gaussian (GAN-trained, small sigma) the HMC-fitted one "
                                      "comes closest to AIS.")
    points = points_col.select_slider("Points", POINTS, value=default_points, key="ll_points")
    samples = samples_col.select_slider("Importance samples S", (100, 1_000, 5_000), value=1_000, key="ll_samples")
    found = analysis_view.result_for(run_dir, "loglik", step, {"estimator": estimator, "importance_samples": samples,
                                                                "points": points, "proposal": proposal,
                                                                "simulated": True if simulated else None,
                                                                "sigma": None})
    if found is not None and "is" in found[0]["estimates"] and found[0]["estimates"]["is"]["ess_mean"] < 5:
        st.warning("The importance weights' effective sample size is below 5: the IS figure is a loose lower "
                   "bound here; trust AIS, or the larger of the two.", icon=":material/warning:")
    if found is None:
        st.caption("No estimate for these options at this step yet. Importance sampling fits an encoder to the "
                   "frozen generator first; AIS anneals HMC chains from the prior. Where the two agree within "
                   "their errors, the number can be trusted.")
        analysis_view.launcher(run_dir, "loglik", ["--estimator", estimator, "--proposal", proposal,
                                                   "--points", str(points),
                                                   "--importance-samples", str(samples),
                                                   *(["--simulated"] if simulated else [])], step, "Estimate")
        return
    result(found[0])
