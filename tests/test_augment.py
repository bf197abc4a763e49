"""Batch augmentation: ``cnncourse.augment`` and the ``RandomAffine`` callback."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cnncourse.augment import affine, random_affine
from cnncourse.callbacks import RandomAffine
from cnncourse.data import load_digits_28
from cnncourse.models import simple_cnn
from cnncourse.training import Learner

BILINEAR = v2.InterpolationMode.BILINEAR


@pytest.fixture(scope="module")
def digits():
    return load_digits_28().valid_x[:8, None].float() / 255


def test_identity_amounts_leave_images_unchanged(digits):
    assert torch.allclose(affine(digits), digits, atol=1e-5)
    assert torch.allclose(random_affine(digits, generator=torch.Generator().manual_seed(0)),
                          digits, atol=1e-5)


@pytest.mark.parametrize("angle, translate, scale",
                         [(20.0, (0.0, 0.0), 1.0), (-30.0, (2.0, -3.0), 1.0),
                          (15.0, (1.5, 0.5), 0.8), (0.0, (3.0, 0.0), 1.2)])
def test_a_known_transform_matches_torchvision_image_by_image(digits, angle, translate, scale):
    ours = affine(digits, angle, translate, scale)
    # torchvision's affine turns clockwise for a positive angle, its rotate anticlockwise
    reference = torch.stack([TF.affine(im, angle=-angle, translate=list(translate), scale=scale,
                                       shear=[0.0, 0.0], interpolation=BILINEAR)
                             for im in digits])
    assert (ours - digits).abs().max() > 0.5  # the images did move
    assert torch.allclose(ours, reference, atol=1e-4)


def test_a_rotation_matches_torchvision_rotate_on_a_wide_image():
    x = torch.rand(2, 3, 20, 32, generator=torch.Generator().manual_seed(0))
    expected = TF.rotate(x, 25.0, interpolation=BILINEAR)
    assert torch.allclose(affine(x, 25.0), expected, atol=1e-4)


def test_the_border_is_filled_with_the_given_value():
    out = affine(torch.ones(1, 1, 28, 28), 45.0, scale=0.5, fill=-0.42)
    assert out[0, 0, 0, 0].item() == pytest.approx(-0.42)
    assert out[0, 0, 14, 14].item() == pytest.approx(1.0)


def test_every_image_gets_its_own_amounts_unlike_torchvision_on_a_batch(digits):
    copies = digits[:1].expand(8, -1, -1, -1).contiguous()
    torch.manual_seed(0)
    theirs = v2.RandomAffine(degrees=30, translate=(0.1, 0.1))(copies)
    assert all(torch.equal(theirs[0], t) for t in theirs)  # one draw for the whole batch
    ours = random_affine(copies, 30, 0.1, (0.9, 1.1), generator=torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten().tolist()) for o in ours}) == 8


def test_the_same_seed_repeats_the_draw_and_another_changes_it(digits):
    def draw(seed):
        return random_affine(digits, 20, 0.1, (0.9, 1.1), generator=torch.Generator()
                             .manual_seed(seed))
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


BAD_RANGES = [({"degrees": -1}, "degrees"), ({"degrees": 200}, "degrees"),
              ({"degrees": "10"}, "degrees"), ({"translate": 1.5}, "translate"),
              ({"translate": -0.1}, "translate"), ({"scale": (1.1, 0.9)}, "scale"),
              ({"scale": (0, 1)}, "scale"), ({"scale": 1.0}, "scale")]


@pytest.mark.parametrize("kwargs, name", BAD_RANGES)
def test_bad_ranges_raise_a_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        RandomAffine(**kwargs)
    with pytest.raises(ValueError, match=f"^{name} "):
        random_affine(torch.zeros(2, 1, 8, 8), **kwargs)


def test_bad_images_or_amounts_raise_a_value_error():
    with pytest.raises(ValueError, match="^images "):
        affine(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="^angle "):
        affine(torch.zeros(2, 1, 8, 8), angle=torch.zeros(3))
    with pytest.raises(ValueError, match="^scale "):
        affine(torch.zeros(2, 1, 8, 8), scale=-1.0)


def test_the_callback_augments_training_batches_only_and_fills_with_black():
    data = load_digits_28()
    seen = []

    class Keep(RandomAffine):
        def before_batch(self):
            before = self.learner.xb.clone()
            super().before_batch()
            seen.append((before, self.learner.xb.clone()))

    learn = Learner(simple_cnn(seed=0), data, batch_size=64, seed=0, progress=False,
                    callbacks=[Keep(degrees=30, translate=0.1)])
    learn.fit(1, lr=0.01)
    before, after = seen[0]
    assert after.shape == before.shape and not torch.allclose(after, before)
    black = (0.0 - learn.train_batches.mean) / learn.train_batches.std
    assert after.min().item() == pytest.approx(black, abs=1e-4)
    assert len(seen) == len(learn.train_batches)  # validation batches never pass through it
