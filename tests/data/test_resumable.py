"""The resumable loader: a pass stopped anywhere continues with the same batches, the next pass
draws the same order, and reading data never moves the global random state."""

import torch
from torch.utils.data import TensorDataset

from tuneforge.data import DigitsDataModule
from tuneforge.data.resumable import ResumableLoader, ResumableSampler


def loader(size: int = 23, batch_size: int = 4, shuffle: bool = True) -> ResumableLoader:
    dataset = TensorDataset(torch.arange(size))
    return ResumableLoader(
        dataset, batch_size=batch_size, sampler=ResumableSampler(dataset, shuffle, seed=7)
    )


def batches(iterator, count: int | None = None) -> list[list[int]]:
    out = []
    for (batch,) in iterator:
        out.append(batch.tolist())
        if count is not None and len(out) == count:
            break
    return out


def test_a_pass_stopped_mid_way_resumes_at_the_next_batch_and_the_next_pass_matches():
    whole = loader()
    first_pass, second_pass = batches(iter(whole)), batches(iter(whole))
    assert sorted(i for batch in first_pass for i in batch) == list(range(23))
    assert first_pass != second_pass

    stopped = loader()
    assert batches(iter(stopped), 3) == first_pass[:3]
    resumed = loader()
    resumed.load_state_dict(stopped.state_dict())
    assert batches(iter(resumed)) == first_pass[3:]
    assert batches(iter(resumed)) == second_pass


def test_a_finished_pass_resumes_with_the_next_one():
    whole = loader()
    batches(iter(whole))
    second_pass = batches(iter(whole))

    done = loader()
    batches(iter(done))
    resumed = loader()
    resumed.load_state_dict(done.state_dict())
    assert batches(iter(resumed)) == second_pass


def test_an_epoch_that_lightning_ends_early_resumes_with_the_next_pass():
    whole = loader()
    batches(iter(whole), 2)  # limit_train_batches=2
    second_pass = batches(iter(whole), 2)

    cut = loader()
    batches(iter(cut), 2)
    cut.end_pass()
    resumed = loader()
    resumed.load_state_dict(cut.state_dict())
    assert batches(iter(resumed), 2) == second_pass


def test_a_state_given_after_the_iterator_was_made_applies_to_its_pass():
    stopped = loader()
    first = batches(iter(stopped), 2)
    rest = batches(iter(loader()))[2:]
    resumed = loader()
    iterator = iter(resumed)  # as Lightning makes it before the checkpoint's state arrives
    resumed.load_state_dict(stopped.state_dict())
    assert first and batches(iterator) == rest


def test_in_order_loaders_resume_too():
    stopped = loader(shuffle=False)
    assert batches(iter(stopped), 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    resumed = loader(shuffle=False)
    resumed.load_state_dict(stopped.state_dict())
    assert batches(iter(resumed))[0] == [8, 9, 10, 11]


def test_reading_data_leaves_the_global_random_state_alone():
    datamodule = DigitsDataModule(batch_size=256)
    datamodule.setup("fit")
    before = torch.get_rng_state()
    for make in (datamodule.train_dataloader, datamodule.val_dataloader):
        assert len(list(make())) > 0
    assert torch.equal(torch.get_rng_state(), before)
