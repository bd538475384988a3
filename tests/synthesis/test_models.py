"""Backbone shapes and masks, the alignment pieces (MAS, prior, forward-sum), checkpoints."""

import itertools

import numpy as np
import pytest
import torch

from synthesis.models.alignment import (
    beta_binomial_prior,
    binarization_loss,
    forward_sum_loss,
    monotonic_alignment_search,
)
from synthesis.models.backbone import (
    Backbone,
    ModelConfig,
    build_model,
    durations_to_alignment,
    phone_position_features,
    same_architecture,
)
from synthesis.training.data import collate

TINY = dict(d_model=32, enc_layers=1, enc_heads=2, enc_ff=64, dec_layers=2, dec_hidden=64,
            dec_dilations=(1, 2), postnet_layers=2, postnet_channels=16, predictor_hidden=32)


def fake_item(rng, n_phones, n_frames, out_dim=64, n_words=4):
    ids = rng.integers(14, 64, n_phones)
    ids[0], ids[-1] = 1, 2
    word_index = np.sort(rng.integers(0, n_words, n_phones))
    word_index[0] = word_index[-1] = -1
    item = {"phoneme_ids": ids.astype(np.int64), "stress": rng.integers(0, 3, n_phones).astype(np.int64),
            "word_index": word_index.astype(np.int64),
            "word_vectors": rng.normal(size=(n_words, 384)).astype(np.float32),
            "mel": rng.normal(size=(n_frames, 80)).astype(np.float32),
            "target": rng.normal(size=(n_frames, out_dim)).astype(np.float32),
            "lf0": rng.normal(5.3, 0.2, n_frames).astype(np.float32),
            "energy": rng.normal(-30, 5, n_frames).astype(np.float32)}
    item["target"][:, 61] = rng.integers(0, 2, n_frames)
    for k in ("word_pos", "word_dep", "word_head", "word_depth", "word_open_class", "word_chunk_bio",
              "word_chunk_id", "word_punct_after", "word_to_next_punct", "word_from_prev_punct",
              "word_sentence", "word_is_punct"):
        item[k] = np.zeros(n_words, np.int64)
    return item


def brute_force_best_path(logp):
    """Best monotonic path by enumerating every duration split (tiny sizes only)."""
    T, P = logp.shape
    best, best_d = -np.inf, None
    for cuts in itertools.combinations(range(1, T), P - 1):
        bounds = (0,) + cuts + (T,)
        score = sum(logp[bounds[p]:bounds[p + 1], p].sum() for p in range(P))
        if score > best:
            best, best_d = score, [bounds[p + 1] - bounds[p] for p in range(P)]
    return best_d


def test_mas_matches_brute_force():
    rng = np.random.default_rng(0)
    for T, P in [(5, 2), (7, 3), (9, 4), (6, 6)]:
        logp = rng.normal(size=(T, P))
        hard = monotonic_alignment_search(torch.tensor(logp)[None].float(), torch.tensor([P]), torch.tensor([T]))[0]
        assert hard.sum(1).eq(1).all()  # each frame to exactly one phoneme
        assert hard.sum(0).tolist() == brute_force_best_path(logp)


def test_mas_respects_lengths_and_refuses_too_few_frames():
    logp = torch.zeros(2, 8, 5)
    hard = monotonic_alignment_search(logp, torch.tensor([5, 3]), torch.tensor([8, 4]))
    assert hard[1, 4:].sum() == 0 and hard[1, :, 3:].sum() == 0 and hard[1].sum() == 4
    with pytest.raises(ValueError):
        monotonic_alignment_search(logp, torch.tensor([5, 5]), torch.tensor([8, 4]))


def test_beta_binomial_prior_is_a_distribution_near_the_diagonal():
    prior = np.exp(beta_binomial_prior(10, 50))
    assert np.allclose(prior.sum(1), 1.0, atol=1e-5)
    peaks = prior.argmax(1)
    assert peaks[0] == 0 and peaks[-1] == 9 and np.all(np.diff(peaks) >= 0)


def test_forward_sum_prefers_the_true_alignment():
    T, P = 12, 4
    truth = durations_to_alignment(torch.tensor([[3, 3, 3, 3]]), torch.ones(1, P, dtype=torch.bool))[0]
    good = torch.log(truth * 0.97 + 0.01)
    bad = torch.log(truth.flip(2) * 0.97 + 0.01)
    lens = torch.tensor([P]), torch.tensor([T])
    assert forward_sum_loss(good, *lens) < forward_sum_loss(bad, *lens)
    assert binarization_loss(truth, good) < binarization_loss(truth, bad)


def test_durations_to_alignment():
    align, mask = durations_to_alignment(torch.tensor([[2, 1, 3], [1, 1, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]).bool())
    assert align.shape == (2, 6, 3) and mask.sum(1).tolist() == [6, 2]
    assert align[0].argmax(1).tolist() == [0, 0, 1, 2, 2, 2]
    assert align[1, 2:].sum() == 0


@pytest.mark.parametrize("system", ["baseline", "fs2"])
def test_shapes_and_padding_invariance(system):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(ModelConfig(system=system, pitch_energy=system == "fs2", **TINY)).eval()
    items = [fake_item(rng, 9, 40), fake_item(rng, 6, 25)]
    batch = collate(items)
    with torch.no_grad():
        out = model(batch)
    assert out["before"].shape == (2, 40, 64) and out["alignment"].shape == (2, 40, 9)
    assert out["durations"].sum(1).tolist() == [40, 25]
    assert out["after"][1, 25:].abs().sum() == 0  # padded frames stay zero
    losses = model.losses(batch, out, step=10_000, weights={})
    assert torch.isfinite(losses["total"])
    # the short item alone gives the same output as inside the padded batch
    with torch.no_grad():
        alone = model(collate([items[1]]))
    assert torch.allclose(alone["after"][0], out["after"][1, :25], atol=1e-4)
    inf = model.infer(batch)
    T = inf["features"].shape[1]
    assert inf["features"].shape[2] == 64 and inf["durations"].shape == (2, 9)
    assert inf["frame_mask"].sum(1).tolist() == inf["durations"].sum(1).tolist()
    assert set(inf["features"][..., 61].unique().tolist()) <= {0.0, 1.0}
    assert inf["durations"][1, 6:].sum() == 0 and T == int(inf["durations"].sum(1).max())


def test_config_round_trip_and_unknown_keys():
    cfg = ModelConfig(system="fs2", pitch_energy=True, **TINY)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"nonsense": 1})
    with pytest.raises(ValueError):
        build_model(ModelConfig(system="fs2", pitch_energy=False))


def test_prosody_hook_adds_conditioning():
    from synthesis.models.backbone import PROSODY_MODULES, register_prosody
    from synthesis.models.prosody import ProsodyModule, ProsodyOutput

    @register_prosody("test_constant")
    class Constant(ProsodyModule):
        needs_reference = False

        def __init__(self, dim, value=1.0):
            super().__init__()
            self.value = torch.nn.Parameter(torch.tensor(value))

        def forward(self, ctx):
            assert ctx.word_index.shape == ctx.phone_mask.shape
            cond = self.value * torch.ones_like(ctx.encoder_out) * ctx.phone_mask[..., None]
            return ProsodyOutput(cond, {"prosody_dummy": self.value ** 2})

    try:
        model = Backbone(ModelConfig(system="test", prosody="test_constant", prosody_args={"value": 0.5}, **TINY))
        batch = collate([fake_item(np.random.default_rng(1), 7, 30)])
        out = model(batch)
        losses = model.losses(batch, out, 0, {})
        assert "prosody_dummy" in losses
        assert model.infer(batch)["features"].shape[0] == 1
    finally:
        PROSODY_MODULES.pop("test_constant")


def test_cepstral_weighting_follows_the_cepstral_scale():
    """loss.cepstral_weighting: mel-cepstra c1.. weighted by their spread (mean 1), others 1."""
    model = build_model(ModelConfig(**TINY))
    std = torch.ones(64)
    std[1:60] = torch.linspace(2.0, 0.1, 59)
    model.target_std.copy_(std)
    assert torch.equal(model._cepstral_weights(0.0), torch.ones(64))
    w = model._cepstral_weights(1.0)
    assert torch.isclose(w[1:60].mean(), torch.tensor(1.0)) and torch.all(w[1:59] > w[2:60])
    assert torch.allclose(w[1:60] / w[1], std[1:60] / std[1])
    assert torch.equal(w[[0, 60, 61, 62, 63]], torch.ones(5))
    # the weighting changes the loss: an error in c1 costs more than the same error in c59
    rng = np.random.default_rng(0)
    batch = collate([fake_item(rng, 6, 30)])
    with torch.no_grad():
        out = model(batch)
    target = (batch["target"] - model.target_mean) / model.target_std
    for d, expect in ((1, "more"), (59, "less")):
        out_d = {**out, "after": target.clone(), "before": target.clone()}
        out_d["after"][..., d] += 1.0
        flat, weighted = (model.losses(batch, out_d, 0, {"cepstral_weighting": g})["feat_after"] for g in (0.0, 1.0))
        assert (weighted > flat) == (expect == "more")
    mel = build_model(ModelConfig(**{**TINY, "feature_kind": "log_mel", "out_dim": 80, "binary_dims": ()}))
    assert torch.equal(mel._cepstral_weights(1.0), torch.ones(80))


def test_f0_weight_scales_only_the_log_f0_error():
    """loss.f0: the WORLD log-F0 dimension's error counts `f0` times; no other dim changes, and a
    log-mel model (no F0 dimension) is unaffected."""
    model = build_model(ModelConfig(**TINY))
    w = model._f0_weight(10.0)
    assert w[60] == 10.0 and torch.equal(torch.cat([w[:60], w[61:]]), torch.ones(63))
    assert torch.equal(model._f0_weight(1.0), torch.ones(64))
    batch = collate([fake_item(np.random.default_rng(2), 6, 30)])
    with torch.no_grad():
        out = model(batch)
    target = (batch["target"] - model.target_mean) / model.target_std
    exact = model.losses(batch, {**out, "after": target.clone(), "before": target.clone()}, 0, {})
    for d, factor in ((60, 10.0), (5, 1.0)):
        out_d = {**out, "after": target.clone(), "before": target.clone()}
        out_d["after"][..., d] += 1.0
        plain, weighted = (model.losses(batch, out_d, 0, {"f0": f})["feat_after"] for f in (1.0, 10.0))
        assert torch.isclose(weighted - exact["feat_after"], factor * (plain - exact["feat_after"]), rtol=1e-4)
    mel = build_model(ModelConfig(**{**TINY, "feature_kind": "log_mel", "out_dim": 80, "binary_dims": ()}))
    assert torch.equal(mel._f0_weight(10.0), torch.ones(80))


def test_phone_position_features_locate_frames_inside_their_phoneme():
    """Each frame gets its relative position in its phoneme (sin/cos harmonics) and the phoneme's
    log length; padded frames get zeros; frames at the same place in equal phonemes agree."""
    durations = torch.tensor([[2, 3, 2, 0]])
    alignment, _ = durations_to_alignment(durations, torch.tensor([[True, True, True, False]]))
    feats = phone_position_features(alignment)
    assert feats.shape == (1, 7, 9)
    # first harmonic's sine: sin(pi * r), r = (i + 0.5) / d, symmetric inside a phoneme
    assert torch.allclose(feats[0, :, 0], torch.sin(torch.pi * torch.tensor([0.25, 0.75, 1 / 6, 0.5, 5 / 6, 0.25, 0.75])))
    assert torch.allclose(feats[0, 0], feats[0, 5]) and torch.allclose(feats[0, 1], feats[0, 6])
    assert torch.allclose(feats[0, 2:5, -1], torch.full((3,), float(np.log(3)) / 3))
    padded = torch.cat([alignment, torch.zeros(1, 2, 4)], 1)       # two frames outside every phoneme
    assert torch.equal(phone_position_features(padded)[0, 7:], torch.zeros(2, 9))


def test_phone_position_reaches_the_decoder_and_old_configs_load_without_it():
    rng = np.random.default_rng(1)
    batch = collate([fake_item(rng, 6, 30)])
    plain = build_model(ModelConfig(**TINY))
    assert not hasattr(plain, "phone_position")
    assert ModelConfig.from_dict({k: v for k, v in ModelConfig(**TINY).to_dict().items()
                                  if k != "phone_position"}).phone_position is False
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY, phone_position=True)).eval()
    with torch.no_grad():
        out = model(batch)
        model.phone_position.weight.zero_()
        model.phone_position.bias.zero_()
        out_off = model(batch)
    assert out["after"].shape == out_off["after"].shape and not torch.allclose(out["after"], out_off["after"])


def test_delta_loss_penalises_blurred_transitions():
    """loss.delta: a prediction with the right frame values on average but a smeared step costs
    more under the delta loss than one with an offset but the right frame-to-frame changes."""
    model = build_model(ModelConfig(**TINY))
    rng = np.random.default_rng(0)
    batch = collate([fake_item(rng, 6, 30)])
    with torch.no_grad():
        out = model(batch)
    target = (batch["target"] - model.target_mean) / model.target_std
    shifted = {**out, "after": target + 0.3, "before": target + 0.3}
    assert "delta_after" not in model.losses(batch, shifted, 0, {})
    losses = model.losses(batch, shifted, 0, {"delta": 1.0})
    assert losses["delta_after"] < 1e-5 and losses["feat_after"] > 0.1
    smooth = target.clone()
    smooth[:, 1:-1] = (target[:, :-2] + target[:, 1:-1] + target[:, 2:]) / 3
    smeared = {**out, "after": smooth, "before": smooth}
    assert model.losses(batch, smeared, 0, {"delta": 1.0})["delta_after"] > 0.1
    assert torch.isclose(model.losses(batch, smeared, 0, {"delta": 2.0})["delta_after"],
                         2 * model.losses(batch, smeared, 0, {"delta": 1.0})["delta_after"])


def test_same_architecture_counts_settings_added_later_as_their_defaults():
    """A run or checkpoint from before a model setting existed resumes / matches when the
    current config leaves that setting at its default, and not when it turns it on."""
    current = ModelConfig(**TINY).to_dict()
    older = {k: v for k, v in current.items() if k != "phone_position"}
    assert same_architecture(older, current)
    assert not same_architecture(older, {**current, "phone_position": True})
    assert not same_architecture(older, {**current, "d_model": 48})
    assert not same_architecture({**older, "width": 3}, current)      # unknown key: compared as is
