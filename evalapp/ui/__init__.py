"""The Streamlit app: ``app.py`` (entry script), the listener flow and the admin page."""
