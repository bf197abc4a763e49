"""Problem set 5's checks, without nbgrader: autograd refused inside the backward functions,
the hints for the usual mistakes, and ``train_epoch`` graded against the reference loop.

The solutions come from the source notebook (``tests.test_grading.solutions``); the checks
that every problem set shares (visible and hidden cases pass, spoiled answers fail, records
verify) run on ps5's function exercises in test_grading.py.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
import torch.nn.functional as F

from cnncourse import grading
from cnncourse.grading.problem_sets import ps5

from .test_grading import hidden_seeds, recorded, solutions

PS5 = solutions("ps5_backprop")
conv2d_backward, max_pool2d_backward, train_epoch = (
    PS5["conv2d_backward"], PS5["max_pool2d_backward"], PS5["train_epoch"])


def with_autograd(x, weight, grad_out, stride, padding):
    leaves = [x.clone().requires_grad_(True), weight.clone().requires_grad_(True),
              torch.zeros(weight.shape[0], requires_grad=True)]
    F.conv2d(*leaves, stride=stride, padding=padding).backward(grad_out)
    return tuple(leaf.grad for leaf in leaves)


def with_autograd_grad(x, grad_out, kernel_size, stride):
    leaf = x.clone().requires_grad_(True)
    return torch.autograd.grad(F.max_pool2d(leaf, kernel_size, stride), leaf, grad_out)[0]


def with_transposed_convolution(x, weight, grad_out, stride, padding):
    grad_x = F.conv_transpose2d(grad_out, weight, stride=stride, padding=padding)
    return grad_x, *conv2d_backward(x, weight, grad_out, stride, padding)[1:]


def with_torch_helpers(x, weight, grad_out, stride, padding):
    grad_x = torch.nn.grad.conv2d_input(x.shape, weight, grad_out, stride, padding)
    return grad_x, *conv2d_backward(x, weight, grad_out, stride, padding)[1:]


def with_pooling_indices(x, grad_out, kernel_size, stride):
    _, where = F.max_pool2d(x, kernel_size, stride, return_indices=True)
    flat = torch.zeros_like(x).flatten(2)
    return flat.scatter_add(2, where.flatten(2), grad_out.flatten(2)).reshape(x.shape)


@pytest.mark.parametrize("name, cheat, message", [
    ("conv2d_backward", with_autograd, "Tensor.backward is not allowed"),
    ("max_pool2d_backward", with_autograd_grad, "torch.autograd.grad is not allowed"),
    ("conv2d_backward", with_transposed_convolution, "F.conv_transpose2d is not allowed"),
    ("conv2d_backward", with_torch_helpers, "nn.grad.conv2d_input is not allowed"),
    ("max_pool2d_backward", with_pooling_indices, "F.max_pool2d_with_indices is not allowed"),
])
def test_autograd_and_torchs_backward_functions_are_refused(name, cheat, message):
    advice = "in this exercise: work out the gradient yourself, with loops or tensor arithmetic"
    with pytest.raises(grading.CheckFailed, match=f"visible case 1 of 5: {message} {advice}"):
        getattr(grading, f"check_{name}")(cheat)
    with pytest.raises(grading.CheckFailed, match=f"fails a hidden test: {message}"):
        grading.hidden_check(name, cheat, seed=hidden_seeds()[name])
    assert grading.tampering() == [] and torch.Tensor.backward.__name__ == "backward"
    x = torch.ones(2, requires_grad=True)
    (x * 3).sum().backward()  # autograd works again outside the check
    assert x.grad.tolist() == [3.0, 3.0]


def test_the_autograd_guard_leaves_autograd_to_the_training_loop(capsys):
    grading.check_train_epoch(train_epoch)  # loss.backward() is the loop's own business
    assert "train_epoch passes all 4 visible cases" in capsys.readouterr().out


def unflipped(x, weight, grad_out, stride, padding):
    return (conv2d_backward(x, weight.flip(-2, -1), grad_out, stride, padding)[0],
            *conv2d_backward(x, weight, grad_out, stride, padding)[1:])


def stride_ignored(x, weight, grad_out, stride, padding):
    grad_x, _, grad_bias = conv2d_backward(x, weight, grad_out, stride, padding)
    padded = F.pad(x, (padding,) * 4)
    out_h, out_w = grad_out.shape[2:]
    grad_weight = torch.zeros_like(weight)
    for u in range(weight.shape[2]):
        for v in range(weight.shape[3]):  # the window of output (i, j) taken at (i, j)
            grad_weight[:, :, u, v] = torch.einsum(
                "nohw,nchw->oc", grad_out, padded[:, :, u:u + out_h, v:v + out_w])
    return grad_x, grad_weight, grad_bias


def every_maximum(x, grad_out, kernel_size, stride):
    k, s = kernel_size, stride
    grad_x = torch.zeros_like(x)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k]
            top = window == window.amax(dim=(2, 3), keepdim=True)
            grad_x[:, :, i * s:i * s + k, j * s:j * s + k] += top * grad_out[:, :, i:i + 1,
                                                                             j:j + 1]
    return grad_x


def assigned(x, grad_out, kernel_size, stride):
    k, s = kernel_size, stride
    grad_x = torch.zeros_like(x)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    first = int(x[n, c, i * s:i * s + k, j * s:j * s + k].argmax())
                    grad_x[n, c, i * s + first // k, j * s + first % k] = grad_out[n, c, i, j]
    return grad_x


@pytest.mark.parametrize("name, mistake, case, hint", [
    ("conv2d_backward", unflipped, 1, "kernel turned by 180 degrees"),
    ("conv2d_backward", stride_ignored, 3, "grad_weight ignores the stride"),
    ("max_pool2d_backward", every_maximum, 2, "you sent the gradient to all of them; it goes "
                                              r"to the first one only \(in reading order"),
    ("max_pool2d_backward", assigned, 3, r"add them up \(\+=\) rather than assign"),
])
def test_the_usual_mistakes_get_their_hint(name, mistake, case, hint):
    with pytest.raises(grading.CheckFailed, match=f"visible case {case} of 5") as err:
        getattr(grading, f"check_{name}")(mistake)
    assert err.match(f"\n  hint: .*{hint}")


def test_a_wrong_return_of_conv2d_backward_is_explained():
    with pytest.raises(grading.CheckFailed, match=r"returned 2 values; it should return the "
                       r"tuple \(grad_x, grad_weight, grad_bias\)"):
        grading.check_conv2d_backward(lambda *args: conv2d_backward(*args)[:2])
    with pytest.raises(grading.CheckFailed, match=r"grad_bias: wrong output shape: yours is "
                       r"\(1, 1\), expected \(1,\)"):
        grading.check_conv2d_backward(lambda *args: (*conv2d_backward(*args)[:2],
                                                     args[2].sum(dim=(2, 3))))


def test_max_pooling_sends_a_tie_to_the_first_maximum_as_torch_does():
    """The tie rule the notebook states is autograd's, the reference: in a window of equal
    values the whole gradient goes to its first pixel."""
    x = torch.tensor([[[[2.0, 2.0, 0.0, 5.0], [2.0, 2.0, 5.0, 5.0]]]])
    grad_out = torch.tensor([[[[1.0, 10.0]]]])
    expected = torch.tensor([[[[1.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 0.0]]]])
    assert torch.equal(ps5._pool_reference(x, grad_out, 2, 2), expected)
    assert torch.equal(max_pool2d_backward(x, grad_out, 2, 2), expected)


def test_the_visible_cases_hold_ties_and_overlapping_windows():
    cases = grading.EXERCISES["max_pool2d_backward"].cases(None)
    windows = [F.unfold(c.args[0].flatten(0, 1)[:, None], c.args[2], stride=c.args[3])
               for c in cases]
    assert any(bool((w == w.amax(dim=1, keepdim=True)).sum(dim=1).gt(1).any()) for w in windows)
    assert any(c.args[3] < c.args[2] for c in cases)
    conv = grading.EXERCISES["conv2d_backward"].cases(None)
    assert any(c.args[3] > 1 for c in conv) and any(c.args[4] > 0 for c in conv)


# ---------------------------------------------------------------------------------------------
# train_epoch
# ---------------------------------------------------------------------------------------------


def without_zero_grad(model, batches, optimizer, loss_func):
    model.train()
    losses = []
    for xb, yb in batches:
        loss = loss_func(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def without_train(model, batches, optimizer, loss_func):
    mode = model.train
    model.train = lambda *args: model  # the loop runs in whatever mode the model came
    try:
        return train_epoch(model, batches, optimizer, loss_func)
    finally:
        model.train = mode


def returning_the_last_loss(model, batches, optimizer, loss_func):
    model.train()
    for xb, yb in batches:
        loss = loss_func(model(xb), yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return loss.item()


def without_step(model, batches, optimizer, loss_func):
    losses = [loss_func(model(xb), yb).item() for xb, yb in batches]
    return sum(losses) / len(losses)


@pytest.mark.parametrize("mistake, case, message, hint", [
    (without_zero_grad, 1, "the network's weight differs", "call optimizer.zero_grad()"),
    (without_train, 2, "the network's 0.weight differs", "call model.train() first"),
    (returning_the_last_loss, 1, "the mean loss: wrong value", "the last batch's loss"),
    (without_step, 1, "the network's weight differs", "the weights did not change"),
])
def test_train_epoch_explains_the_usual_mistakes(mistake, case, message, hint):
    with pytest.raises(grading.CheckFailed, match=f"visible case {case} of 4: .*{message}") \
            as err:
        grading.check_train_epoch(mistake)
    assert err.match(f"\n  the case: .*\n  hint: .*{re.escape(hint)}")
    with pytest.raises(grading.CheckFailed, match="train_epoch fails a hidden test"):
        grading.hidden_check("train_epoch", mistake, seed=hidden_seeds()["train_epoch"])


def test_the_same_seed_gives_the_same_epoch_and_other_seeds_other_epochs():
    ex = grading.EXERCISES["train_epoch"]
    first, again = ex.cases(11), ex.cases(11)
    assert first == again != ex.cases(12) and len(first) >= 8
    a, b = first[1].build(), again[1].build()
    assert all(torch.equal(p, q) for p, q in zip(a[0].parameters(), b[0].parameters(),
                                                  strict=True))
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a[1], b[1], strict=True))
    assert {e.task for e in first} == {"kernel", "cnn", "linear"}


def test_train_epoch_is_stopped_in_time_and_says_so():
    quick = dataclasses.replace(grading.EXERCISES["train_epoch"], seconds=0.3)

    def endless(model, batches, optimizer, loss_func):
        while True:
            pass

    with pytest.raises(grading.CheckFailed, match=r"did not finish within 0.3 s"):
        quick.answers(endless, None, False)


def test_train_epoch_records_are_verified_outside_the_notebook(monkeypatch):
    seed = hidden_seeds()["train_epoch"]
    [record] = recorded(monkeypatch, lambda: grading.hidden_check("train_epoch", train_epoch,
                                                                  seed=seed))
    assert grading.verify("train_epoch", record, seed, hidden=True) is None
    assert "is wrong" in grading.verify("train_epoch", record, seed + 1, hidden=True)
    answers = [dict(a) for a in record["answers"]]
    answers[0]["loss"] += 0.1
    assert "is wrong (the mean loss: wrong value)" in grading.verify(
        "train_epoch", {**record, "answers": answers}, seed, hidden=True)
    untrained = [{**a, "state": {}} for a in record["answers"]]
    assert "is wrong (the weights after the epoch differ" in grading.verify(
        "train_epoch", {**record, "answers": untrained}, seed, hidden=True)
    assert "one answer per case" in grading.verify("train_epoch", {"answers": []}, seed, True)
    assert "unreadable answer" in grading.verify("train_epoch", {"answers": [3] * 8}, seed,
                                                 True)
