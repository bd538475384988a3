"""The admin page: progress per listener and per item/condition, a live summary, export.

Protected by the token given to ``evalapp serve`` (compared in constant time); nothing on this
page is computed or shown before the token matches.
"""

from __future__ import annotations

import hmac
import os

import pandas as pd
import streamlit as st

from evalapp.context import ENV_ADMIN_TOKEN, AppContext
from evalapp.export import table, to_csv
from evalapp.storage import repository as repo


def token_matches(given: str, expected: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def admin_page(ctx: AppContext) -> None:
    st.title(f"Admin · {ctx.test.name}")
    if not st.session_state.get("admin_ok"):
        given = st.text_input("Admin token", type="password", key="admin_token")
        if st.button("Sign in", key="admin_sign_in"):
            if token_matches(given, os.environ.get(ENV_ADMIN_TOKEN)):
                st.session_state["admin_ok"] = True
                st.rerun()
            st.error("Wrong admin token.")
        return
    _live_summary(ctx)
    st.subheader("Export")
    fmt = st.radio("Format", ["tidy", "webmushra"], horizontal=True, key="admin_export_format")
    header, rows = table(ctx.engine, ctx.test.name, fmt)
    st.download_button(f"Download {fmt} CSV ({len(rows)} rows)", to_csv(header, rows),
                       file_name=f"{ctx.test.name}-{fmt}.csv", mime="text/csv", key="admin_download")


@st.fragment(run_every="10s")
def _live_summary(ctx: AppContext) -> None:
    progress = pd.DataFrame(repo.listener_progress(ctx.engine, ctx.test))
    n_listeners = len(progress)
    n_finished = int(progress["finished"].notna().sum()) if n_listeners else 0
    summary = pd.DataFrame(repo.condition_summary(ctx.engine, ctx.test.name))
    cols = st.columns(3)
    cols[0].metric("Listeners", n_listeners)
    cols[1].metric("Finished", n_finished)
    cols[2].metric("Scored ratings", int(summary["n"].sum()) if len(summary) else 0)
    st.subheader("Per condition (scored trials)")
    if len(summary):
        summary["mean"] = summary["mean"].astype(float).round(1)
        st.dataframe(summary, hide_index=True, width="stretch")
    else:
        st.caption("No scored ratings yet.")
    st.subheader("Ratings per item and condition")
    counts = pd.DataFrame(repo.item_condition_counts(ctx.engine, ctx.test.name))
    if len(counts):
        st.dataframe(counts.pivot(index="item", columns="condition", values="n").fillna(0).astype(int),
                     width="stretch")
    st.subheader("Listeners")
    if n_listeners:
        st.dataframe(progress, hide_index=True, width="stretch")
