"""The MUSHRA trial component (Streamlit Components v2; HTML/JS/CSS shipped in this folder).

:func:`mushra_trial` is the public wrapper; the component itself is declared once per process by
the private :func:`_component`. Nothing passed to the browser names a condition or its role: the
component receives opaque stimulus URLs and the slot labels A, B, C, ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent
COMPONENT_NAME = "evalapp.mushra"


@cache
def _component():
    import streamlit as st

    return st.components.v2.component(
        COMPONENT_NAME,
        js=(_HERE / "mushra.js").read_text(encoding="utf-8"),
        css=(_HERE / "mushra.css").read_text(encoding="utf-8"),
    )


def mushra_trial(*, trial_key: str, position: int, reference_url: str, stimuli: list[tuple[str, str]],
                 rules: dict, submit_url: str, resume_token: str, on_submitted: Callable[[], None],
                 submit_label: str = "Submit and continue"):
    """Mount one MUSHRA trial.

    Args:
        trial_key: changes from trial to trial (a new key mounts fresh audio; reruns of the same
            trial keep the decoded buffers and the slider positions).
        position: the trial's number in the listener's order (sent back with the submit).
        reference_url: opaque URL of the open reference.
        stimuli: (label, opaque URL) per slot, in the listener's presentation order.
        rules: ``all_played``, ``one_rated_100``, ``min_listen_s`` (the server checks them again).
        submit_url: the HTTP submit route; the component posts the ratings there itself.
        resume_token: the listener's secret, sent as ``Authorization: Bearer``.
        on_submitted: called on the rerun after the server confirmed the submit.

    Returns:
        the component result (``.submitted`` holds ``{"position", "finished"}`` after a submit).
    """
    data = {"trial_key": trial_key, "position": position, "reference": reference_url,
            "stimuli": [{"label": label, "url": url} for label, url in stimuli], "rules": rules,
            "submit_url": submit_url, "token": resume_token, "submit_label": submit_label}
    return _component()(key=f"mushra-{trial_key}", data=data, on_submitted_change=on_submitted)
