"""shape_table on branching models: every leaf layer as it runs, with parameters counted once
and multiply-adds from torch's flop counter, checked by hand and against published totals."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models

from cnncourse.arithmetic import count_parameters, shape_table
from cnncourse.models import simple_cnn


def test_multiply_adds_of_the_lesson_cnn_worked_by_hand():
    table = shape_table(simple_cnn(), (1, 28, 28))
    convs = [row for row in table if row.type == "Conv2d"]
    # a conv does (out channels x out height x out width) x (in channels x k x k) products
    assert [row.macs for row in convs] == [8 * 14 * 14 * 1 * 25, 16 * 7 * 7 * 8 * 9,
                                           32 * 4 * 4 * 16 * 9, 64 * 2 * 2 * 32 * 9,
                                           10 * 1 * 1 * 64 * 9]
    assert all(row.macs == 0 for row in table if row.type != "Conv2d")
    assert table.macs == sum(row.macs for row in convs) == 248_864
    assert table.params == count_parameters(simple_cnn()) == 30_412
    assert "total" in str(table).splitlines()[-1] and "248,864" in str(table)


def test_resnet_totals_are_the_published_ones_and_shared_layers_count_once():
    model = models.resnet18(weights=None)
    table = shape_table(model, (3, 224, 224))
    assert round(table.macs / 1e9, 2) == 1.81  # He et al. give 1.8 G multiply-adds
    assert table.params == count_parameters(model) == 11_689_512
    relus = [row for row in table if row.name == "layer1.0.relu"]
    assert len(relus) == 2  # the block's one ReLU runs twice, after each conv, ...
    shortcut = [row.name for row in table].index("layer2.0.downsample.0")
    assert table[shortcut].out_shape == (1, 128, 28, 28)  # ... and the shortcut has its row
    assert table[shortcut].macs == 128 * 28 * 28 * 64
    assert table[-1].name == "fc" and table[-1].macs == 512 * 1000


def test_every_branch_of_an_inception_block_has_its_row():
    table = shape_table(models.googlenet(weights=None, init_weights=False), (3, 224, 224))
    rows = {row.name: row for row in table}
    branches = ["inception3a.branch1.conv", "inception3a.branch2.1.conv",
                "inception3a.branch3.1.conv", "inception3a.branch4.1.conv"]
    assert [rows[b].out_shape[1] for b in branches] == [64, 128, 32, 32]  # 256 concatenated
    assert all(rows[b].out_shape[2:] == (28, 28) for b in branches)
    assert "aux1.conv.conv" not in rows  # the training-only branch does not run in eval mode
    assert table.macs == sum(row.macs for row in table)


def test_a_model_that_needs_values_runs_on_zeros_and_bad_input_names_the_layer():
    class Checks(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x) if bool(x.abs().sum() >= 0) else x

    table = shape_table(Checks(), (1, 8, 8))
    assert [(row.name, row.out_shape, row.macs) for row in table] == [
        ("conv", (1, 2, 6, 6), 2 * 36 * 9)]
    with pytest.raises(ValueError, match=r"input_shape \(1, 3, 8, 8\): layer 'conv'"):
        shape_table(Checks(), (3, 8, 8))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)).train()
    running = model[1].running_mean.clone()
    shape_table(model, (1, 8, 8))
    assert model.training and torch.equal(model[1].running_mean, running)
