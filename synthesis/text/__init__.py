"""Text front end: normalisation, one shared word segmentation, phonemes (gruut), syntax and
parse graph (spaCy), contextual word vectors (MiniLM). ``frontend.TextFrontend`` ties them."""
