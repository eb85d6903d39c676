"""The models shipped inside the package, found by the name a .vqc header gives.

A shipped model is never removed or changed: files made with it must keep
decoding. Retraining adds a new file under a new name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import ModelMismatchError, VQCodecError
from .weights import Model, load_model

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "vqcodec-base-v2"
# weights_digest of every shipped model file: a file under a shipped name must hold
# exactly these weights (the codebook fingerprint alone does not cover the network).
SHIPPED_DIGESTS = {
    "vqcodec-base-v1": "6db8eb83e4ddb94aec25005a334c8c31b81725820342846fdaefacb8e65b6d48",
    "vqcodec-base-v2": "cfb9d30b943d2e15a5f49e4920467b68f8b05a3574d8c53a11598e7f4a2f907f",
    "vqcodec-base-v3": "e0394fd2792c1c889656b21b82b8fc55114f3c0a304199098c9f0ab044157932",
    "vqcodec-base-v4": "fbc1adb312446b80ef6b322c27ec1f682b7e581abd2d0481f711dbda72b18086",
}


def shipped() -> list[str]:
    """Names of the models in the package."""
    return sorted(p.name.removesuffix(".safetensors") for p in MODELS_DIR.glob("*.safetensors"))


def check_shipped(model: Model, source: str | Path) -> Model:
    """Refuse a model that calls itself by a shipped name but holds other weights."""
    expected = SHIPPED_DIGESTS.get(model.name)
    if expected is not None and model.digest.hex() != expected:
        raise ModelMismatchError(
            f"{source}: weights digest {model.digest.hex()[:32]} is not that of the shipped "
            f"model {model.name} ({expected[:32]}); the network weights were altered"
        )
    return model


@lru_cache(maxsize=8)
def _load_shipped(name: str) -> Model:
    path = MODELS_DIR / f"{name}.safetensors"
    model = load_model(path)
    if model.name != name:
        raise VQCodecError(f"shipped model file {name} names itself {model.name}")
    return check_shipped(model, path)


def get_model(model: Model | str | Path | None = None) -> Model:
    """A model by shipped name, by path to a .safetensors file, or the default one."""
    if isinstance(model, Model):
        return model
    if model is None:
        model = DEFAULT_MODEL
    if not isinstance(model, (str, Path)):
        raise VQCodecError(
            f"model must be a shipped name, a .safetensors path or a Model, not "
            f"{type(model).__name__}"
        )
    if isinstance(model, str) and model in shipped():
        return _load_shipped(model)
    path = Path(model)
    if path.suffix == ".safetensors" and path.is_file():
        return check_shipped(load_model(path), path)
    raise VQCodecError(f"unknown model {str(model)!r}; shipped models: {', '.join(shipped())}")


def model_for(name: str, fingerprint: bytes, given: Model | str | Path | None = None) -> Model:
    """The model a file names, checked against the codebook fingerprint it records."""
    if given is not None:
        model = get_model(given)
    elif name in shipped():
        model = _load_shipped(name)
    else:
        raise ModelMismatchError(
            f"file needs model {name} (codebook fingerprint {fingerprint.hex()}), which this "
            f"vqcodec does not have; shipped models: {', '.join(shipped())}"
        )
    if model.name != name or model.fingerprint != fingerprint:
        raise ModelMismatchError(
            f"file was made with model {name} codebook fingerprint {fingerprint.hex()}, "
            f"but the model given is {model.name} codebook fingerprint {model.fingerprint.hex()}"
        )
    return model
