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


def shipped() -> list[str]:
    """Names of the models in the package."""
    return sorted(p.name.removesuffix(".safetensors") for p in MODELS_DIR.glob("*.safetensors"))


@lru_cache(maxsize=8)
def _load_shipped(name: str) -> Model:
    model = load_model(MODELS_DIR / f"{name}.safetensors")
    if model.name != name:
        raise VQCodecError(f"shipped model file {name} names itself {model.name}")
    return model


def get_model(model: Model | str | Path | None = None) -> Model:
    """A model by shipped name, by path to a .safetensors file, or the default one."""
    if isinstance(model, Model):
        return model
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and model in shipped():
        return _load_shipped(model)
    path = Path(model)
    if path.suffix == ".safetensors" and path.is_file():
        return load_model(path)
    raise VQCodecError(f"unknown model {str(model)!r}; shipped models: {', '.join(shipped())}")


def model_for(name: str, version: bytes, given: Model | str | Path | None = None) -> Model:
    """The model a file names, checked against the codebook version it records."""
    if given is not None:
        model = get_model(given)
    elif name in shipped():
        model = _load_shipped(name)
    else:
        raise ModelMismatchError(
            f"file needs model {name} (codebook version {version.hex()}), which this "
            f"vqcodec does not have; shipped models: {', '.join(shipped())}"
        )
    if model.name != name or model.fingerprint != version:
        raise ModelMismatchError(
            f"file was made with model {name} codebook version {version.hex()}, "
            f"but the model given is {model.name} codebook version {model.version}"
        )
    return model
