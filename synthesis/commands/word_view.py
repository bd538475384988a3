"""`synthesis word-view`: per-word F0 and duration of the recordings and of TTS checkpoints."""

from __future__ import annotations

from synthesis.commands import EXIT_OK


def _cmd_word_view(args) -> int:
    from synthesis.evaluation.word_view import run_word_view

    png, js = run_word_view(args.checkpoint or [], args.out, args.clip, args.n_clips, args.split, args.corpus)
    print(f"word view written to {png} and {js}")
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("word-view", help="plot per-word F0 and duration of recordings and TTS systems",
                       description="For a few clips, every system speaks the text and each word's mean F0 and "
                                   "duration are measured beside the recording's (timed by pocketsphinx "
                                   "forced alignment, else the first checkpoint's aligner). See docs/camp.md.")
    p.add_argument("--checkpoint", action="append", metavar="[NAME=]PATH",
                   help="a TTS checkpoint (repeat; the first one's aligner times a recording that "
                        "pocketsphinx cannot align)")
    p.add_argument("--out", required=True, help="folder for word_view.png and word_view.json")
    p.add_argument("--clip", action="append", help="a clip id (repeat); default: the first --n-clips of --split")
    p.add_argument("--n-clips", type=int, default=4)
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--corpus", help="corpus folder (default: the bundled corpus)")
    p.set_defaults(func=_cmd_word_view)
