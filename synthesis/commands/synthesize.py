"""`synthesis synthesize`: speak text with a trained checkpoint, one wav per line/text."""

from __future__ import annotations

import sys
from pathlib import Path

from synthesis.commands import EXIT_OK
from synthesis.errors import SynthesisError

MAX_INPUT_CHARS = 20_000


def _read_texts(args) -> list[str]:
    if args.text is not None:
        texts = [args.text]
    else:
        path = Path(args.file)
        if not path.is_file():
            raise SynthesisError(f"{path}: text file does not exist")
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SynthesisError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
        texts = [line.strip() for line in raw.splitlines() if line.strip()]
        if not texts:
            raise SynthesisError(f"{path}: no text in the file")
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise SynthesisError("the text is empty")
        if len(t) > MAX_INPUT_CHARS:
            raise SynthesisError(f"text {i} has {len(t)} characters; at most {MAX_INPUT_CHARS} per line")
    return texts


def _cmd_synthesize(args) -> int:
    import time

    from synthesis.audio.io import write_wav
    from synthesis.inference import Synthesizer
    from synthesis.text.normalize import TextError, normalize_text

    texts = _read_texts(args)
    for i, t in enumerate(texts, 1):  # fail before loading the model, and before writing anything
        try:
            normalize_text(t)
        except TextError as exc:
            raise SynthesisError(f"text {i}: {exc}") from None
    synth = Synthesizer.from_checkpoint(args.checkpoint, vocoder=args.vocoder)
    t0 = time.perf_counter()
    details = synth.synthesise_with_details(texts)
    seconds = time.perf_counter() - t0
    audio_s = sum(len(d["waveform"]) for d in details) / synth.sample_rate
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, d in enumerate(details, 1):
        path = out / f"{args.prefix}{i:04d}.wav"
        tmp = path.with_name(f".{path.stem}.tmp.wav")
        write_wav(tmp, d["waveform"], synth.sample_rate)
        tmp.replace(path)
        print(f"{path}: {len(d['waveform']) / synth.sample_rate:.2f} s  {d['normalized_text'][:70]}")
    print(f"{len(details)} utterances, {audio_s:.1f} s of audio in {seconds:.2f} s: "
          f"real-time factor {seconds / max(audio_s, 1e-9):.3f} (acoustic model + {synth.vocoder.name} vocoder)",
          file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("synthesize", help="speak text with a trained checkpoint",
                       description="Synthesise --text or every non-empty line of --file into OUT/0001.wav, ...")
    p.add_argument("--checkpoint", required=True, help="e.g. checkpoints/baseline/model.pt")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to speak")
    src.add_argument("--file", help="UTF-8 text file, one utterance per line")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--vocoder", help="override the vocoder (must fit the model's features)")
    p.add_argument("--prefix", default="", help="file name prefix")
    p.set_defaults(func=_cmd_synthesize)
