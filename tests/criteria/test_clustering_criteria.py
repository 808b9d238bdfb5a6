"""Clustering criteria keep one filter of every group of identical filters."""

import numpy as np
import pytest
import torch

from prunebench.criterion import ChannelGroup
from prunebench_clustering.deep_feature import MEAN, STD, filters_to_images
from prunebench_clustering.representatives import nearest_members
from tests.criteria.helpers import context, make, make_with

CLUSTERING = ["agglomerative-cosine", "kmeans-raw", "deep-feature-kmeans"]
ORDER = [0, 2, 1, 3, 3, 0, 2, 1]  # filter i is a copy of base filter ORDER[i]


def duplicated_layer():
    torch.manual_seed(0)
    base = torch.randn(4, 2, 3, 3)
    conv = torch.nn.Conv2d(2, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(base[ORDER])
    return ChannelGroup("conv", conv)


@pytest.mark.parametrize("name", CLUSTERING)
def test_duplicate_filters_keep_one_of_each(name):
    group = duplicated_layer()
    criterion = make(name)
    criterion.prepare(context(group.conv, [group], []))
    kept = criterion.select(group, 4).tolist()
    assert sorted(ORDER[i] for i in kept) == [0, 1, 2, 3], kept


def test_nearest_members_picks_the_member_closest_to_each_centre_and_fills_up():
    vectors = np.array([[0.0], [1.0], [4.0], [5.0], [5.0]])
    labels = np.array([0, 0, 1, 1, 1])
    centres = np.array([[0.9], [4.9]])
    assert nearest_members(vectors, labels, centres, 2).tolist() == [1, 3]
    # three slots, two clusters: the third goes to the filter farthest from its representative
    assert nearest_members(vectors, labels, centres, 3).tolist() == [0, 1, 3]


def test_filter_mosaic_layout():
    weight = torch.tensor([[1.0, -1.0, 0.5, 0.0]]).view(1, 4, 1, 1)
    images = filters_to_images(weight, 8) * STD + MEAN
    assert images.shape == (1, 3, 8, 8)
    torch.testing.assert_close(images[0, :, :4, :4], torch.full((3, 4, 4), 1.0))  # tile (0,0)
    torch.testing.assert_close(images[0, :, :4, 4:], torch.full((3, 4, 4), 0.0))  # tile (0,1)
    torch.testing.assert_close(images[0, :, 4:, :4], torch.full((3, 4, 4), 0.75))  # tile (1,0)
    torch.testing.assert_close(images[0, :, 4:, 4:], torch.full((3, 4, 4), 0.5))  # tile (1,1)


def test_rgb_filters_are_images_already():
    weight = torch.tensor([0.5, -1.0, 0.0]).view(1, 3, 1, 1)
    images = filters_to_images(weight, 4) * STD + MEAN
    torch.testing.assert_close(images[0, :, 0, 0], torch.tensor([0.75, 0.0, 0.5]))


def test_deep_feature_default_model_b_is_imagenet_trained_and_recorded():
    """Model B must be a network trained on natural images: the default one names
    scikit-learn's photo of a Chinese temple a building (ImageNet 442 bell cote, 538 dome, 698
    palace) with confidence; a random VGG-16 spreads its probability almost evenly."""
    from sklearn.datasets import load_sample_image

    group = duplicated_layer()
    criterion = make("deep-feature-kmeans")
    criterion.prepare(context(group.conv, [group], []))
    report = criterion.report()
    assert report["model_b"] == "efficientnet-lite0"
    assert report["model_b_weights"].startswith(
        "efficientnet-lite0, imagenet (efficientnet-lite0-57934424.pth, sha256 ")
    assert report["note"] == f"model B: {report['model_b_weights']}"
    assert criterion.represent(group.conv.weight).shape == (8, 1000)
    photo = torch.tensor(load_sample_image("china.jpg")).permute(2, 0, 1)[None].float() / 255
    photo = torch.nn.functional.interpolate(photo, size=(224, 224), mode="bilinear",
                                            antialias=True)
    with torch.no_grad():
        trained = criterion._model_b((photo - MEAN) / STD).softmax(1)[0]
    assert set(trained.topk(3).indices.tolist()) <= {442, 538, 698, 497, 832}
    assert trained.max() > 0.3
    random_b = make_with("deep-feature-kmeans", model_b="vgg16-random")
    random_b.prepare(context(group.conv, [group], []))
    assert random_b.report()["model_b_weights"] == "vgg16, random-init (seed 0)"
    with torch.no_grad():
        assert random_b._model_b((photo - MEAN) / STD).softmax(1).max() < 0.05


def test_deep_feature_model_b_is_a_setting_never_a_silent_fallback(tmp_path):
    from prunebench_clustering.deep_feature import DeepFeatureKMeans

    group = duplicated_layer()
    missing = DeepFeatureKMeans(model_b="vgg16", vgg16_weights=tmp_path / "absent.pth",
                                image_size=32)
    with pytest.raises(FileNotFoundError, match="absent.pth is not a file"):
        missing.prepare(context(group.conv, [group], []))
    assert missing.report()["image_size"] == 32
    for settings in ({"model_b": "vgg16"}, {"vgg16_weights": tmp_path / "vgg16.pth"}):
        with pytest.raises(ValueError, match="give both or neither"):
            DeepFeatureKMeans(**settings)
    with pytest.raises(ValueError, match="model_b=resnet is none of efficientnet-lite0, vgg16"):
        DeepFeatureKMeans(model_b="resnet")


def test_the_published_board_names_deep_feature_kmeans_pretrained_model_b():
    """The second edition replaced the first's random-init model B: the board names the one
    ImageNet model B its rows used, by file and digest, and no random one."""
    from pathlib import Path

    board = (Path(__file__).parents[2] / "leaderboards" / "lenet5-fashionmnist.md").read_text()
    assert ("- *deep-feature-kmeans: model B: efficientnet-lite0, imagenet "
            "(efficientnet-lite0-57934424.pth, sha256 579344248a93e230)*") in board
    assert "random-init" not in board


def test_agglomerative_two_member_clusters_keep_the_lower_index():
    """The mean direction of two unit vectors is equally near both: the documented tie rule,
    not rounding, must decide. Two tight pairs (filters 0, 1 and 2, 3) far apart, 40 draws."""
    criterion = make("agglomerative-cosine")
    kept = []
    for seed in range(40):
        generator = torch.Generator().manual_seed(seed)
        a, b = torch.randn(2, 18, generator=generator)
        noise = 1e-2 * torch.randn(2, 18, generator=generator)
        conv = torch.nn.Conv2d(2, 4, 3)
        with torch.no_grad():
            conv.weight.copy_(torch.stack([a, a + noise[0], -b, -b + noise[1]]).view(4, 2, 3, 3))
        kept.append(criterion.select(ChannelGroup("conv", conv), 2).tolist())
    assert kept == [[0, 2]] * 40


@pytest.mark.parametrize("name", ["kmeans-raw", "deep-feature-kmeans"])
def test_kmeans_restarts_is_a_setting_that_reaches_scikit_learn(name, monkeypatch):
    """Default 10 runs (what every published board used, so a cell without the setting keeps
    its configuration hash); `restarts=1` makes one run and still keeps one filter of each
    group of identical filters; 0 runs is refused."""
    from prunebench_clustering import representatives

    runs = []

    class Spy(representatives.KMeans):
        def fit(self, x, y=None, sample_weight=None):
            runs.append(self.n_init)
            return super().fit(x, y, sample_weight)

    monkeypatch.setattr(representatives, "KMeans", Spy)
    group = duplicated_layer()
    for criterion in (make(name), make_with(name, restarts=1)):
        criterion.prepare(context(group.conv, [group], []))
        kept = criterion.select(group, 4).tolist()
        assert sorted(ORDER[i] for i in kept) == [0, 1, 2, 3], kept
    assert runs == [10, 1]
    with pytest.raises(ValueError, match="restarts=0 must be at least 1"):
        make_with(name, restarts=0)
