"""Thread counts and the OpenVINO-compiled networks: same files and pixels, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec import VQCodecError, openvino_net, threads
from vqcodec.cli import main
from vqcodec.transform import Accelerated, decode_indices, encode_indices, network

needs_openvino = pytest.mark.skipif(not openvino_net.available(), reason="no OpenVINO")


@pytest.mark.parametrize("effort", [1, 3])  # effort 1: an int8 encoder where the CPU has it
def test_threads_change_neither_file_nor_pixels(tiny_model, photo, effort):
    one = vqcodec.compress(photo, 4, model=tiny_model, threads=1, effort=effort)
    assert one == vqcodec.compress(photo, 4, model=tiny_model, threads=2, effort=effort)
    a = vqcodec.decompress(one, model=tiny_model, threads=1)
    assert np.array_equal(
        np.asarray(a), np.asarray(vqcodec.decompress(one, model=tiny_model, threads=2))
    )


def test_threads_setting_is_restored(tiny_model, photo):
    before = torch.get_num_threads()
    vqcodec.decompress(
        vqcodec.compress(photo, 1, model=tiny_model, threads=1), model=tiny_model, threads=1
    )
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_count_is_a_codec_error(tiny_model, photo, bad):
    data = vqcodec.compress(photo, 1, model=tiny_model)
    with pytest.raises(VQCodecError, match="threads"):
        vqcodec.decompress(data, model=tiny_model, threads=bad)
    with pytest.raises(VQCodecError, match="threads"):
        vqcodec.compress(photo, 1, model=tiny_model, threads=bad)


def test_cli_threads_option(tmp_path, photo, tiny_model_path):
    Image.fromarray(photo).save(tmp_path / "a.png")
    model = ["--model", str(tiny_model_path)]
    run = CliRunner().invoke
    assert run(main, ["compress", str(tmp_path / "a.png"), "--threads", "1", *model]).exit_code == 0
    back = tmp_path / "b.png"
    args = ["decompress", str(tmp_path / "a.vqc"), str(back), *model]
    assert run(main, [*args, "--threads", "2"]).exit_code == 0
    assert Image.open(back).size == (100, 75)
    bad = run(main, [*args, "--threads", "0", "--force"])
    assert bad.exit_code == 2 and "--threads" in bad.output


@pytest.mark.slow
@needs_openvino
@pytest.mark.parametrize("count", [1, 2])
def test_openvino_decoder_gives_torchs_pixels(model, photo, count):
    idx = encode_indices(model.net, photo, model.stages)
    fast = network(model.net, "cpu", count)
    assert isinstance(fast, Accelerated)
    depths = np.random.default_rng(0).integers(1, model.stages + 1, idx.shape[1:])
    with threads.using(2):
        reference = decode_indices(model.net, idx, depths=depths)
    assert np.array_equal(decode_indices(fast, idx, depths=depths), reference)


@needs_openvino
def test_openvino_encoder_is_close_to_torchs(tiny_model, photo):
    x = torch.from_numpy(photo[:64, :96]).permute(2, 0, 1)[None].float() / 255
    fast = Accelerated(tiny_model.net, "f32", 1)
    with torch.inference_mode():
        assert torch.allclose(fast.encode(x), tiny_model.net.encode(x), atol=1e-5)
