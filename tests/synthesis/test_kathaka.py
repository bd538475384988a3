"""Kathaka pieces: KL terms and schedule, free bits, reference encoder, parse graphs, samplers."""

import itertools

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from synthesis.models.backbone import ModelConfig, build_model
from synthesis.models.prosody.base import ProsodyContext
from synthesis.models.prosody.kathaka import (
    KathakaProsody,
    ReferenceEncoder,
    active_dims,
    free_bits_kl,
    gaussian_kl,
    kl_anneal_weight,
    kl_per_dim,
)
from synthesis.models.prosody.samplers import GATLayer, KathakaSampler
from synthesis.text.graph import batch_adjacency, n_edges, parse_adjacency
from synthesis.training.data import collate

TINY = {"d_model": 32, "enc_layers": 1, "enc_heads": 2, "enc_ff": 64, "dec_layers": 2, "dec_hidden": 64,
            "dec_dilations": (1, 2), "postnet_layers": 2, "postnet_channels": 16, "predictor_hidden": 32}
WORD_KEYS = ("word_pos", "word_depth", "word_open_class", "word_chunk_bio", "word_chunk_id", "word_punct_after",
             "word_to_next_punct", "word_from_prev_punct", "word_sentence", "word_is_punct")


def fake_text_item(rng, heads, n_phones=None, n_frames=None, deps=None):
    """Arrays of one utterance whose parse is ``heads`` (a root points to itself)."""
    n_words = len(heads)
    n_phones = n_phones or 2 * n_words + 2
    ids = rng.integers(14, 64, n_phones)
    ids[0], ids[-1] = 1, 2
    word_index = np.sort(rng.integers(0, n_words, n_phones))
    word_index[0] = word_index[-1] = -1
    item = {"phoneme_ids": ids.astype(np.int64), "stress": np.zeros(n_phones, np.int64),
            "word_index": word_index.astype(np.int64),
            "word_vectors": rng.normal(size=(n_words, 384)).astype(np.float32),
            "word_head": np.asarray(heads, np.int64),
            "word_dep": np.asarray(deps if deps is not None else rng.integers(0, 46, n_words), np.int64)}
    for k in WORD_KEYS:
        item[k] = np.zeros(n_words, np.int64)
    if n_frames:
        item["mel"] = rng.normal(size=(n_frames, 80)).astype(np.float32)
        item["target"] = rng.normal(size=(n_frames, 64)).astype(np.float32)
        item["target"][:, 61] = rng.integers(0, 2, n_frames)
        item["lf0"] = rng.normal(5.3, 0.2, n_frames).astype(np.float32)
        item["energy"] = rng.normal(-30, 5, n_frames).astype(np.float32)
    return item


# --- KL, schedule, free bits --------------------------------------------------------------------

def test_kl_terms_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(5, 3, generator=g) for _ in range(4))
    ref = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(0.0, 1.0))
    assert torch.allclose(kl_per_dim(mu_q, lv_q), ref, atol=1e-5)
    ref = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp()))
    assert torch.allclose(gaussian_kl(mu_q, lv_q, mu_p, lv_p), ref, atol=1e-5)
    assert kl_per_dim(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_kl_anneal_schedule():
    w = [kl_anneal_weight(s, 0.01, start=100, steps=200) for s in (0, 99, 100, 200, 300, 10_000)]
    assert w == pytest.approx([0.0, 0.0, 0.0, 0.005, 0.01, 0.01])
    assert kl_anneal_weight(5, 0.5, start=0, steps=0) == 0.5
    assert all(a <= b for a, b in itertools.pairwise(w))


def test_free_bits_floor_and_gradient():
    mu = torch.tensor([[0.05, 2.0], [-0.05, 1.0]], requires_grad=True)
    logvar = torch.zeros(2, 2)
    kl = kl_per_dim(mu, logvar)                              # dim 0: ~0.001 nats, dim 1: ~1.25 nats
    loss = free_bits_kl(kl, free_bits=0.5)
    assert float(loss.detach()) == pytest.approx(0.5 + float(kl[:, 1].mean().detach()))
    loss.backward()
    assert mu.grad[:, 0].abs().sum() == 0                   # under the floor: no pull to the prior
    assert mu.grad[:, 1].abs().sum() > 0
    assert float(free_bits_kl(kl, 0.0)) == pytest.approx(float(kl.mean(0).sum()))


def test_active_dims_counts_dimensions_that_vary():
    mu = torch.stack([torch.linspace(-1, 1, 8), torch.full((8,), 0.3), torch.linspace(0, 0.01, 8)], 1)
    assert float(active_dims(mu)) == 1.0
    assert float(active_dims(mu[:1])) == 0.0


# --- reference encoder and the module -----------------------------------------------------------

def test_reference_encoder_shapes_and_padding_invariance():
    torch.manual_seed(0)
    enc = ReferenceEncoder(80, (16, 16, 16), 8, latent_dim=3).eval()
    mel = torch.randn(2, 37, 80)
    mask = torch.arange(37)[None] < torch.tensor([[37], [21]])
    mel[1, 21:] = 99.0                                       # garbage in the padding
    mu, lv = enc(mel, mask)
    assert mu.shape == lv.shape == (2, 3)
    alone_mu, alone_lv = enc(mel[1:, :21], mask[1:, :21])
    assert torch.allclose(alone_mu[0], mu[1], atol=1e-5) and torch.allclose(alone_lv[0], lv[1], atol=1e-5)
    one = enc(torch.randn(1, 1, 80), torch.ones(1, 1, dtype=torch.bool))[0]   # a one-frame clip
    assert torch.isfinite(one).all()


def _ctx(module_dim, batch, reference=True, step=0):
    B, P = batch["phoneme_ids"].shape
    phone_mask = torch.arange(P)[None] < batch["phone_lens"][:, None]
    enc = torch.randn(B, P, module_dim)
    if not reference:
        return ProsodyContext(enc, phone_mask, batch["word_index"], batch)
    frame_mask = torch.arange(batch["mel"].shape[1])[None] < batch["frame_lens"][:, None]
    return ProsodyContext(enc, phone_mask, batch["word_index"], batch, batch["mel"], frame_mask, None, step)


def test_module_training_losses_metrics_and_masking():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = collate([fake_text_item(rng, [1, 1, 1], n_frames=30), fake_text_item(rng, [0, 0], n_frames=20)])
    mod = KathakaProsody(16, latent_dim=4, ref_channels=(16, 16), ref_gru=8, kl_weight=0.1,
                         kl_anneal_start=0, kl_anneal_steps=100, free_bits=0.0)
    out = mod(_ctx(16, batch, step=50))
    assert out.conditioning.shape == (2, batch["phoneme_ids"].shape[1], 16)
    assert out.conditioning[1, int(batch["phone_lens"][1]):].abs().sum() == 0      # padding untouched
    kl = out.losses["kathaka_kl"]
    assert float(kl) == pytest.approx(0.05 * float(out.extras["metrics"]["kathaka_kl_raw"]), rel=1e-4)
    assert {f"kathaka_kl_d{d}" for d in range(4)} <= set(out.extras["metrics"])
    assert "kathaka_active_dims" in out.extras["metrics"]
    assert float(mod(_ctx(16, batch, step=0)).losses["kathaka_kl"]) == 0.0           # annealed from zero
    mod.eval()
    a, b = mod(_ctx(16, batch)).conditioning, mod(_ctx(16, batch)).conditioning
    assert torch.equal(a, b)                                 # eval: the posterior mean, no noise


def test_text_only_modes_are_seeded_per_sentence_and_checked():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    items = [fake_text_item(rng, [1, 1, 1]), fake_text_item(rng, [0, 0])]
    mod = KathakaProsody(16, latent_dim=4, ref_channels=(16,), ref_gru=8).eval()
    assert mod.inference == "prior" and mod.label() == "kathaka-prior"
    z_pair = mod(_ctx(16, collate(items), reference=False)).extras["z"]
    z_alone = mod(_ctx(16, collate(items[1:]), reference=False)).extras["z"]
    assert torch.allclose(z_pair[1], z_alone[0])             # same sentence, same draw, any batch
    assert not torch.allclose(z_pair[0], z_pair[1])
    mod.set_inference("prior", temperature=0.0)
    assert mod(_ctx(16, collate(items), reference=False)).extras["z"].abs().sum() == 0
    with pytest.raises(ValueError, match="needs a stage-2 sampler"):
        mod.set_inference("mean")
    with pytest.raises(ValueError, match="must be one of"):
        mod.set_inference("nonsense")
    mod.set_inference("oracle")
    assert mod.wants_reference
    with pytest.raises(ValueError, match="needs the reference"):
        mod(_ctx(16, collate(items), reference=False))
    with_sampler = KathakaProsody(16, latent_dim=4, ref_channels=(16,), ref_gru=8, sampler="graph",
                                  sampler_args={"hidden": 16, "heads": 2}).eval()
    assert with_sampler.inference == "mean" and with_sampler.label() == "kathaka-graph"
    z = with_sampler(_ctx(16, collate(items), reference=False)).extras["z"]
    assert torch.allclose(z, with_sampler.predict(collate(items))[0])


def test_backbone_with_kathaka_trains_and_infers():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    items = [fake_text_item(rng, [1, 1, 1], n_phones=8, n_frames=40), fake_text_item(rng, [0, 0], n_phones=6, n_frames=25)]
    model = build_model(ModelConfig(system="kathaka", prosody="kathaka",
                                    prosody_args={"latent_dim": 4, "ref_channels": [16, 16], "ref_gru": 8}, **TINY))
    batch = collate(items)
    losses = model.losses(batch, model(batch, step=2000), 2000, {})
    assert "kathaka_kl" in losses and "kathaka_kl_d3" in losses
    parts = sum(float(v) for k, v in losses.items() if k != "total" and not k.startswith("kathaka_kl_")
                and k != "kathaka_active_dims" and k != "kathaka_kl_raw" and k != "kathaka_kl_weight")
    assert float(losses["total"]) == pytest.approx(parts, rel=1e-5)   # diagnostics are not in the total
    model.eval()
    oracle = model.infer(batch)["features"]
    text_only = model.infer({k: v for k, v in batch.items() if k not in ("mel", "frame_lens")})["features"]
    assert oracle.shape[0] == text_only.shape[0] == 2


# --- parse graph -----------------------------------------------------------------------------------

def test_graph_from_a_real_parse_with_punctuation():
    from synthesis.text.syntax import DEP_LABELS, analyse_syntax
    from synthesis.text.tokens import tokenize

    tokens = tokenize("The old man, tired, sat down. He slept.")
    syn = analyse_syntax(tokens)
    adj = parse_adjacency(syn.head)
    n = len(tokens)
    assert adj.shape == (n, n) and (adj == adj.T).all() and adj.diagonal().all()
    roots = [i for i in range(n) if syn.head[i] == i]
    assert len(roots) == 2 and adj[roots[0], roots[1]]       # sentence roots linked
    for i in range(n):
        if syn.head[i] != i:
            assert adj[i, syn.head[i]]
    comma = [t.text for t in tokens].index(",")
    assert DEP_LABELS[syn.dep[comma]] == "punct" and adj[comma].sum() >= 2   # punctuation is a node
    # tree + root link + self-loops: exactly 2 * (n - 1) off-diagonal entries, connected
    assert adj.sum() - n == 2 * (n - 1)
    reach = np.linalg.matrix_power(adj.astype(int), n) > 0
    assert reach.all()
    assert n_edges(syn.head) == n - 2


def test_graph_of_one_word_and_bad_heads():
    from synthesis.text.syntax import analyse_syntax
    from synthesis.text.tokens import tokenize

    syn = analyse_syntax(tokenize("Yes"))
    assert parse_adjacency(syn.head).tolist() == [[True]] and n_edges(syn.head) == 0
    syn = analyse_syntax(tokenize("Yes!"))
    assert parse_adjacency(syn.head).sum() == 4               # word, mark, one edge each way
    assert parse_adjacency(np.array([], np.int64)).shape == (0, 0)
    with pytest.raises(ValueError, match="out of range"):
        parse_adjacency(np.array([0, 5]))


def test_batch_adjacency_pads_with_self_loops_only():
    heads = torch.tensor([[1, 1, 1], [0, 0, 0]])
    adj = batch_adjacency(heads, torch.tensor([3, 1]))
    assert adj[0].tolist() == parse_adjacency(np.array([1, 1, 1])).tolist()
    assert adj[1].tolist() == [[True, False, False], [False, True, False], [False, False, True]]


# --- samplers --------------------------------------------------------------------------------------

def test_gat_layer_matches_a_per_node_computation():
    torch.manual_seed(0)
    layer = GATLayer(8, heads=2, dropout=0.0).eval()
    x = torch.randn(1, 4, 8)
    adj = torch.from_numpy(parse_adjacency(np.array([1, 1, 1, 2])))[None]
    out = layer(x, adj)
    h = layer.W(x[0]).view(4, 2, 4)
    expected = torch.zeros(4, 8)
    for i in range(4):
        nb = adj[0, i].nonzero().flatten()
        for k in range(2):
            e = torch.nn.functional.leaky_relu((h[i, k] * layer.a_dst[k]).sum() + (h[nb, k] * layer.a_src[k]).sum(-1), 0.2)
            expected[i, 4 * k:4 * k + 4] = (torch.softmax(e, 0)[:, None] * h[nb, k]).sum(0)
    expected = layer.norm(x[0] + torch.nn.functional.elu(expected))
    assert torch.allclose(out[0], expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "graph", "both"])
def test_sampler_shapes_and_padding_words_change_nothing(kind):
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    items = [fake_text_item(rng, [1, 1, 1, 2, 1]), fake_text_item(rng, [0]), fake_text_item(rng, [1, 1])]
    sampler = KathakaSampler(kind, latent_dim=5, hidden=16, heads=2).eval()
    mu, lv = sampler(collate(items))
    assert mu.shape == lv.shape == (3, 5) and torch.isfinite(mu).all() and torch.isfinite(lv).all()
    for i, it in enumerate(items):
        alone_mu, alone_lv = sampler(collate([it]))
        assert torch.allclose(alone_mu[0], mu[i], atol=1e-5) and torch.allclose(alone_lv[0], lv[i], atol=1e-5)
    batch = collate(items)                                   # garbage in the padding words
    pad = ~(torch.arange(5)[None] < batch["word_lens"][:, None])
    batch["word_vectors"][pad] = 50.0
    batch["word_dep"][pad] = 7
    batch["word_head"][pad] = 0
    assert torch.allclose(sampler(batch)[0], mu, atol=1e-5)


def test_graph_sampler_reads_the_tree_and_bert_sampler_does_not():
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    item = fake_text_item(rng, [1, 1, 1, 2], deps=[20, 0, 21, 41])
    rewired = dict(item, word_head=np.array([1, 1, 1, 1]))  # token 3 now hangs on 1, not 2
    graph = KathakaSampler("graph", 4, hidden=16, heads=2).eval()
    bert = KathakaSampler("bert", 4, hidden=16, heads=2).eval()
    assert not torch.allclose(graph(collate([item]))[0], graph(collate([rewired]))[0])
    assert torch.allclose(bert(collate([item]))[0], bert(collate([rewired]))[0])
    relabelled = dict(item, word_dep=np.array([1, 0, 21, 41]))
    assert not torch.allclose(graph(collate([item]))[0], graph(collate([relabelled]))[0])


def test_unknown_sampler_kind():
    with pytest.raises(ValueError, match="unknown Kathaka sampler"):
        KathakaSampler("lstm", 4)
