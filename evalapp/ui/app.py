"""The Streamlit entry script (started by ``evalapp serve``; settings come from the environment).

Two pages: the listening test at ``/`` and the admin page at ``/admin``.
"""

import os

import streamlit as st

from evalapp.context import ENV_SETTINGS, shared_context
from evalapp.ui.admin import admin_page
from evalapp.ui.listener import listener_page

ctx = shared_context(os.environ[ENV_SETTINGS])
st.set_page_config(page_title=ctx.config.title, layout="wide", initial_sidebar_state="collapsed")


def listening_test():
    listener_page(ctx)


def admin():
    admin_page(ctx)


page = st.navigation([
    st.Page(listening_test, title="Listening test", url_path="test", default=True),
    st.Page(admin, title="Admin", url_path="admin"),
], position="hidden")
page.run()
