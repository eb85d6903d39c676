"""Per-tile depth: the quality ladder, the error and rate it weighs, and what it picks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import synthetic_photo

import vqcodec
from vqcodec import codec, coders, container, ratecontrol
from vqcodec.quantizer import narrow_beam


def mixed(h: int = 96, w: int = 128) -> np.ndarray:
    """A flat left half beside a noisy right half."""
    img = synthetic_photo(h, w, seed=7).astype(np.int32)
    img[:, : w // 2] = 128
    img[:, w // 2 :] += np.random.default_rng(7).integers(-40, 40, (h, w - w // 2, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("stages", [1, 2, 3, 8, 12])
def test_ladder_runs_from_one_stage_to_all(stages):
    mus = [ratecontrol.quality_mu(q, stages) for q in range(1, stages + 1)]
    assert mus[-1] == 0.0
    if stages > 1:
        assert math.isinf(mus[0])
    assert all(a > b for a, b in zip(mus[:-1], mus[1:], strict=True))


def test_tile_sse_counts_only_the_images_pixels():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    decoded = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    got = ratecontrol.tile_sse(decoded, rgb)
    err = ((decoded[:40, :70].astype(np.int64) - rgb) ** 2).sum(2)
    assert got.shape == (2, 3)
    for r in range(2):
        for c in range(3):
            assert got[r, c] == err[32 * r : 32 * r + 32, 32 * c : 32 * c + 32].sum()


def test_tile_sum_adds_stages_and_positions():
    bits = np.arange(3 * 8 * 4, dtype=np.float64).reshape(3, 8, 4)
    got = ratecontrol.tile_sum(bits)
    assert got.shape == (2, 1)
    assert got[1, 0] == bits[:, 4:, :].sum() and got[0, 0] == bits[:, :4, :].sum()


MID = 7  # a middle quality (mu about 500)
TINY_MID = 5  # the tiny model's untrained decoder gains little per stage: its depths vary at 5


def _rate(model, mu):
    return ratecontrol.RateModel(model, mu, coders.for_model(model))


def _paths(model, img, quality=MID):
    return _rate(model, ratecontrol.quality_mu(quality, model.stages)).paths(img)


def test_beam_search_with_width_one_and_no_rate_is_greedy(tiny_model):
    q = tiny_model.net.quantizer
    z = torch.randn(500, q.dim, generator=torch.Generator().manual_seed(0))
    greedy = q.quantize(z, 5)
    zero = torch.zeros(q.stages, q.size)
    paths = q.beam_search(z, 5, 1, 0.0, zero)
    assert paths.shape == (5, 500, 5)
    for d in range(5):
        assert torch.equal(paths[d, :, : d + 1], greedy[:, : d + 1])
        assert (paths[d, :, d + 1 :] == 0).all()


def test_beam_search_prices_codes_by_the_previous_code(tiny_model):
    """With a heavy rate weight the beam follows the cheapest codes: from stage 1 on,
    those the context tables make cheap after the path's previous code."""
    q = tiny_model.net.quantizer
    z = torch.randn(50, q.dim, generator=torch.Generator().manual_seed(3))
    plain = torch.full((q.stages, q.size), 8.0)
    plain[:, 5] = 0.0  # code 5 is free without context
    context = torch.full((q.stages, q.size, q.size), 8.0)
    context[:, :, 7] = 0.0  # code 7 is free after any code
    paths = q.beam_search(z, 3, 4, 1e6, plain, context, context_from=1)
    assert (paths[2, :, 0] == 5).all() and (paths[2, :, 1:3] == 7).all()
    no_context = q.beam_search(z, 3, 4, 1e6, plain)
    assert (no_context[2, :, :3] == 5).all()


@pytest.mark.slow
def test_beam_search_finds_closer_paths_than_greedy(model, photo):
    """On a photo's latents, eight paths per stage cut the error of every depth past
    the first by more than 10 % (measured: 15-30 %)."""
    q = model.net.quantizer
    with torch.inference_mode():
        z = model.net.encode(torch.from_numpy(photo[:64, :96]).permute(2, 0, 1)[None] / 255.0)
        z = z[0].permute(1, 2, 0).reshape(-1, z.shape[1])
        zero = torch.zeros(q.stages, q.size)
        greedy = q.beam_search(z, q.stages, 1, 0.0, zero)
        beam = q.beam_search(z, q.stages, 8, 0.0, zero)

        def err(p, d):
            return (z - q.dequantize(p[d - 1, :, :d])).pow(2).sum(1).mean()

        assert torch.equal(beam[0], greedy[0])
        for d in range(2, q.stages + 1):
            assert err(beam, d) < 0.9 * err(greedy, d)


@pytest.mark.slow
def test_flat_tiles_get_fewer_stages(model):
    img = mixed()
    paths = _paths(model, img)
    assert [p.shape for p in paths] == [(d, 12, 16) for d in range(1, model.stages + 1)]

    grid = _rate(model, 100.0).depths(img, paths, per_position=False)
    depths = grid[::4, ::4]
    assert np.array_equal(container.tiles_to_grid(depths), grid)
    assert depths.shape == (3, 4) and depths.dtype == np.uint8
    assert depths[:, 0].max() < depths[:, 2:].min()  # column 1 sees the noise nearby
    assert depths[:, :2].mean() < depths[:, 2:].mean()
    assert (_rate(model, math.inf).depths(img, paths, per_position=False) == 1).all()
    assert (_rate(model, 0.0).depths(img, paths, per_position=False) == model.stages).all()
    indices = ratecontrol.assemble(paths, grid)
    assert indices.shape == (depths.max(), 12, 16) and indices.dtype == np.int32
    d = int(depths[2, 3])
    assert np.array_equal(indices[:d, 8:, 12:], paths[d - 1][:, 8:, 12:])
    assert (indices[d:, 8:, 12:] == 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vqcodec-base-v1", "vqcodec-base-v2"])
def test_depth_files_carry_the_encoders_indices(name):
    """Coder 1 and coder 2 both code exactly the present positions, in the right order."""
    m = vqcodec.get_model(name)
    img = mixed()
    data = vqcodec.compress(img, MID, model=m)
    f = container.parse(data)
    assert f.format_version in (2, 3) and f.depths.min() < f.depths.max() == f.stages
    full = ratecontrol.assemble(_paths(m, img), container.position_depths(f))
    back = codec.decode_streams(f, m)
    for s, mask in enumerate(codec.stage_masks(f)):
        assert np.array_equal(back[s][mask], full[s][mask])
        assert (back[s][~mask] == 0).all()
        assert f.symbols[s] == mask.sum()


def test_end_qualities_write_version_1(tiny_model, photo):
    for q in (1, tiny_model.stages):
        f = container.parse(vqcodec.compress(photo, q, model=tiny_model))
        assert f.format_version == 1 and f.depths is None and f.stages == q


def test_qualities_are_points_of_the_mu_ladder(tiny_model, photo):
    """A quality is its ladder's mu: encoding at that mu gives the same file."""
    for q in range(1, tiny_model.stages + 1):
        mu = ratecontrol.quality_mu(q, tiny_model.stages)
        data = vqcodec.compress(photo, q, model=tiny_model)
        assert codec.encode_at(photo, "RGB", tiny_model, mu) == data


@pytest.mark.slow
def test_rate_rises_with_quality(model, photo):
    sizes = [len(vqcodec.compress(photo, q)) for q in (1, 3, 8, model.stages)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


@pytest.mark.slow
def test_depth_beats_uniform_stages_on_a_mixed_image(model):
    """Spending stages where they pay gives more PSNR per bit than the same stages
    everywhere: the depth file costs far less than its deepest tile's depth used
    everywhere, and loses little quality against it."""
    from vqcodec.metrics import psnr
    from vqcodec.transform import decode_indices

    img = mixed()
    f = container.parse(vqcodec.compress(img, 8))
    ours = psnr(np.asarray(vqcodec.decompress(container.write(f))), img)
    full = _paths(model, img, 8)[f.stages - 1]
    uniform_bits = sum(codec.ideal_bits(full, model))
    uniform = psnr(decode_indices(model.net, full)[:96, :128], img)
    assert 32 * sum(len(w) for w in f.streams) < 0.8 * uniform_bits
    assert ours > uniform - 1.0


def test_progress_wraps_the_encoder_blocks_and_each_decoder_pass(tiny_model, photo):
    seen = []

    def progress(items, desc, **kw):
        for item in items:
            seen.append(desc if desc == "encoding" else item)
            yield item

    plain = vqcodec.compress(photo, 3, model=tiny_model, effort=5)
    assert vqcodec.compress(photo, 3, model=tiny_model, effort=5, progress=progress) == plain
    assert seen == ["encoding", *range(1, tiny_model.stages + 1)]
    seen.clear()
    vqcodec.compress(photo, 1, model=tiny_model, progress=progress)
    assert seen == ["encoding"]  # quality 1 needs no depth search


def test_block_sse_sums_to_tile_sse():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)
    decoded = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    blocks = ratecontrol.block_sse(decoded, rgb)
    assert blocks.shape == (8, 12)
    err = ((decoded[:40, :70].astype(np.int64) - rgb) ** 2).sum(2)
    assert blocks[1, 2] == err[8:16, 16:24].sum() and blocks[5:, :].sum() == 0
    assert np.array_equal(ratecontrol.tile_sum(blocks), ratecontrol.tile_sse(decoded, rgb))


@pytest.mark.slow
def test_position_depths_follow_detail_inside_tiles(model):
    """Per position, the flat half drops stages the noisy half keeps, and the map is
    smooth enough that its bits stay small next to the indices'."""
    from vqcodec import depthcode

    img = mixed()
    paths = _paths(model, img)
    rate = _rate(model, ratecontrol.quality_mu(MID, model.stages))
    grid = rate.depths(img, paths)
    assert grid.shape == (12, 16) and grid.dtype == np.uint8
    assert grid[:, :6].mean() < grid[:, 10:].mean()
    index_bits = rate.bits(ratecontrol.assemble(paths, grid)).sum()
    assert depthcode.bits(grid, model.stages) < 0.1 * index_bits
    ones = _rate(model, math.inf).depths(img, paths[:1])
    full = _rate(model, 0.0).depths(img, paths)
    assert (ones == 1).all() and (full == model.stages).all()


def test_depth_costs_price_any_mu_without_decoding_again(model):
    """One set of per-depth costs gives, at each mu, the choice a fresh search makes, and
    a lower mu never picks shallower depths on average."""
    from dataclasses import replace

    img = mixed()
    paths = _paths(model, img)
    rate = _rate(model, 500.0)
    costs = rate.costs(img, paths)
    assert costs.error.shape == costs.bits.shape == (model.stages, 12, 16)
    assert np.array_equal(rate.choose(costs), rate.depths(img, paths))
    means = [replace(rate, mu=mu).choose(costs).mean() for mu in (4000.0, 500.0, 20.0)]
    assert means == sorted(means) and means[0] < means[-1]


def test_smoothing_removes_isolated_depths():
    cost = np.zeros((3, 6, 6))
    cost[1] = -1.0  # depth 2 is slightly better everywhere ...
    cost[0, 2, 2] = -3.0  # ... except one position that alone prefers depth 1
    start = np.full((6, 6), 2, dtype=np.uint8)
    assert ratecontrol._smooth(cost, 1.0, start)[2, 2] == 2  # 4 differing neighbours cost 8
    assert ratecontrol._smooth(cost, 0.0, start)[2, 2] == 1


def test_depths_are_stored_in_the_smallest_version():
    tiles = np.array([[1, 3], [2, 3]], dtype=np.uint8)
    grid = container.tiles_to_grid(tiles)
    assert container.smallest_version(np.full((8, 8), 5, np.uint8)) == (1, None)
    version, stored = container.smallest_version(grid)
    assert version == 2 and np.array_equal(stored, tiles)
    grid[0, 1] = 2
    version, stored = container.smallest_version(grid)
    assert version == 3 and stored is grid


@pytest.mark.slow
def test_position_depth_files_round_trip(model):
    img = mixed()
    data = vqcodec.compress(img, MID)
    f = container.parse(data)
    assert f.format_version == 3 and f.depths.shape == f.grid
    back = np.asarray(vqcodec.decompress(data))
    from vqcodec.metrics import psnr

    assert psnr(back, img) > 20
    full = ratecontrol.assemble(_paths(model, img), f.depths)
    assert np.array_equal(codec.decode_streams(f, model), full)


def test_position_depth_files_carry_the_encoders_indices(tiny_model):
    img = mixed()
    data = vqcodec.compress(img, TINY_MID, model=tiny_model)
    f = container.parse(data)
    assert f.format_version == 3 and f.depths.shape == f.grid
    assert f.depths.min() < f.depths.max() == f.stages
    back = np.asarray(vqcodec.decompress(data, model=tiny_model))
    assert back.shape == img.shape
    full = ratecontrol.assemble(_paths(tiny_model, img, TINY_MID), f.depths)
    assert np.array_equal(codec.decode_streams(f, tiny_model), full)


def test_narrow_beam_finds_the_beam_searchs_paths(tiny_model):
    """The lower efforts' cheaper beam: the highest effort's search, up to float rounding."""
    q = tiny_model.net.quantizer
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(400, q.dim, generator=gen)
    plain = torch.rand(q.stages, q.size, generator=gen) * 8
    context = torch.rand(q.stages, q.size, q.size, generator=gen) * 8
    rate, books = 0.05, q.codebooks.float()
    for width in (1, 3):
        beam = q.beam_search(z, q.stages, width, rate, plain, context, 2)
        narrow = narrow_beam(books, z, width, rate * plain, rate * context, 2)
        assert narrow.shape == beam.shape
        assert (narrow == beam).all(2).float().mean() > 0.99
    zero = torch.zeros(q.stages, q.size)
    greedy = narrow_beam(books, z, 1, zero)
    assert torch.equal(greedy[-1], q.quantize(z, q.stages))


def test_beam_paths_are_priced_as_every_path_is(tiny_model):
    """The beam's paths do not extend one another: each is priced where it differs from
    the deepest, in the first stages wherever an index above or to the left differs too."""
    rate = ratecontrol.RateModel(
        tiny_model, 300.0, coders.for_model(tiny_model), effort=vqcodec.effort.effort(4)
    )
    paths = rate.paths(mixed())
    assert not paths.nested and any(not np.array_equal(p, paths[-1][: len(p)]) for p in paths[:-1])
    every = np.stack([rate.bits(p).sum(0) for p in paths])
    assert np.array_equal(rate.shared_bits(paths), every)
