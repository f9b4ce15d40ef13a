"""What Explore's analysis tabs share: the step an analysis reads, a saved result for the chosen options, or a
background job that makes it, with its progress. Nothing heavy runs in the page's process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from engine import analysis, jobs
from engine.trainer import kept_steps

ACTIVE = ("queued", "running", "stopping")


def step_choice(run_dir: Path) -> int | None:
    """The evaluation step the analyses read (the steps whose weights the run kept); None before any."""
    steps = kept_steps(run_dir)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    return st.select_slider("Analysis step (kept weights)", steps, value=steps[-1], format_func="{:,}".format,
                            key="analysis_step", help="Map, Reconstructions and Likelihood read the model at this "
                                                      "step; each result is kept per step and options")


def result_for(run_dir: Path, name: str, step: int, wanted: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The newest saved result of this analysis at this step whose options include `wanted`."""
    for summary in analysis.saved_results(run_dir, name):
        options = summary.get("options", {})
        if summary.get("step") == step and all(options.get(k) == v for k, v in wanted.items()):
            try:
                return summary, analysis.arrays_of(run_dir, summary["key"])
            except (OSError, ValueError):
                continue
    return None


def launcher(run_dir: Path, command: str, args: list[str], step: int, label: str) -> None:
    """A running job of this command: its progress; else the button that starts one (and the last failure)."""
    found = jobs.analysis_jobs(run_dir, command)
    active = next((job for job in found if job.get("state") in ACTIVE), None)
    if active is not None:
        progress(active["id"])
        return
    if found and found[0].get("state") == "failed":
        st.error(f"The last {command} job failed: {found[0].get('message', '')}", icon=":material/error:")
    if st.button(label, key=f"launch_{command}", type="primary"):
        jobs.launch_analysis(run_dir, command, [*args, "--step", str(step)])
        st.rerun()


@st.fragment(run_every=1.0)
def progress(job_id: str) -> None:
    """Polls the job; when it ends the whole page reruns to read its result."""
    status = jobs.status(job_id)
    if status.get("state") not in ACTIVE:
        st.rerun(scope="app")
    st.progress(min(1.0, float(status.get("progress", 0.0))), text=status.get("message") or status.get("state"))
