"""Residual vector quantizer with EMA codebooks, k-means init and dead-code replacement.

Level s quantizes the residual left by levels 0..s-1 with its own codebook; the
reconstruction is the sum of the chosen codes. Codebooks are trained by
exponential moving averages (decay 0.99) instead of a codebook loss, so the only
quantizer loss is the commitment term, computed by the model.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .entropy import code_bits


def nearest_code(
    x: torch.Tensor,
    codebook: torch.Tensor,
    lam: torch.Tensor | None = None,
    bits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Index of the nearest code (squared L2) for each row of ``x``, in float32.

    With ``lam`` (per row) and ``bits`` (per code) the choice is entropy-constrained:
    it minimises ``||x - c||^2 / (dim * energy) + lam * bits``, where ``energy`` is the
    codebook's mean squared entry, so ``lam`` does not depend on the latent scale.
    """
    x = x.float()
    codebook = codebook.float()
    dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ codebook.t() + codebook.pow(2).sum(1)[None, :]
    if lam is not None and bits is not None:
        energy = codebook.pow(2).mean().clamp(min=1e-12) * codebook.shape[1]
        dist = dist / energy + lam.float()[:, None] * bits.float()[None, :]
    return dist.argmin(1)


def kmeans(x: torch.Tensor, k: int, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Plain k-means on the rows of ``x``; empty clusters keep their previous centre."""
    pick = torch.randint(0, x.shape[0], (k,), generator=generator).to(x.device)
    centres = x[pick].clone()
    for _ in range(iters):
        idx = nearest_code(x, centres)
        counts = torch.bincount(idx, minlength=k).float()
        sums = torch.zeros_like(centres).index_add_(0, idx, x)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


class ResidualVQ(nn.Module):
    """``stages`` codebooks of ``size`` codes of dimension ``dim``, applied in sequence."""

    def __init__(
        self,
        stages: int,
        size: int,
        dim: int,
        decay: float = 0.99,
        dead_share: float = 1 / 64,
    ) -> None:
        super().__init__()
        self.stages, self.size, self.dim = stages, size, dim
        self.decay, self.dead_share = decay, dead_share
        # on torch's meta device (where a model file's shapes are checked) a random draw or
        # arithmetic, like torch.eye, imports torch._dynamo: 1.8 s of each process's start
        if torch.empty(0).device.type == "meta":
            self.register_buffer("codebooks", torch.empty(stages, size, dim))
        else:
            self.register_buffer("codebooks", torch.randn(stages, size, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(stages, size))
        self.register_buffer("ema_sum", self.codebooks.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.replaced = torch.zeros(stages, dtype=torch.long)  # dead codes replaced, for logs

    def quantize(self, z: torch.Tensor, stages: int) -> torch.Tensor:
        """Indices ``[N, stages]`` for the rows of ``z`` (eval-time encoding)."""
        residual = z.float()
        out = []
        for s in range(stages):
            idx = nearest_code(residual, self.codebooks[s])
            residual = residual - self.codebooks[s][idx]
            out.append(idx)
        return torch.stack(out, 1)

    def beam_search(
        self,
        z: torch.Tensor,
        stages: int,
        width: int,
        rate: float,
        bits: torch.Tensor,
        context_bits: torch.Tensor | None = None,
        context_from: int = 0,
    ) -> torch.Tensor:
        """The best path of every length up to ``stages``: int64 ``[stages, N, stages]``,
        row ``d - 1`` holding the ``d``-stage indices (then zeros) for each row of ``z``.

        Greedy residual quantization picks each stage's nearest code; this keeps the
        ``width`` best partial paths per row instead, scored by squared error plus
        ``rate`` times their bits. ``bits`` ``[stages, size]`` is each code's cost; from
        stage ``context_from`` on, ``context_bits`` ``[stages, size, size]``, if given,
        prices a code by the path's previous code instead. Width 1 with rate 0 is
        :meth:`quantize`.
        """
        n = z.shape[0]
        books = self.codebooks.float()
        plain = rate * bits.float().to(books.device)
        ctx = None if context_bits is None else rate * context_bits.float().to(books.device)
        residual = z.float()[:, None, :]  # [N, paths, dim]
        spent = torch.zeros(n, 1, device=z.device)  # rate * bits so far, per path
        paths = torch.zeros(n, 1, 0, dtype=torch.long, device=z.device)
        out = torch.zeros(stages, n, stages, dtype=torch.long, device=z.device)
        for s in range(stages):
            book = books[s]
            if ctx is not None and s >= max(context_from, 1):
                price = ctx[s][paths[:, :, -1]]  # [N, paths, size]
            else:
                price = plain[s].expand(n, residual.shape[1], -1)
            cand = (
                (residual.pow(2).sum(-1) + spent)[:, :, None]
                - 2 * residual @ book.t()
                + book.pow(2).sum(1)[None, None]
                + price
            )
            pick = cand.reshape(n, -1).topk(min(width, cand[0].numel()), 1, largest=False).indices
            parent, code = pick // self.size, pick % self.size
            residual = residual.gather(1, parent[:, :, None].expand(-1, -1, self.dim)) - book[code]
            spent = spent.gather(1, parent) + price.reshape(n, -1).gather(1, pick)
            paths = torch.cat(
                [paths.gather(1, parent[:, :, None].expand(-1, -1, s)), code[:, :, None]], 2
            )
            out[s, :, : s + 1] = paths[:, 0]  # topk sorts: column 0 is the best
        return out

    def dequantize(self, indices: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the codes named by ``indices`` ``[N, stages]``; returns ``[N, dim]``.

        ``levels`` ``[N]``, if given, is how many stages row n uses; later ones add nothing.
        """
        total = torch.zeros(indices.shape[0], self.dim, device=self.codebooks.device)
        for s in range(indices.shape[1]):
            code = self.codebooks[s][indices[:, s]]
            total = total + (code if levels is None else code * (levels > s)[:, None])
        return total

    @torch.no_grad()
    def _init_from(self, z: torch.Tensor, generator: torch.Generator) -> None:
        residual = z.float()
        for s in range(self.stages):
            centres = kmeans(residual, self.size, 10, generator)
            self.codebooks[s] = centres
            self.ema_sum[s] = centres
            self.ema_count[s] = 1.0
            residual = residual - centres[nearest_code(residual, centres)]
        self.initialized.fill_(True)
        if _world() > 1:
            self.broadcast()

    def forward(
        self,
        z: torch.Tensor,
        active: torch.Tensor,
        generator: torch.Generator,
        lam: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: quantized sum (no gradient) and indices ``[N, stages]``.

        ``active[n]`` is the number of levels used for row n (quantizer dropout);
        levels at or past it contribute nothing and do not update the codebooks.
        ``lam[n]``, if given, makes row n's choices entropy-constrained, with code
        lengths taken from the running usage counts. In training the codebooks move
        after the pass (each stage's codes were chosen with the codebook as it was),
        with statistics summed over all ranks when torch.distributed runs.
        """
        with torch.no_grad():
            z = z.detach().float()
            if not bool(self.initialized):
                self._init_from(z, generator)
            residual = z
            quantized = torch.zeros_like(z)
            indices, assigned = [], []
            bits = self.usage_bits() if lam is not None else [None] * self.stages
            for s in range(self.stages):
                idx = nearest_code(residual, self.codebooks[s], lam, bits[s])
                use = active > s
                code = self.codebooks[s][idx] * use[:, None]
                assigned.append((residual[use], idx[use]))
                quantized = quantized + code
                residual = residual - code
                indices.append(idx)
            if self.training:
                self._ema_update(assigned, generator)
        return quantized, torch.stack(indices, 1)

    def usage_bits(self) -> torch.Tensor:
        """Code lengths ``[stages, size]`` in bits under the running usage counts, as the
        entropy coder prices a plain table (:func:`vqcodec.entropy.code_bits`; an EMA
        count can decay towards 0, so each is floored at 1e-9), on the codebooks' device."""
        counts = np.maximum(self.ema_count.detach().double().cpu().numpy(), 1e-9)
        return torch.from_numpy(code_bits(counts)).to(self.ema_count.device)

    def _ema_update(
        self, assigned: list[tuple[torch.Tensor, torch.Tensor]], generator: torch.Generator
    ) -> None:
        """Move each codebook toward the mean of the rows assigned to each code, then
        replace codes whose EMA count fell below the threshold with rows of the batch."""
        counts = torch.stack(
            [torch.bincount(idx, minlength=self.size).float() for _, idx in assigned]
        )
        sums = torch.stack(
            [
                torch.zeros(self.size, self.dim, device=x.device).index_add_(0, idx, x)
                for x, idx in assigned
            ]
        )
        distributed = _world() > 1
        if distributed:
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.codebooks.copy_(self.ema_sum / self.ema_count.clamp(min=1e-5)[:, :, None])
        for s, (x, _) in enumerate(assigned):
            threshold = self.dead_threshold(s)
            dead = (self.ema_count[s] < threshold).nonzero().flatten()
            if len(dead) and len(x):
                pick = torch.randint(0, x.shape[0], (len(dead),), generator=generator)
                pick = pick.to(x.device)
                self.codebooks[s][dead] = x[pick]
                self.ema_sum[s][dead] = x[pick] * threshold
                self.ema_count[s][dead] = threshold
                self.replaced[s] += len(dead)
        if distributed:  # replacements come from rank 0's batch
            self.broadcast()

    def dead_threshold(self, s: int) -> float:
        """EMA count below which a code of stage ``s`` is dead: ``dead_share`` of an even
        share of the rows that reach the stage per step (the EMA counts sum to that).

        An absolute threshold would depend on the batch: 1, as v1 and v2 trained, is
        1/64 of an even share at their 16,384 latent rows per step, but 1/8 at 2,048
        (batch 8 of 128² crops), which replaced rarely used, valid codes at once."""
        return self.dead_share * float(self.ema_count[s].sum()) / self.size

    def broadcast(self) -> None:
        """Copy rank 0's codebooks and EMA state to every rank."""
        for buf in (self.codebooks, self.ema_count, self.ema_sum):
            dist.broadcast(buf, 0)


def narrow_beam(
    books: torch.Tensor,
    z: torch.Tensor,
    width: int,
    plain: torch.Tensor,
    context: torch.Tensor | None = None,
    context_from: int = 0,
) -> torch.Tensor:
    """:meth:`ResidualVQ.beam_search` made cheap for the narrow beams of the lower
    efforts: the best path of every length over the codebooks ``books`` ``[stages, K,
    D]`` for each row of ``z`` ``[N, D]``, int64 ``[stages, N, stages]``, ``width`` paths
    kept, each code priced by ``plain`` ``[stages, K]`` (already times the rate), or from
    stage ``context_from`` on by ``context`` ``[stages, K, K]`` by the path's previous code.

    The same search with fewer operations: prices scaled once by the caller, each
    candidate's score made in one matrix product over its price row, each path's score
    carried from the candidate that made it instead of recomputed from its residual.
    Its floats differ slightly from ``beam_search``'s (which the highest effort keeps,
    to write the files it always wrote); on a training photo at width 2-4, 99.99 % of
    the paths were the same.
    """
    n, size = z.shape[0], books.shape[1]
    stages = len(books)
    norms = books.pow(2).sum(2)
    residual = z.float()
    score = residual.pow(2).sum(1)  # [N * paths]: squared error + price so far
    paths = torch.zeros(n, 1, 0, dtype=torch.long)
    out = torch.zeros(stages, n, stages, dtype=torch.long)
    rows = torch.arange(n)[:, None]
    for s in range(stages):
        book, kept = books[s], paths.shape[1]
        if context is not None and s >= max(context_from, 1):  # each path's price row
            price = (context[s] + norms[s]).index_select(0, paths[:, :, -1].flatten())
        else:
            price = (plain[s] + norms[s])[None]
        cand = torch.addmm(price, residual, book.t(), alpha=-2)  # ||r - c||^2 - ||r||^2 + price
        cand += score[:, None]
        score, pick = cand.view(n, -1).topk(min(width, kept * size), 1, largest=False)
        parent, code = pick // size, pick % size
        residual = residual.index_select(0, (rows * kept + parent).flatten())
        residual = residual - book.index_select(0, code.flatten())
        score = score.flatten()
        paths = torch.cat(
            [paths.gather(1, parent[:, :, None].expand(-1, -1, s)), code[:, :, None]], 2
        )
        out[s, :, : s + 1] = paths[:, 0]  # topk sorts: column 0 is the best
    return out


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
