"""The listener's pages: consent -> instructions -> volume check -> training -> trials -> finish.

Pages only render; the order, checks and storage live in :mod:`evalapp.flow` and
:mod:`evalapp.storage.repository`. The listener is identified by the secret resume token in the
URL (``?resume=...``), so a reload or a later visit with the link continues at the first
unfinished trial.
"""

from __future__ import annotations

import html

import streamlit as st

from evalapp.api import AUDIO_PREFIX, SUBMIT_PATH
from evalapp.context import AppContext
from evalapp.flow import REFERENCE_SLOT, SLOT_LABELS, VOLUME_SLOT, completion_link, stimulus_token
from evalapp.storage import repository as repo
from evalapp.storage.repository import ListenerState
from evalapp.ui.components.mushra import mushra_trial

STAGES = ("instructions", "volume", "trials")


def _audio_url(ctx: AppContext, listener: ListenerState, position: int, slot) -> str:
    return AUDIO_PREFIX + stimulus_token(ctx.test.secret, listener.public_id, position, slot)


def _resume_link(token: str) -> str:
    base = (st.context.url or "").split("?")[0]
    return f"{base}?resume={token}"


def listener_page(ctx: AppContext) -> None:
    token = st.session_state.get("resume_token") or st.query_params.get("resume")
    listener = repo.find_listener(ctx.engine, ctx.test, token) if token else None
    if token and listener is None:
        st.error("This link does not belong to a listener of this test. Check the link, or start anew.")
        if st.button("Start as a new listener"):
            st.session_state.pop("resume_token", None)
            del st.query_params["resume"]
            st.rerun()
        return
    if listener is None:
        _consent_page(ctx)
        return
    st.session_state["resume_token"] = token
    if st.query_params.get("resume") != token:
        st.query_params["resume"] = token  # a reload now resumes this listener
    if listener.finished:
        _finish_page(ctx, listener)
        return
    if "stage" not in st.session_state:
        st.session_state["stage"] = "trials" if listener.n_done else "instructions"
    stage = st.session_state["stage"]
    if stage == "instructions":
        _instructions_page(ctx, token)
    elif stage == "volume":
        _volume_page(ctx, listener)
    else:
        _trial_page(ctx, listener, token)


def _consent_page(ctx: AppContext) -> None:
    cfg = ctx.config
    st.title(cfg.title)
    st.subheader("Consent")
    st.markdown(cfg.consent)
    agree = st.checkbox("I have read the above and agree to take part.", key="consent_agree")
    if st.button("Start", type="primary", disabled=not agree, key="consent_start"):
        participant = st.query_params.get(cfg.participant_param)
        agent = st.context.headers.get("User-Agent", "")
        _listener, token = repo.create_listener(ctx.engine, ctx.test, ctx.design, cfg, participant, agent)
        st.session_state["resume_token"] = token
        st.session_state["stage"] = "instructions"
        st.query_params["resume"] = token
        st.rerun()


def _instructions_page(ctx: AppContext, token: str) -> None:
    st.title(ctx.config.title)
    st.subheader("Instructions")
    st.markdown(ctx.config.instructions)
    st.info("Your personal link to continue later (keep it private):")
    st.code(_resume_link(token), language=None)
    if st.button("Continue", type="primary", key="instructions_done"):
        st.session_state["stage"] = "volume"
        st.rerun()


def _volume_page(ctx: AppContext, listener: ListenerState) -> None:
    st.title(ctx.config.title)
    st.subheader("Headphones and volume")
    st.markdown("Put on your headphones in a quiet place. Play this sample and set the volume to a "
                "comfortable level; keep it unchanged for the whole test.")
    url = _audio_url(ctx, listener, listener.trials[0].position, VOLUME_SLOT)
    st.html(f'<audio class="volume-check" controls preload="auto" src="{html.escape(url)}"></audio>')
    ok = st.checkbox("My headphones are on and the volume is comfortable.", key="volume_ok")
    if st.button("Start the test", type="primary", disabled=not ok, key="volume_done"):
        st.session_state["stage"] = "trials"
        st.rerun()


def _trial_page(ctx: AppContext, listener: ListenerState, token: str) -> None:
    trial = listener.next_trial
    scored = [t for t in listener.trials if not t.is_training]
    if trial.is_training:
        st.subheader("Training")
        st.caption("Get to know the range of quality: this page is not scored. The same rules apply.")
    else:
        number = 1 + [t.position for t in scored].index(trial.position)
        st.subheader(f"Trial {number} of {len(scored)}")
    st.progress(listener.n_done / len(listener.trials))
    if ctx.config.show_text:
        st.markdown(f"**Sentence:** {html.escape(ctx.item_text(trial.item_id))}")
    st.markdown(ctx.config.question)
    stimuli = [(SLOT_LABELS[slot], _audio_url(ctx, listener, trial.position, slot))
               for slot in range(len(trial.order))]
    rules = ctx.config.rules
    mushra_trial(
        trial_key=f"{listener.public_id}-{trial.position}",
        position=trial.position,
        reference_url=_audio_url(ctx, listener, trial.position, REFERENCE_SLOT),
        stimuli=stimuli,
        rules={"all_played": rules.all_played, "one_rated_100": rules.one_rated_100,
               "min_listen_s": rules.min_listen_s},
        submit_url=SUBMIT_PATH,
        resume_token=token,
        on_submitted=lambda: None,  # the rerun itself shows the next unfinished trial
        submit_label="Finish the test" if trial is listener.trials[-1] else "Submit and continue",
    )


def _finish_page(ctx: AppContext, listener: ListenerState) -> None:
    st.title("Thank you!")
    st.success("All your ratings are saved.")
    st.markdown("Your completion code:")
    st.code(listener.completion_code, language=None)
    link = completion_link(ctx.config.completion_url, listener.completion_code, listener.participant_id)
    if link:
        st.link_button("Return to the study platform", link, type="primary")
