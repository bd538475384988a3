"""`synthesis synthesize` and the Synthesizer API, with a tiny untrained checkpoint whose
output is the training mean (so WORLD gets sensible features), plus every bad input."""

import numpy as np
import pytest
import soundfile as sf
import torch

from synthesis.cli import main
from synthesis.models.backbone import ModelConfig, build_model
from synthesis.training.checkpoint import save_checkpoint
from synthesis.training.config import TrainConfig
from tests.synthesis.test_models import TINY


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, corpus):
    from synthesis.audio.io import load_audio
    from synthesis.features.acoustic import AcousticConfig

    clip = corpus.by_id()["LJ001-0002"]
    feats = AcousticConfig().vocoder("world").analyse(load_audio(clip.wav_path))
    cfg = TrainConfig(model=ModelConfig(**TINY))
    model = build_model(cfg.model)
    model.set_stats(feats.mean(0), feats.std(0), np.zeros(80), np.ones(80))
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        model.out.bias[61] = 5.0  # voiced everywhere
        model.postnet[-1].weight.zero_()
        model.postnet[-1].bias.zero_()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, {"system": "baseline", "config": cfg.to_dict(), "state_dict": model.state_dict(),
                           "step": 0, "metrics": {}})
    return path


def test_synthesizer_api(checkpoint):
    from synthesis.inference import Synthesizer

    synth = Synthesizer.from_checkpoint(checkpoint)
    assert synth.sample_rate == 22_050 and synth.vocoder.name == "world"
    info = synth.describe()
    assert info["system"] == "baseline" and len(info["checkpoint_hash"]) == 16 and info["vocoder"]["name"] == "world"
    texts = ["Hello, world.", "Mr. Smith paid $5.50 in 1862, it was IV o'clock!"]
    waves = synth.synthesise(texts)
    assert len(waves) == 2 and all(w.dtype == np.float32 and w.ndim == 1 and len(w) > 0 for w in waves)
    details = synth.synthesise_with_details(texts)
    for d in details:
        assert len(d["phonemes"]) == len(d["durations"]) == len(d["word_index"])
        assert int(d["durations"].sum()) * 256 == len(d["waveform"])
        assert d["word_index"].max() == len(d["words"]) - 1 and d["word_index"][0] == -1
        assert (d["durations"] >= 1).all()
    assert "dollars" in details[1]["normalized_text"] and "eighteen" in details[1]["normalized_text"]


def test_long_text_is_split_at_sentences(checkpoint):
    from synthesis.inference import Synthesizer, split_sentences

    text = " ".join(f"This is sentence number {i}, which is rather long and keeps going." for i in range(12))
    assert len(split_sentences(text)) == 12
    d = Synthesizer.from_checkpoint(checkpoint).synthesise_with_details([text])[0]
    assert len(d["words"]) > 12 * 10 and d["waveform"].size > 0


def test_cli_writes_wavs_and_reports_rtf(checkpoint, tmp_path, capsys):
    lines = tmp_path / "in.txt"
    lines.write_text("The first line.\n\nA second line, with a pause. And \U0001F600 an emoji.\n", encoding="utf-8")
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--file", str(lines), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "real-time factor" in err
    wavs = sorted((tmp_path / "o").glob("*.wav"))
    assert [w.name for w in wavs] == ["0001.wav", "0002.wav"]
    info = sf.info(str(wavs[0]))
    assert info.samplerate == 22_050 and info.frames > 0


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("?!... --", "no speakable English words"),
    ("\U0001F600\U0001F600", "no speakable English words"),
    ("\u4e16\u754c", "no speakable English words"),
    ("word " * 5000, "characters; at most"),
])
def test_cli_bad_text(checkpoint, tmp_path, capsys, text, message):
    out = tmp_path / "o"
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--text", text, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synthesis: error:") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_bad_checkpoints(checkpoint, tmp_path, capsys):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    other = tmp_path / "other.pt"
    torch.save({"format": "prosody-tts-checkpoint", "format_version": 7}, other)
    cases = [(tmp_path / "missing.pt", "does not exist"), (truncated, "truncated or corrupt"),
             (other, "format version 7")]
    for path, message in cases:
        out = tmp_path / "o"
        assert main(["synthesize", "--checkpoint", str(path), "--text", "Hello.", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert not out.exists()
    assert main(["synthesize", "--checkpoint", str(checkpoint), "--text", "Hello.", "--out", str(tmp_path / "o"),
                 "--vocoder", "griffinlim"]) == 2
    assert "vocoder griffinlim needs log_mel" in capsys.readouterr().err
