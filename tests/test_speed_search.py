"""The greedy code search of the lower efforts: each stage's nearest code, with the
latent error left after each stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqcodec import coders, effort, openvino_net, ratecontrol, threads, transform
from vqcodec.quantizer import ResidualVQ, narrow_beam
from vqcodec.transform import Greedy, network, search_paths


def test_greedy_search_is_the_quantizers_nearest_codes():
    torch.manual_seed(0)
    vq = ResidualVQ(4, 32, 8)
    z = torch.randn(300, 8) * 0.3
    idx, err = Greedy(vq.codebooks, 4)(z)
    assert torch.equal(idx.T, vq.quantize(z, 4))
    residual = z.clone()
    for s in range(4):  # the quantizer's residuals, float for float
        residual = residual - vq.codebooks[s][idx[s]]
        assert torch.equal(err[s], residual.pow(2).sum(1))
    # nearest in exact arithmetic too, wherever the runner-up is not within rounding
    residual = z.double()
    for s in range(4):
        dist = torch.cdist(residual, vq.codebooks[s].double()).pow(2)
        best = dist.min(1).values
        runner_up = dist.sort(1).values[:, 1]
        clear = runner_up - best > 1e-5
        assert torch.equal(idx[s][clear], dist.argmin(1)[clear]) and clear.float().mean() > 0.99
        residual = residual - vq.codebooks[s][idx[s]].double()


def test_greedy_paths_extend_one_another_and_match_the_latents(tiny_model, photo):
    net = network(tiny_model.net, "cpu", 2, "bf16")
    paths = search_paths(net, photo, tiny_model.stages, None)
    deep = paths[-1]
    z = torch.cat([rows for _, rows, _ in transform._latent_blocks(net, photo, "cpu")])
    assert all(np.array_equal(p, deep[: d + 1]) for d, p in enumerate(paths))
    idx, err = Greedy(tiny_model.net.quantizer.codebooks, tiny_model.stages)(z)
    blocks = list(transform._latent_blocks(net, photo, "cpu"))
    start = 0
    for (rs, cs), rows, _shape in blocks:
        n = len(rows)
        got = deep[:, rs, cs].reshape(len(deep), -1)
        assert np.array_equal(got, idx[:, start : start + n].numpy())
        assert np.array_equal(
            paths.latent_error[:, rs, cs].reshape(len(deep), -1),
            err[:, start : start + n].double().numpy(),
        )
        start += n


def test_errors_around_a_first_choice_follow_latent_error_like_whole_image_passes():
    rng = np.random.default_rng(0)
    latent = np.sort(rng.random((6, 3, 4)), 0)[::-1] * 1e-3  # falls with depth
    measured = {2: rng.random((3, 4)) * 300, 5: rng.random((3, 4)) * 100}
    maps = np.stack([np.full((3, 4), d) for d in measured])
    around = effort.estimate_around(maps, np.stack(list(measured.values())), latent)
    assert np.allclose(around, effort.estimate_errors(measured, latent))
    # per position: depths 1 and 3 measured at one, 4 and 6 at another
    maps = np.array([[[1, 4]], [[3, 6]]])
    errors = np.array([[[90.0, 40.0]], [[50.0, 10.0]]])
    out = effort.estimate_around(maps, errors, latent[:, :1, :2])
    assert out[0, 0, 0] == 90 and out[2, 0, 0] == 50 and out[3, 0, 1] == 40 and out[5, 0, 1] == 10
    assert 50 <= out[1, 0, 0] <= 90 and 10 <= out[4, 0, 1] <= 40


def test_every_effort_below_the_highest_decodes_no_more_than_five_maps():
    for level in range(1, effort.HIGHEST):
        assert effort.effort(level).pass_count(12) <= 5
    assert effort.effort(effort.HIGHEST).pass_count(12) == 12


def test_nested_paths_are_priced_as_every_path_is(tiny_model, photo):
    rate = ratecontrol.RateModel(
        tiny_model, 300.0, coders.for_model(tiny_model), effort=effort.effort(1), threads=2
    )
    paths = rate.paths(photo)
    assert paths.nested
    copied = transform.Paths([p.copy() for p in paths], paths.latent_error)
    assert np.array_equal(rate.shared_bits(paths), rate.shared_bits(copied))
    one = coders.position_bits(rate.coder, paths[-1], tiny_model)
    assert np.array_equal(rate.bits(paths[-1]), one)  # priced on 2 threads


@pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")
@pytest.mark.parametrize("tiled", [True, False])
def test_blocks_searched_on_parallel_workers_give_the_sequential_paths(
    tiny_model, photo, monkeypatch, tiled
):
    from vqcodec.model import VQVAE, ModelConfig

    monkeypatch.setattr(transform, "PARALLEL_BLOCK", (1, 2))  # many small blocks
    torch.manual_seed(0)
    cfg = ModelConfig(channels=(8, 8, 8), enc_blocks=1, stages=4, codebook_size=16)
    net = tiny_model.net if tiled else VQVAE(ModelConfig(**{**vars(cfg), "tiled_encoder": False}))
    found = []
    for count in (1, 2):
        with threads.using(count):
            found.append(search_paths(network(net.eval(), "cpu", count, "bf16"), photo, 4, None))
    assert np.array_equal(found[0][-1], found[1][-1])
    assert np.array_equal(found[0].latent_error, found[1].latent_error)


@pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")
def test_a_compiled_stack_runs_on_several_threads_at_once(tiny_model, photo):
    from concurrent.futures import ThreadPoolExecutor

    run = transform._numpy_stack(tiny_model.net, "encoder", "f32", 1)
    x = photo[None, :64, :64].transpose(0, 3, 1, 2).astype(np.float32) / 255
    inputs = [x * (1 + i / 10) for i in range(8)]
    alone = [run(v) for v in inputs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(run, inputs))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


@pytest.mark.skipif(not openvino_net.available(), reason="needs OpenVINO")
@pytest.mark.parametrize("native", [False, True])
def test_lower_efforts_run_bf16_only_where_the_cpu_has_it(tiny_model, monkeypatch, native):
    # emulated bf16 made the networks 3.4-4.4x slower than float32 on a CPU without it
    monkeypatch.setattr(openvino_net, "native_bf16", lambda: native)
    rate = ratecontrol.RateModel(
        tiny_model, 1.0, coders.for_model(tiny_model), effort=effort.effort(3)
    )
    assert rate.net().precision == ("bf16" if native else "f32")


def test_greedy_marks_the_latents_whose_nearest_code_is_in_doubt():
    torch.manual_seed(1)
    vq = ResidualVQ(4, 32, 8)
    z = torch.randn(400, 8) * 0.3
    margin = 0.05
    doubt = torch.zeros(len(z), dtype=torch.bool)
    idx, _ = Greedy(vq.codebooks, 4, margin)(z, doubt)
    want = torch.zeros(len(z), dtype=torch.bool)
    residual = z.clone()
    for s in range(transform.DOUBT_STAGES):  # brute force: the two nearest of each stage
        dist = (residual[:, None] - vq.codebooks[s][None]).pow(2).sum(2).sort(1).values
        want |= dist[:, 1] - dist[:, 0] < margin * residual.pow(2).sum(1)
        residual = residual - vq.codebooks[s][idx[s]]
    clear = (want == doubt).float().mean()
    assert 0.1 < want.float().mean() < 0.9 and clear > 0.99  # rounding may flip a borderline row
    every = torch.zeros(len(z), dtype=torch.bool)
    Greedy(vq.codebooks, 4, float("inf"))(z, every)
    assert bool(every.all())


def test_beam_only_in_doubt_keeps_greedy_paths_elsewhere_and_the_beams_where_in_doubt(
    tiny_model, photo
):
    net = network(tiny_model.net, "cpu", 1, "f32")
    books = tiny_model.net.quantizer.codebooks.detach().float()
    stages = tiny_model.stages
    plain = torch.full((stages, books.shape[1]), 0.01)

    def beam(z):
        return narrow_beam(books, z, 3, plain)

    greedy = search_paths(net, photo, stages, None)
    everywhere = search_paths(net, photo, stages, beam, doubt=float("inf"))
    mixed = search_paths(net, photo, stages, beam, doubt=0.05)
    z = torch.cat([rows for _, rows, _ in transform._latent_blocks(net, photo, "cpu")])
    doubt = torch.zeros(len(z), dtype=torch.bool)
    Greedy(books, stages, 0.05)(z, doubt)
    at = np.zeros(greedy[0].shape[1:], dtype=bool)
    start = 0
    for (rs, cs), rows, shape in transform._latent_blocks(net, photo, "cpu"):
        at[rs, cs] = doubt[start : start + len(rows)].reshape(shape).numpy()
        start += len(rows)
    assert 0 < at.mean() < 1
    differs = False
    for d in range(stages):
        assert np.array_equal(mixed[d][:, ~at], greedy[d][:, ~at])
        assert np.array_equal(mixed[d][:, at], everywhere[d][:, at])
        assert np.array_equal(mixed.latent_error[d][at], everywhere.latent_error[d][at])
        differs |= not np.array_equal(everywhere[d], greedy[d])
    assert differs and not mixed.nested
