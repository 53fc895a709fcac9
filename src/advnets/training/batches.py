"""Minibatches by index from an in-memory tensor, reshuffled every epoch (pylearn2 `shuffled_sequential`).

The order of epoch e is a pure function of (seed, e), so the whole data order is captured by a cursor
(epoch, batch) and resumes exactly without storing permutations. Incomplete last batches are dropped so that
every update sees the same batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advnets.errors import UserError


@dataclass
class Cursor:
    epoch: int = 0  # completed passes over the data
    batch: int = 0  # batches already served in the current pass


class EpochBatches:
    """Serves index tensors [batch_size] on `device`; `cursor` is the resumable state.

    Under torchrun (`ranks` > 1) a batch of the cursor is a global batch of ranks × batch_size examples, and rank
    r serves its r-th slice: the ranks' batches together are the one batch a single process with ranks ×
    batch_size would take."""

    def __init__(
        self, n: int, batch_size: int, seed: int, device: torch.device | str = "cpu", *, rank: int = 0, ranks: int = 1
    ) -> None:
        if n < batch_size * ranks:
            per_rank = f" on each of {ranks} processes" if ranks > 1 else ""
            raise UserError(
                f"the training set has {n} examples, fewer than train.batch_size={batch_size}{per_rank}; "
                "lower train.batch_size or use more data (data.classes)"
            )
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.rank, self.ranks = rank, ranks
        self.batches_per_epoch = n // (batch_size * ranks)
        self.cursor = Cursor()
        self._order_epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def order(self, epoch: int) -> torch.Tensor:
        if epoch != self._order_epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.n, generator=gen).to(self.device)
            self._order_epoch = epoch
        return self._order

    def next(self) -> torch.Tensor:
        start = (self.cursor.batch * self.ranks + self.rank) * self.batch_size
        indices = self.order(self.cursor.epoch)[start : start + self.batch_size]
        self.cursor.batch += 1
        if self.cursor.batch == self.batches_per_epoch:
            self.cursor = Cursor(self.cursor.epoch + 1, 0)
        return indices
