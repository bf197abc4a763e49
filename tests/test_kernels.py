"""Named kernels and apply_kernel against F.conv2d."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

from cnncourse.kernels import KERNELS, apply_kernel

from .strategies import assert_close_tensor, conv_cases, seeds, tensors

REQUIRED = ["top_edge", "bottom_edge", "left_edge", "right_edge", "diag1_edge", "diag2_edge",
            "sobel_x", "sobel_y", "laplacian", "box_blur", "gaussian_blur", "sharpen", "emboss",
            "identity"]


def test_kernel_library_has_the_named_float32_kernels():
    assert set(REQUIRED) <= set(KERNELS)
    for kernel in KERNELS.values():
        assert kernel.dtype == torch.float32 and kernel.shape == (3, 3)


def test_edge_kernels_respond_to_the_edge_they_name():
    image = torch.zeros(8, 8)
    image[4:, :] = 1.0  # dark above, bright below: a top edge of the bright region
    assert apply_kernel(image, KERNELS["top_edge"]).max() == 3
    assert apply_kernel(image, KERNELS["bottom_edge"]).max() == 0
    assert apply_kernel(image, KERNELS["left_edge"]).abs().max() == 0


def test_smoothing_kernels_keep_flat_regions_and_identity_copies():
    image = torch.rand(6, 6)
    assert_close_tensor(apply_kernel(torch.full((5, 5), 0.7), KERNELS["box_blur"]),
                        torch.full((3, 3), 0.7))
    assert_close_tensor(apply_kernel(torch.full((5, 5), 0.7), KERNELS["gaussian_blur"]),
                        torch.full((3, 3), 0.7))
    assert_close_tensor(apply_kernel(image, KERNELS["identity"], padding=1), image)


@given(case=conv_cases(), seed=seeds)
def test_apply_kernel_full_weight_equals_f_conv2d(case, seed):
    x = tensors((case.n, case.c_in, *case.hw), seed)
    w = tensors((case.c_out, case.c_in, *case.kernel), seed + 1)
    expected = F.conv2d(x, w, None, case.stride, case.padding, case.dilation)
    assert_close_tensor(apply_kernel(x, w, case.stride, case.padding, case.dilation), expected,
                        case)
    assert_close_tensor(apply_kernel(x[0], w, case.stride, case.padding, case.dilation),
                        expected[0], case)


@given(case=conv_cases(max_channels=1), seed=seeds)
def test_apply_kernel_2d_image_2d_kernel(case, seed):
    image = tensors(case.hw, seed)
    kernel = tensors(case.kernel, seed + 1)
    expected = F.conv2d(image[None, None], kernel[None, None], None, case.stride, case.padding,
                        case.dilation)[0, 0]
    got = apply_kernel(image, kernel, case.stride, case.padding, case.dilation)
    assert_close_tensor(got, expected, case)


def test_a_stack_of_kernels_gives_one_map_each_and_sums_over_channels():
    digit = torch.rand(28, 28)
    stack = torch.stack([KERNELS[k] for k in ("top_edge", "bottom_edge", "left_edge",
                                              "right_edge")])
    assert apply_kernel(digit, stack).shape == (4, 26, 26)
    batch = torch.rand(64, 1, 28, 28)
    assert apply_kernel(batch, stack.unsqueeze(1)).shape == (64, 4, 26, 26)
    rgb = torch.rand(3, 10, 10)
    summed = apply_kernel(rgb.sum(0), KERNELS["sobel_x"])
    assert_close_tensor(apply_kernel(rgb, KERNELS["sobel_x"])[0], summed)


def test_integer_images_are_converted():
    digit = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    assert_close_tensor(apply_kernel(digit, KERNELS["sharpen"]),
                        apply_kernel(digit.float(), KERNELS["sharpen"]))


@pytest.mark.parametrize("call, parameter", [
    (lambda: apply_kernel(torch.rand(5), KERNELS["sharpen"]), "image must have shape"),
    (lambda: apply_kernel([[1.0]], KERNELS["sharpen"]), "image must be a torch.Tensor"),
    (lambda: apply_kernel(torch.rand(5, 5), torch.rand(3)), "kernel must have shape"),
    (lambda: apply_kernel(torch.rand(2, 5, 5), torch.rand(1, 3, 3, 3)), "input channels"),
    (lambda: apply_kernel(torch.rand(2, 2), KERNELS["sharpen"]), "kernel_size 3"),
    (lambda: apply_kernel(torch.rand(5, 5), KERNELS["sharpen"], stride=0), "stride"),
    (lambda: apply_kernel(torch.ones(5, 5, dtype=torch.bool), KERNELS["sharpen"]), "image"),
])
def test_invalid_input_names_the_parameter(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()
