"""MixUp and CutMix turn hard labels into soft ones that still sum to one."""

import pytest
import torch

from tuneforge.data.batch_transforms import mix_batches


def test_no_alpha_no_transform():
    assert mix_batches(10, 0.0, 0.0) is None


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.2, 0.0), (0.0, 1.0), (0.2, 1.0)])
def test_mixed_batches_have_soft_labels(mixup, cutmix):
    torch.manual_seed(0)
    x, y = torch.rand(16, 3, 8, 8), torch.randint(0, 4, (16,))
    mixed_x, soft_y = mix_batches(4, mixup, cutmix)(x, y)
    assert mixed_x.shape == x.shape and soft_y.shape == (16, 4)
    assert torch.allclose(soft_y.sum(dim=1), torch.ones(16))
    assert not torch.equal(mixed_x, x)
