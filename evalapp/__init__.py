"""evalapp: the MUSHRA listening test (ITU-R BS.1534-3) in the browser.

Layers: ``config`` and ``flow`` are pure (no Streamlit, no SQL); ``storage`` holds the SQLAlchemy
models, repository functions and Alembic migrations; ``api`` serves stimuli and trial submits over
HTTP; ``ui`` is the Streamlit app and the Web Audio MUSHRA component; ``cli`` parses and calls.
"""

__version__ = "0.1.0"
