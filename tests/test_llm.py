"""dlcourse.llm, the page's and widgets' language-model tools, against the exercise notebook's
reference solution (written separately) and against their definitions."""
import numpy as np
import pytest
import torch

from autograder import reference
from dlcourse import data, llm
from dlcourse.transformer import TinyTransformer


@pytest.fixture(scope="module")
def merges():
    return llm.bpe_train(data.course_text()[:15000], 60)


def test_bpe_agrees_with_the_exercise_reference_and_round_trips_any_text(merges):
    text = data.course_text()[:15000]
    assert merges == reference("07-llm", "bpe_train")(text, 60)
    for sample in (data.course_text()[20000:22000], "naïve café 😀  über\n\n 1234567", ""):
        ids = llm.bpe_encode(sample, merges)
        assert ids == reference("07-llm", "bpe_encode")(sample, merges)
        assert llm.bpe_decode(ids, merges) == sample
    assert llm.split_words("the cat  sat\n\n on") == ["the", " cat", " ", " sat", "\n\n", " on"]
    assert llm.bpe_train("aaab aaab", 10) == [(97, 97), (97, 98), (256, 257), (32, 258)]


def test_sampling_probs_follow_temperature_then_top_k_then_top_p():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    assert torch.allclose(llm.sampling_probs(logits, top_p=0.7), torch.tensor([0.625, 0.375, 0, 0], dtype=torch.float64))
    assert torch.allclose(llm.sampling_probs(logits, top_k=2), torch.tensor([0.625, 0.375, 0, 0], dtype=torch.float64))
    sharp = torch.tensor([0.25, 0.09, 0.0225, 0.0025], dtype=torch.float64)
    assert torch.allclose(llm.sampling_probs(logits, temperature=0.5), sharp / sharp.sum())
    # top-p reads the distribution that top-k left: of [0.5, 0.3] renormalised, 0.625 alone reaches 0.6
    assert torch.allclose(llm.sampling_probs(logits, top_k=2, top_p=0.6), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    rows = logits.expand(3, 4)
    assert torch.equal(llm.sample_next(rows, temperature=0), torch.zeros(3, dtype=torch.int64))
    a = llm.sample_next(rows, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, llm.sample_next(rows, generator=torch.Generator().manual_seed(1)))


def test_generation_with_a_cache_gives_the_tokens_of_generation_without_it():
    torch.manual_seed(0)
    model = TinyTransformer(13, 40, d_model=16, n_heads=2, n_layers=2, causal=True).double()
    prompt = torch.randint(0, 13, (3, 6))
    cached = llm.generate(model, prompt, 20, use_cache=True)
    assert cached.shape == (3, 26) and torch.equal(cached, llm.generate(model, prompt, 20, use_cache=False))
    assert torch.equal(cached, reference("07-llm", "generate")(model, prompt, 20))


def test_power_law_fit_recovers_a_law_and_lm_loss_skips_the_first_positions():
    N = np.geomspace(1e3, 1e7, 6)
    a, alpha, c = llm.fit_power_law(N, 5 * N ** -0.3 + 1.7)
    assert np.allclose([a, alpha, c], [5, 0.3, 1.7], rtol=1e-5)
    model = TinyTransformer(16, 8, d_model=8, n_heads=2, n_layers=1, causal=True)
    tokens = torch.randint(0, 16, (2, 8))
    logits = model(tokens[:, :-1])
    expected = torch.nn.functional.cross_entropy(logits[:, 1:].reshape(-1, 16), tokens[:, 2:].reshape(-1))
    assert torch.allclose(llm.lm_loss(model, tokens, skip=2), expected)
    assert abs(llm.perplexity(torch.zeros(5, 7), torch.arange(5)) - 7) < 1e-9
