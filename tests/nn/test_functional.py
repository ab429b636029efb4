"""Every function of ``nn.functional`` in one table: forward and gradients against PyTorch in
float64 and float32, and the fused ops against central differences (gradcheck, float64).

A row is (name, fn(L, *tensors), inputs): ``L.F`` is chainrule's or PyTorch's functional module,
so the same call runs on both."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from .helpers import CR, In, compare_with_torch, cr_inputs, make_arrays

N, C = 6, 5
X = In((N, C))
IDX = In((N,), "index", classes=C)


def _bn(training, affine=True):
    def fn(L, x, rm, rv, *wb):
        rm, rv = rm.detach().clone(), rv.detach().clone()  # fresh running stats per call
        return L.F.batch_norm(x, rm, rv, *(wb if affine else ()), training=training,
                              momentum=0.2, eps=1e-3)
    return fn


RM = In((3,), grad=False)
RV = In((3,), "positive", grad=False)

ROWS = [
    # activations (the core ops, through F)
    ("relu", lambda L, x: L.F.relu(x), [X]),
    ("leaky_relu", lambda L, x: L.F.leaky_relu(x, 0.1), [X]),
    ("gelu", lambda L, x: L.F.gelu(x), [X]),
    ("gelu_tanh", lambda L, x: L.F.gelu(x, approximate="tanh"), [X]),
    ("sigmoid", lambda L, x: L.F.sigmoid(x), [X]),
    ("tanh", lambda L, x: L.F.tanh(x), [X]),
    ("softmax", lambda L, x: L.F.softmax(x, dim=1), [X]),
    ("softmax_3d_last", lambda L, x: L.F.softmax(x, dim=-1), [In((2, 3, 4))]),
    ("log_softmax", lambda L, x: L.F.log_softmax(x, dim=1), [X]),
    ("log_softmax_dim0", lambda L, x: L.F.log_softmax(x, dim=0), [X]),
    # linear
    ("linear", lambda L, x, w, b: L.F.linear(x, w, b), [In((N, 4)), In((3, 4)), In((3,))]),
    ("linear_no_bias", lambda L, x, w: L.F.linear(x, w), [In((N, 4)), In((3, 4))]),
    ("linear_3d", lambda L, x, w, b: L.F.linear(x, w, b), [In((2, 5, 4)), In((3, 4)), In((3,))]),
    ("linear_1d", lambda L, x, w, b: L.F.linear(x, w, b), [In((4,)), In((3, 4)), In((3,))]),
    ("linear_x_const", lambda L, x, w, b: L.F.linear(x, w, b),
     [In((N, 4), grad=False), In((3, 4)), In((3,))]),
    # batch norm
    ("batch_norm_train_2d", _bn(True), [In((N, 3)), RM, RV, In((3,)), In((3,))]),
    ("batch_norm_train_3d", _bn(True), [In((4, 3, 5)), RM, RV, In((3,)), In((3,))]),
    ("batch_norm_train_4d", _bn(True), [In((2, 3, 4, 3)), RM, RV, In((3,)), In((3,))]),
    ("batch_norm_train_no_affine", _bn(True, False), [In((N, 3)), RM, RV]),
    ("batch_norm_eval", _bn(False), [In((2, 3, 4, 3)), RM, RV, In((3,)), In((3,))]),
    ("batch_norm_eval_no_affine", _bn(False, False), [In((N, 3)), RM, RV]),
    # cross-entropy from class indices
    ("ce", lambda L, x, t: L.F.cross_entropy(x, t), [X, IDX]),
    ("ce_sum", lambda L, x, t: L.F.cross_entropy(x, t, reduction="sum"), [X, IDX]),
    ("ce_none", lambda L, x, t: L.F.cross_entropy(x, t, reduction="none"), [X, IDX]),
    ("ce_weight", lambda L, x, t, w: L.F.cross_entropy(x, t, weight=w),
     [X, IDX, In((C,), "positive", grad=False)]),
    ("ce_weight_none", lambda L, x, t, w: L.F.cross_entropy(x, t, weight=w, reduction="none"),
     [X, IDX, In((C,), "positive", grad=False)]),
    ("ce_ignore_default", lambda L, x, t: L.F.cross_entropy(x, t),
     [X, In((N,), "index", classes=C, ignore=-100)]),
    ("ce_ignore_in_range", lambda L, x, t: L.F.cross_entropy(x, t, ignore_index=1),
     [X, In((N,), "index", classes=C, ignore=1)]),
    ("ce_ignore_weight", lambda L, x, t, w: L.F.cross_entropy(x, t, weight=w, ignore_index=3),
     [X, In((N,), "index", classes=C, ignore=3), In((C,), "positive", grad=False)]),
    ("ce_ignore_none", lambda L, x, t: L.F.cross_entropy(x, t, ignore_index=3, reduction="none"),
     [X, In((N,), "index", classes=C, ignore=3)]),
    ("ce_smoothing", lambda L, x, t: L.F.cross_entropy(x, t, label_smoothing=0.1), [X, IDX]),
    ("ce_smoothing_weight_ignore",
     lambda L, x, t, w: L.F.cross_entropy(x, t, weight=w, ignore_index=2, label_smoothing=0.3),
     [X, In((N,), "index", classes=C, ignore=2), In((C,), "positive", grad=False)]),
    ("ce_smoothing_sum_ignore",
     lambda L, x, t: L.F.cross_entropy(x, t, reduction="sum", label_smoothing=0.2),
     [X, In((N,), "index", classes=C, ignore=-100)]),
    ("ce_smoothing_none_weight",
     lambda L, x, t, w: L.F.cross_entropy(x, t, w, reduction="none", label_smoothing=0.2),
     [X, IDX, In((C,), "positive", grad=False)]),
    ("ce_4d", lambda L, x, t: L.F.cross_entropy(x, t),
     [In((2, C, 3, 2)), In((2, 3, 2), "index", classes=C)]),
    ("ce_4d_none_weight_ignore",
     lambda L, x, t, w: L.F.cross_entropy(x, t, w, ignore_index=0, reduction="none"),
     [In((2, C, 3, 2)), In((2, 3, 2), "index", classes=C, ignore=0),
      In((C,), "positive", grad=False)]),
    ("ce_3d_smoothing", lambda L, x, t: L.F.cross_entropy(x, t, label_smoothing=0.25),
     [In((2, C, 4)), In((2, 4), "index", classes=C)]),
    ("ce_unbatched", lambda L, x, t: L.F.cross_entropy(x, t), [In((C,)), In((), "index", classes=C)]),
    # cross-entropy from class probabilities (the target gets a gradient too)
    ("ce_prob", lambda L, x, t: L.F.cross_entropy(x, t), [X, In((N, C), "prob")]),
    ("ce_prob_none", lambda L, x, t: L.F.cross_entropy(x, t, reduction="none"),
     [X, In((N, C), "prob")]),
    ("ce_prob_weight_smoothing",
     lambda L, x, t, w: L.F.cross_entropy(x, t, weight=w, label_smoothing=0.2),
     [X, In((N, C), "prob"), In((C,), "positive", grad=False)]),
    ("ce_prob_4d_sum", lambda L, x, t: L.F.cross_entropy(x, t, reduction="sum"),
     [In((2, C, 3, 2)), In((2, C, 3, 2), "prob")]),
    ("ce_prob_unbatched", lambda L, x, t: L.F.cross_entropy(x, t), [In((C,)), In((C,), "prob", axis=0)]),
    # negative log-likelihood
    ("nll", lambda L, x, t: L.F.nll_loss(x, t), [X, IDX]),
    ("nll_sum", lambda L, x, t: L.F.nll_loss(x, t, reduction="sum"), [X, IDX]),
    ("nll_none", lambda L, x, t: L.F.nll_loss(x, t, reduction="none"), [X, IDX]),
    ("nll_weight_ignore", lambda L, x, t, w: L.F.nll_loss(x, t, w, ignore_index=4),
     [X, In((N,), "index", classes=C, ignore=4), In((C,), "positive", grad=False)]),
    ("nll_4d_none", lambda L, x, t: L.F.nll_loss(x, t, reduction="none"),
     [In((2, C, 3, 2)), In((2, 3, 2), "index", classes=C, ignore=-100)]),
    ("nll_of_log_softmax", lambda L, x, t: L.F.nll_loss(L.F.log_softmax(x, 1), t), [X, IDX]),
    # binary cross-entropy
    ("bce", lambda L, x, t: L.F.binary_cross_entropy(x, t), [In((N, 3), "unit"), In((N, 3), "unit")]),
    ("bce_sum_weight", lambda L, x, t, w: L.F.binary_cross_entropy(x, t, w, reduction="sum"),
     [In((N, 3), "unit"), In((N, 3), "unit"), In((3,), "positive", grad=False)]),
    ("bce_none", lambda L, x, t: L.F.binary_cross_entropy(x, t, reduction="none"),
     [In((N, 3), "unit"), In((N, 3), "unit")]),
    ("bce_logits", lambda L, x, t: L.F.binary_cross_entropy_with_logits(x, t),
     [In((N, 3)), In((N, 3), "unit")]),
    ("bce_logits_none_weight",
     lambda L, x, t, w: L.F.binary_cross_entropy_with_logits(x, t, w, reduction="none"),
     [In((N, 3)), In((N, 3), "unit"), In((N, 1), "positive", grad=False)]),
    ("bce_logits_pos_weight",
     lambda L, x, t, pw: L.F.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
     [In((N, 3)), In((N, 3), "unit"), In((3,), "positive", grad=False)]),
    ("bce_logits_all_sum",
     lambda L, x, t, w, pw: L.F.binary_cross_entropy_with_logits(x, t, w, reduction="sum",
                                                                 pos_weight=pw),
     [In((N, 3)), In((N, 3), "unit"), In((3,), "positive", grad=False),
      In((3,), "positive", grad=False)]),
    # regression
    ("mse", lambda L, x, t: L.F.mse_loss(x, t), [In((N, 3)), In((N, 3))]),
    ("mse_sum", lambda L, x, t: L.F.mse_loss(x, t, reduction="sum"), [In((N, 3)), In((N, 3))]),
    ("mse_none", lambda L, x, t: L.F.mse_loss(x, t, reduction="none"), [In((N, 3)), In((N, 3))]),
    ("l1", lambda L, x, t: L.F.l1_loss(x, t), [In((N, 3)), In((N, 3))]),
    ("l1_sum", lambda L, x, t: L.F.l1_loss(x, t, reduction="sum"), [In((N, 3)), In((N, 3))]),
    ("l1_none", lambda L, x, t: L.F.l1_loss(x, t, reduction="none"), [In((N, 3)), In((N, 3))]),
    # -- activations (issue 15); in place on a non-leaf (x * 1), as a network does --
    ("elu", lambda L, x: L.F.elu(x, alpha=0.7), [X]),
    ("elu_inplace", lambda L, x: L.F.elu(x * 1, 1.3, inplace=True), [X]),
    ("selu", lambda L, x: L.F.selu(x), [X]),
    ("selu_inplace", lambda L, x: L.F.selu_(x * 1), [X]),
    ("celu", lambda L, x: L.F.celu(x, alpha=1.5), [X]),
    ("celu_inplace", lambda L, x: L.F.celu(x * 1, 0.5, inplace=True), [X]),
    ("silu", lambda L, x: L.F.silu(x * 3), [X]),
    ("silu_inplace", lambda L, x: L.F.silu(x * 1, inplace=True), [X]),
    ("mish", lambda L, x: L.F.mish(x * 3), [X]),
    ("mish_inplace", lambda L, x: L.F.mish(x * 1, inplace=True), [X]),
    ("softplus", lambda L, x: L.F.softplus(x * 3), [X]),
    ("softplus_beta_threshold", lambda L, x: L.F.softplus(x, beta=2.0, threshold=1.0), [X]),
    ("softsign", lambda L, x: L.F.softsign(x * 3), [X]),
    ("hardtanh", lambda L, x: L.F.hardtanh(x, -0.5, 1.2), [X]),
    ("hardtanh_inplace", lambda L, x: L.F.hardtanh_(x * 1), [X]),
    ("relu6", lambda L, x: L.F.relu6(x * 4), [X]),
    ("relu6_inplace", lambda L, x: L.F.relu6(x * 4, inplace=True), [X]),
    ("hardswish", lambda L, x: L.F.hardswish(x * 3), [X]),
    ("hardswish_inplace", lambda L, x: L.F.hardswish(x * 3, inplace=True), [X]),
    # (hardsigmoid and multi_margin_loss: tests/nn/test_activations_losses.py, as PyTorch has no
    # double backward for them to compare with)
    ("threshold", lambda L, x: L.F.threshold(x, 0.2, -3.0), [X]),
    ("threshold_inplace", lambda L, x: L.F.threshold_(x * 1, 0.2, -3.0), [X]),
    ("logsigmoid", lambda L, x: L.F.logsigmoid(x * 3), [X]),
    ("softmin", lambda L, x: L.F.softmin(x, dim=1), [X]),
    ("softmin_3d", lambda L, x: L.F.softmin(x, 0), [In((2, 3, 4))]),
    ("glu", lambda L, x: L.F.glu(x, dim=0), [X]),
    ("glu_last", lambda L, x: L.F.glu(x), [In((2, 3, 4))]),
    ("prelu_channels", lambda L, x, w: L.F.prelu(x, w), [In((4, 3, 5)), In((3,))]),
    ("prelu_one", lambda L, x, w: L.F.prelu(x, w), [X, In((1,))]),
    ("prelu_1d", lambda L, x, w: L.F.prelu(x, w), [In((5,)), In((1,))]),
    ("prelu_x_const", lambda L, x, w: L.F.prelu(x, w), [In((2, 3, 2), grad=False), In((3,))]),
    # -- losses (issue 15) --
    ("smooth_l1", lambda L, x, t: L.F.smooth_l1_loss(x, t, beta=0.5), [In((N, 3)), In((N, 3))]),
    ("smooth_l1_sum", lambda L, x, t: L.F.smooth_l1_loss(x, t, reduction="sum"),
     [In((N, 3)), In((N, 3))]),
    ("smooth_l1_none_beta0", lambda L, x, t: L.F.smooth_l1_loss(x, t, reduction="none", beta=0.0),
     [In((N, 3)), In((N, 3))]),
    ("huber", lambda L, x, t: L.F.huber_loss(x, t, delta=0.8), [In((N, 3)), In((N, 3))]),
    ("huber_none", lambda L, x, t: L.F.huber_loss(x, t, reduction="none", delta=1.5),
     [In((N, 3)), In((N, 3))]),
    ("huber_weight_sum", lambda L, x, t, w: L.F.huber_loss(x, t, "sum", 0.6, weight=w),
     [In((N, 3)), In((N, 3)), In((N, 3), "positive")]),
    ("kl_div_batchmean", lambda L, x, t: L.F.kl_div(x, t, reduction="batchmean"),
     [X, In((N, C), "prob")]),
    ("kl_div_none", lambda L, x, t: L.F.kl_div(x, t, reduction="none"), [X, In((N, C), "unit")]),
    ("kl_div_log_target_sum", lambda L, x, t: L.F.kl_div(x, t, reduction="sum", log_target=True),
     [X, X]),
    ("poisson_nll", lambda L, x, t: L.F.poisson_nll_loss(x, t), [X, In((N, C), "positive")]),
    ("poisson_nll_rate_full_none",
     lambda L, x, t: L.F.poisson_nll_loss(x, t, log_input=False, full=True, reduction="none"),
     [In((N, C), "positive"), In((N, C), "positive")]),
    ("gaussian_nll", lambda L, x, t, v: L.F.gaussian_nll_loss(x, t, v),
     [In((N, 3)), In((N, 3)), In((N, 3), "positive")]),
    ("gaussian_nll_row_var_full_sum",
     lambda L, x, t, v: L.F.gaussian_nll_loss(x, t, v, full=True, reduction="sum"),
     [In((N, 3)), In((N, 3)), In((N,), "positive")]),
    ("gaussian_nll_var_1_none", lambda L, x, t, v: L.F.gaussian_nll_loss(x, t, v, reduction="none"),
     [In((N, 3)), In((N, 3)), In((N, 1), "positive")]),
    ("gaussian_nll_clamped", lambda L, x, t, v: L.F.gaussian_nll_loss(x, t, v, eps=0.3),
     [In((N, 3)), In((N, 3)), In((N, 3), "unit", grad=False)]),
    ("gaussian_nll_float_var", lambda L, x, t: L.F.gaussian_nll_loss(x, t, 0.7),
     [In((N, 3)), In((N, 3))]),
    ("cosine_embedding", lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, margin=0.1),
     [In((N, 4)), In((N, 4)), In((N,), "sign", grad=False)]),
    ("cosine_embedding_none",
     lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, margin=-0.3, reduction="none"),
     [In((N, 4)), In((N, 4)), In((N,), "sign", grad=False)]),
    ("cosine_embedding_1d", lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, margin=-0.5),
     [In((4,)), In((4,)), In((), "sign", grad=False)]),
    ("margin_ranking", lambda L, a, b, y: L.F.margin_ranking_loss(a, b, y, margin=0.2),
     [In((N,)), In((N,)), In((N,), "sign", grad=False)]),
    ("margin_ranking_target_grad_none",
     lambda L, a, b, y: L.F.margin_ranking_loss(a, b, y, reduction="none"),
     [In((N,)), In((N,)), In((N,))]),
    ("hinge_embedding", lambda L, x, y: L.F.hinge_embedding_loss(x, y, margin=0.5),
     [In((N, 3)), In((N, 3), "sign", grad=False)]),
    ("hinge_embedding_sum", lambda L, x, y: L.F.hinge_embedding_loss(x * 2, y, reduction="sum"),
     [In((N, 3)), In((N, 3), "sign", grad=False)]),
    ("triplet_margin", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n),
     [In((N, 4)), In((N, 4)), In((N, 4))]),
    ("triplet_margin_p1_swap",
     lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True),
     [In((N, 4)), In((N, 4)), In((N, 4))]),
    ("triplet_margin_p3_none",
     lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=1.5, p=3, reduction="none"),
     [In((N, 4)), In((N, 4)), In((N, 4))]),
    ("triplet_margin_pinf_swap",
     lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=2.0, p=float("inf"), swap=True),
     [In((N, 4)), In((N, 4)), In((N, 4))]),
    ("triplet_margin_1d", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=3.0),
     [In((4,)), In((4,)), In((4,))]),
    ("multilabel_soft_margin", lambda L, x, t: L.F.multilabel_soft_margin_loss(x, t),
     [X, In((N, C), "unit")]),
    ("multilabel_soft_margin_weight_none",
     lambda L, x, t, w: L.F.multilabel_soft_margin_loss(x, t, w, reduction="none"),
     [X, In((N, C), "unit"), In((C,), "positive")]),
    # -- layers (issue 15): convolution, pooling, resizing, normalisation, embedding --
    ("conv1d", lambda L, x, w, b: L.F.conv1d(x, w, b), [In((2, 3, 7)), In((4, 3, 3)), In((4,))]),
    ("conv1d_args", lambda L, x, w: L.F.conv1d(x, w, stride=2, padding=2, dilation=2, groups=2),
     [In((2, 4, 9)), In((6, 2, 3))]),
    ("conv1d_same_unbatched", lambda L, x, w, b: L.F.conv1d(x, w, b, padding="same"),
     [In((3, 6)), In((2, 3, 3)), In((2,))]),
    ("conv_transpose1d",
     lambda L, x, w, b: L.F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1),
     [In((2, 3, 5)), In((3, 2, 3)), In((2,))]),
    ("conv_transpose2d", lambda L, x, w, b: L.F.conv_transpose2d(x, w, b),
     [In((2, 3, 3, 4)), In((3, 2, 2, 3)), In((2,))]),
    ("conv_transpose2d_args",
     lambda L, x, w: L.F.conv_transpose2d(x, w, None, (2, 3), (1, 0), (1, 2), 2, (2, 1)),
     [In((1, 4, 3, 3)), In((4, 1, 3, 2))]),
    ("conv_transpose2d_unbatched",
     lambda L, x, w, b: L.F.conv_transpose2d(x, w, b, stride=2, padding=1),
     [In((2, 3, 3)), In((2, 2, 3, 3)), In((2,))]),
    ("max_pool1d", lambda L, x: L.F.max_pool1d(x, 3, 2, padding=1, ceil_mode=True),
     [In((2, 3, 8))]),
    ("max_pool1d_dilation_unbatched", lambda L, x: L.F.max_pool1d(x, 2, 1, dilation=2),
     [In((3, 7))]),
    ("avg_pool1d", lambda L, x: L.F.avg_pool1d(x, 3, 2, padding=1, count_include_pad=False),
     [In((2, 3, 8))]),
    ("avg_pool1d_ceil", lambda L, x: L.F.avg_pool1d(x, 2, ceil_mode=True), [In((2, 3, 7))]),
    ("adaptive_avg_pool1d", lambda L, x: L.F.adaptive_avg_pool1d(x, 3), [In((2, 3, 7))]),
    ("adaptive_avg_pool2d", lambda L, x: L.F.adaptive_avg_pool2d(x, (2, 3)), [In((2, 2, 5, 7))]),
    ("adaptive_avg_pool2d_even", lambda L, x: L.F.adaptive_avg_pool2d(x, (2, None)),
     [In((2, 2, 4, 3))]),
    ("adaptive_max_pool1d", lambda L, x: L.F.adaptive_max_pool1d(x, 4), [In((2, 3, 7))]),
    ("adaptive_max_pool2d", lambda L, x: L.F.adaptive_max_pool2d(x, (3, 2)), [In((2, 2, 5, 7))]),
    ("adaptive_max_pool2d_even", lambda L, x: L.F.adaptive_max_pool2d(x, 2), [In((2, 2, 4, 6))]),
    ("interpolate_nearest", lambda L, x: L.F.interpolate(x, size=(5, 3)), [In((2, 2, 3, 4))]),
    ("interpolate_nearest_exact",
     lambda L, x: L.F.interpolate(x, scale_factor=1.7, mode="nearest-exact"), [In((2, 2, 3, 4))]),
    ("interpolate_bilinear",
     lambda L, x: L.F.interpolate(x, scale_factor=(1.5, 0.75), mode="bilinear"),
     [In((2, 2, 3, 4))]),
    ("interpolate_bilinear_corners",
     lambda L, x: L.F.interpolate(x, size=(5, 3), mode="bilinear", align_corners=True),
     [In((2, 2, 3, 4))]),
    ("interpolate_linear", lambda L, x: L.F.interpolate(x, size=7, mode="linear"), [In((2, 3, 4))]),
    ("interpolate_area", lambda L, x: L.F.interpolate(x, size=(2, 3), mode="area"),
     [In((2, 2, 5, 4))]),
    ("pixel_shuffle", lambda L, x: L.F.pixel_shuffle(x, 2), [In((2, 8, 2, 3))]),
    ("pixel_unshuffle", lambda L, x: L.F.pixel_unshuffle(x, 2), [In((2, 2, 4, 2))]),
    ("layer_norm", lambda L, x, w, b: L.F.layer_norm(x, (4,), w, b),
     [In((3, 2, 4)), In((4,)), In((4,))]),
    ("layer_norm_2d_shape", lambda L, x, w: L.F.layer_norm(x, (2, 4), w, eps=1e-3),
     [In((3, 2, 4)), In((2, 4))]),
    ("layer_norm_no_affine", lambda L, x: L.F.layer_norm(x, [C]), [X]),
    ("group_norm", lambda L, x, w, b: L.F.group_norm(x, 2, w, b),
     [In((2, 4, 3)), In((4,)), In((4,))]),
    ("group_norm_4d_no_affine", lambda L, x: L.F.group_norm(x, 3, eps=1e-3), [In((2, 6, 2, 2))]),
    ("instance_norm", lambda L, x, w, b: L.F.instance_norm(x, weight=w, bias=b),
     [In((2, 3, 4)), In((3,)), In((3,))]),
    ("instance_norm_4d", lambda L, x: L.F.instance_norm(x, eps=1e-3), [In((2, 3, 2, 3))]),
    ("instance_norm_running_stats",
     lambda L, x, rm, rv: L.F.instance_norm(x, rm.detach().clone(), rv.detach().clone(),
                                            momentum=0.3),
     [In((2, 3, 4)), RM, RV]),
    ("instance_norm_eval",
     lambda L, x, rm, rv, w, b: L.F.instance_norm(x, rm, rv, w, b, use_input_stats=False),
     [In((2, 3, 4)), RM, RV, In((3,)), In((3,))]),
    ("embedding", lambda L, w, i: L.F.embedding(i, w), [In((5, 3)), In((2, 4), "index", classes=5)]),
    # (padding_idx and scale_grad_by_freq, whose gradients are not the derivative by design:
    # tests/nn/test_layers_more.py)
    # -- layers (issue 15, audit): the forms practitioners type most --
    ("interpolate_nearest_x2", lambda L, x: L.F.interpolate(x, scale_factor=2),
     [In((2, 2, 3, 4))]),
    ("interpolate_nearest_1d_down", lambda L, x: L.F.interpolate(x, scale_factor=0.5),
     [In((2, 3, 7))]),
    ("interpolate_bilinear_x2_corners",
     lambda L, x: L.F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
     [In((1, 2, 3, 4))]),
    ("interpolate_bilinear_size_down",
     lambda L, x: L.F.interpolate(x, size=(2, 3), mode="bilinear"), [In((1, 2, 5, 4))]),
    ("interpolate_trilinear",
     lambda L, x: L.F.interpolate(x, scale_factor=(1.5, 2, 0.5), mode="trilinear"),
     [In((1, 2, 3, 2, 4))]),
    ("conv_transpose1d_groups_dilation",
     lambda L, x, w, b: L.F.conv_transpose1d(x, w, b, 2, 1, 1, 2, 2),
     [In((2, 4, 5)), In((4, 3, 3)), In((6,))]),
    ("avg_pool1d_pad_include", lambda L, x: L.F.avg_pool1d(x, 3, 2, 1), [In((2, 3, 8))]),
    ("kl_div_mean", lambda L, x, t: L.F.kl_div(x, t, reduction="mean"), [X, In((N, C), "unit")]),
    ("smooth_l1_default", lambda L, x, t: L.F.smooth_l1_loss(x, t), [In((N, 3)), In((N, 3))]),
    ("poisson_nll_sum_eps", lambda L, x, t: L.F.poisson_nll_loss(x, t, reduction="sum", eps=0.1),
     [X, In((N, C), "positive")]),
    ("margin_ranking_sum", lambda L, a, b, y: L.F.margin_ranking_loss(a, b, y, reduction="sum"),
     [In((N,)), In((N,)), In((N,), "sign", grad=False)]),
    ("cosine_embedding_sum", lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, 0.3,
                                                                          reduction="sum"),
     [In((N, 3)), In((N, 3)), In((N,), "sign", grad=False)]),
    ("hinge_embedding_none", lambda L, x, y: L.F.hinge_embedding_loss(x, y, reduction="none"),
     [In((N, 3)), In((N, 3), "sign", grad=False)]),
    ("multilabel_soft_margin_sum",
     lambda L, x, t: L.F.multilabel_soft_margin_loss(x, t, reduction="sum"),
     [In((N, 3)), In((N, 3), "unit", grad=False)]),
    ("gaussian_nll_full_mean", lambda L, x, t, v: L.F.gaussian_nll_loss(x, t, v, full=True),
     [In((N, 3)), In((N, 3)), In((N, 3), "positive")]),
]
IDS = [r[0] for r in ROWS]

# rows that are fused ops of chainrule (checked by finite differences too)
FUSED = [r for r in ROWS if not r[0].startswith(("relu", "leaky", "gelu", "sigmoid", "tanh",
                                                  "softmax", "log_softmax"))]


@pytest.mark.parametrize("name,fn,specs", ROWS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(name, fn, specs, dtype):
    compare_with_torch(fn, specs, dtype, seed=IDS.index(name))


@pytest.mark.parametrize("name,fn,specs", FUSED, ids=[r[0] for r in FUSED])
def test_gradcheck(name, fn, specs):
    arrays = make_arrays(specs, 100 + IDS.index(name), np.float64)
    xs = cr_inputs(specs, arrays)
    assert cr.autograd.gradcheck(lambda *t: fn(CR, *t), xs, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name,fn,specs", ROWS, ids=IDS)
def test_no_graph_without_grad(name, fn, specs):
    """No input requires grad: the result is a constant with the same value."""
    arrays = make_arrays(specs, 7, np.float64)
    with_grad = fn(CR, *cr_inputs(specs, arrays))
    plain = fn(CR, *[cr.tensor(a) for a in arrays])
    assert plain.grad_fn is None and not plain.requires_grad
    np.testing.assert_array_equal(plain.data, with_grad.data)


def test_bce_with_logits_pos_weight_gradient():
    """PyTorch does not differentiate with respect to pos_weight; chainrule does."""
    specs = [In((N, 3)), In((N, 3), "unit"), In((3,), "positive")]
    xs = cr_inputs(specs, make_arrays(specs, 0, np.float64))
    f = lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)  # noqa: E731
    assert cr.autograd.gradcheck(f, xs, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_float32_stays_float32():
    x = cr.randn(4, 3, requires_grad=True)
    w = cr.randn(2, 3, requires_grad=True)
    y = F.linear(x, w, cr.zeros(2, requires_grad=True))
    loss = F.cross_entropy(y, cr.tensor([0, 1, 1, 0]))
    assert y.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_a_second_backward_with_retain_graph_is_the_same():
    x = cr.randn(5, 4, dtype=cr.float64, requires_grad=True)
    w = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    loss = F.cross_entropy(F.linear(x, w), cr.tensor([0, 1, 2, 1, 0]), label_smoothing=0.1)
    loss.backward(retain_graph=True)
    first = np.array(x.grad), np.array(w.grad)
    loss.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first[0], rtol=1e-14)
    np.testing.assert_allclose(w.grad.data, 2 * first[1], rtol=1e-14)


# -- the fused ops are one node each -------------------------------------------------------------

def test_linear_is_one_node():
    x, w, b = cr.randn(2, 3), cr.randn(4, 3, requires_grad=True), cr.randn(4, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.grad_fn.name() == "LinearBackward"
    # straight to the leaves: x needs no gradient, w and b accumulate theirs
    assert [type(fn).__name__ for fn, _ in y.grad_fn.next_functions] == [
        "NoneType", "AccumulateGrad", "AccumulateGrad"]


def test_cross_entropy_is_one_node():
    z = cr.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(z, cr.tensor([0, 3, 1]))
    assert loss.grad_fn.name() == "CrossEntropyBackward"
    assert loss.grad_fn.next_functions[0][0].variable is z  # straight to the leaf


def test_linear_skips_the_input_gradient_nobody_wants():
    x = cr.randn(2, 3)
    w = cr.randn(4, 3, requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.data, np.ones((4, 1)) * x.data.sum(0), rtol=1e-6)


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z = cr.randn(4, 3, dtype=cr.float64, requires_grad=True)
    t = np.array([2, 0, 1, 1])
    F.cross_entropy(z, cr.tensor(t)).backward()
    p = np.exp(z.data) / np.exp(z.data).sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad.data, (p - np.eye(3)[t]) / 4, rtol=1e-12)


def test_nll_of_log_softmax_equals_cross_entropy():
    z = cr.randn(7, 4, dtype=cr.float64)
    t = cr.tensor([0, 1, 2, 3, 3, 2, 1])
    w = cr.tensor([1.0, 2.0, 0.5, 1.5], dtype=cr.float64)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z, 1), t, w).item(),
                               F.cross_entropy(z, t, w).item(), rtol=1e-14)


def test_mse_sum_is_the_classic_sum_of_squares():
    out = cr.tensor([1.0, 2.0, 4.0], dtype=cr.float64)
    target = cr.tensor([0.0, 2.0, 1.0], dtype=cr.float64)
    assert F.mse_loss(out, target, reduction="sum").item() == 10.0
    assert 0.5 * F.mse_loss(out, target, reduction="sum").item() == 5.0
    assert "reduction=\"sum\"" in F.mse_loss.__doc__ and "½" in F.mse_loss.__doc__


# -- stability -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_and_exact_for_huge_logits(dtype):
    torch = pytest.importorskip("torch")
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4], [-1e4, 5e3, 1e4]], dtype)
    t = np.array([1, 2, 0, 0])
    for kw in ({}, {"label_smoothing": 0.1}, {"reduction": "none"}):
        x = cr.tensor(z, requires_grad=True)
        loss = F.cross_entropy(x, cr.tensor(t), **kw)
        xt = torch.tensor(z, requires_grad=True)
        lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **kw)
        assert np.all(np.isfinite(loss.data))
        np.testing.assert_allclose(loss.data, lt.detach().numpy(), rtol=1e-6)
        loss.sum().backward()
        lt.sum().backward()
        assert np.all(np.isfinite(x.grad.data))
        np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_bce_with_logits_is_stable_for_huge_logits():
    torch = pytest.importorskip("torch")
    z = np.array([1e4, -1e4, 800.0, -800.0, 0.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    x = cr.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, cr.tensor(t), reduction="none")
    xt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(loss.data, lt.detach().numpy(), rtol=1e-12)
    loss.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call", [
    lambda L: L.nn.functional.binary_cross_entropy(L.full((2,), 0.5), L.tensor([0, 1])),
    lambda L: L.nn.functional.binary_cross_entropy(L.full((2,), 0.5), L.tensor([True, False])),
    lambda L: L.nn.BCELoss()(L.full((2,), 0.5), L.tensor([0.0, 1.0], dtype=L.float64)),
    lambda L: L.nn.functional.binary_cross_entropy_with_logits(L.zeros(2), L.tensor([0, 1])),
    lambda L: L.nn.BCEWithLogitsLoss()(L.zeros(2), L.tensor([0, 1])),
])
def test_bce_refuses_targets_of_another_dtype_as_pytorch(call):
    # the beginner's integer labels: PyTorch says so (and `.float()` fixes it) rather than train
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as want:
        call(torch)
    with pytest.raises(RuntimeError) as got:
        call(cr)
    if "Found dtype" in str(want.value) or "result type" in str(want.value):
        assert str(got.value) == str(want.value)


def test_bce_takes_targets_pytorch_takes():
    torch = pytest.importorskip("torch")
    for L in (cr, torch):
        F_ = L.nn.functional
        for dtype in (L.float32, L.float64):
            assert F_.binary_cross_entropy_with_logits(
                L.zeros(2, dtype=dtype), L.zeros(2, dtype=dtype)).dtype == dtype
            assert F_.binary_cross_entropy(
                L.full((2,), 0.5, dtype=dtype), L.tensor([0.0, 1.0], dtype=dtype)).dtype == dtype


def test_bce_clamps_the_log_at_minus_100_like_torch():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    got = F.binary_cross_entropy(cr.tensor(p), cr.tensor(t), reduction="none").data
    want = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t),
                                                    reduction="none").numpy()
    np.testing.assert_array_equal(got, want)
    assert got[0] == 100.0
    x = cr.tensor(p, requires_grad=True)
    xt = torch.tensor(p, requires_grad=True)
    F.binary_cross_entropy(x, cr.tensor(t), reduction="sum").backward()
    torch.nn.functional.binary_cross_entropy(xt, torch.tensor(t), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12)


# -- dropout ---------------------------------------------------------------------------------------

def test_dropout_gradcheck_with_a_fixed_mask():
    x = cr.randn(4, 5, dtype=cr.float64, requires_grad=True)

    def f(x):
        cr.manual_seed(3)  # the same mask on every call
        return F.dropout(x, 0.4, training=True)

    assert cr.autograd.gradcheck(f, [x])


def test_dropout_mask_scaling_and_gradient():
    cr.manual_seed(0)
    x = cr.ones(200, 500, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = np.asarray(y) != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * y.data, rtol=1e-6)  # dL/dx = 2 * mask
    assert y.grad_fn.name() == "DropoutBackward"


def test_dropout_is_reproducible_from_the_seed_and_identity_when_not_training():
    x = cr.randn(10, 10)
    cr.manual_seed(5)
    a = F.dropout(x, 0.5)
    cr.manual_seed(5)
    b = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a.data, b.data)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).data == 0)
    assert F.dropout(x.double(), 0.5).dtype == np.float64


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(cr.ones(2), 1.5)


# -- batch norm specifics --------------------------------------------------------------------------

def test_batch_norm_updates_running_stats_like_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    rm, rv = cr.zeros(3, dtype=cr.float64), cr.ones(3, dtype=cr.float64)
    rmt, rvt = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(4):
        x = rng.standard_normal((5, 3, 2)) * 3 + 1
        F.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.1)
        torch.nn.functional.batch_norm(torch.tensor(x), rmt, rvt, training=True, momentum=0.1)
    np.testing.assert_allclose(rm.data, rmt.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.data, rvt.numpy(), rtol=1e-12)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(cr.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match=r"running_mean should have shape \(3,\)"):
        F.batch_norm(cr.randn(4, 3), cr.zeros(4), cr.ones(4), training=True)


# -- errors name the op and the shapes ---------------------------------------------------------------

def test_linear_error_names_the_shapes():
    with pytest.raises(RuntimeError, match=r"linear: input has 100 features but weight expects "
                                           r"784 \(weight shape \(256, 784\)"):
        F.linear(cr.randn(32, 100), cr.randn(256, 784))


@pytest.mark.parametrize("target,message", [
    (np.zeros(31, np.int64), r"cross_entropy: expected target of shape \(32,\) for input \(32, 10\), got \(31,\)"),
    (np.full(32, 12), "cross_entropy: target 12 is out of bounds for 10 classes"),
    (np.full(32, -3), "cross_entropy: target -3 is out of bounds for 10 classes"),
    (np.zeros(32, np.float32), "cross_entropy: expected target of integer class indices"),
])
def test_cross_entropy_errors(target, message):
    with pytest.raises((RuntimeError, IndexError), match=message):
        F.cross_entropy(cr.randn(32, 10), cr.tensor(target))


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.mse_loss(cr.randn(3), cr.randn(3), reduction="foo")
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(cr.randn(3, 4), cr.softmax(cr.randn(3, 4), 1), ignore_index=1)
    with pytest.raises(IndexError, match="nll_loss: target 7 is out of bounds for 4 classes"):
        F.nll_loss(cr.randn(3, 4), cr.tensor([0, 7, 1]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(cr.tensor([0.5, 1.5]), cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"expected target of shape \(3,\)"):
        F.binary_cross_entropy(cr.rand(3), cr.rand(4))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(cr.randn(3, 1), cr.randn(3))


def test_legacy_reduction_arguments():
    x, t = cr.randn(4, 3), cr.randn(4, 3)
    with pytest.warns(UserWarning):
        assert F.mse_loss(x, t, size_average=False).item() == pytest.approx(
            F.mse_loss(x, t, reduction="sum").item())
    with pytest.warns(UserWarning):
        assert F.mse_loss(x, t, reduce=False).shape == (4, 3)


def test_empty_mean_is_nan_like_torch():
    z = cr.randn(3, 4)
    loss = F.cross_entropy(z, cr.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())


def test_one_hot():
    out = F.one_hot(cr.tensor([0, 2, 1]), 4)
    np.testing.assert_array_equal(out.data, np.eye(4, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(cr.tensor([[1], [3]])).shape == (2, 1, 4)
