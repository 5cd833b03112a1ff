"""The Pareto/NBD dropout integral with its first and second derivatives, from one quadrature.

``I = integral_{t_x}^T (alpha + tau)^-(r + x) (beta + tau)^-(s + 1) dtau`` (see
:mod:`clvmodels.models.pareto_nbd`). Differentiating under the integral, the derivatives of
``log I`` in (r, alpha, s, beta) are averages over the normalised integrand of the derivatives
of its log, ``phi = (-log A, -(r + x) / A, -log B, -(s + 1) / B)`` with ``A = alpha + tau``,
``B = beta + tau``, and the second derivatives are ``Cov(phi, phi) + E[d phi]``: the value,
the gradient and the Hessian come from the same nodes, with no 2F1 and no differences.

The variable is ``u = log(c + tau)``, ``c = min(alpha, beta)``, in which the log integrand
``(1 - k_c) u - k_o log(gap + e^u)`` is concave (``k_c`` the exponent of the factor with the
smaller scale, whose shifted value is e^u, ``k_o`` the other's, ``gap = |alpha - beta|``).
Per row, the interval is first cut where the integrand has become negligible (see
:meth:`_Integrand.truncated`), then integrated with fixed rules: Gauss-Kronrod 7-15, accepted
where the 7-point Gauss rule on the same nodes agrees to ``_AGREEMENT``; else Gauss-Legendre
with 32 nodes, checked against 16; the rows neither accepts (a sharp bend, or an interior peak
far above both ends) go to the adaptive quadrature of
:func:`clvmodels._numerics.log_integral_concave`, with the same averages.
"""

from __future__ import annotations

import numpy as np

from clvmodels._numerics import (
    NEGLIGIBLE_NATS,
    gauss_kronrod_15,
    gauss_legendre,
    log_integral_concave,
)

# Gauss quadrature's error falls geometrically with the nodes (the integrand is analytic near
# the interval): when a rule agrees with one of about twice its degree to 1e-9 relative, the
# higher one is accurate to about the square of that, far below rounding.
_AGREEMENT = 1e-9
# The averages: phi's four components in the order (log C, 1/C, log O, 1/O) (the smaller
# scale's factor C = e^u, the other O = gap + e^u), shifted (see _Integrand.features); for the
# Hessian then the ten products of these in the order of _PAIRS (the upper triangle, row by
# row), and the four again, averaged after the shift (the means the products are centred by;
# the first four are averaged before it, with fewer passes, and the same with or without the
# Hessian).
_PAIRS = [(i, j) for i in range(4) for j in range(i, 4)]
_PRODUCTS = 4
_CENTRED_MEANS = _PRODUCTS + len(_PAIRS)
_WITH_HESSIAN = _CENTRED_MEANS + 4
# From (C, O) to (A, B) order where alpha >= beta (A = O, B = C): components 0 <-> 2, 1 <-> 3.
_SWAP = (2, 3, 0, 1)
_SWAPPED_ORDER = [*_SWAP,
                  *(_PRODUCTS + _PAIRS.index(tuple(sorted((_SWAP[i], _SWAP[j]))))
                    for i, j in _PAIRS),
                  *(_CENTRED_MEANS + k for k in _SWAP)]


def dropout_integral_derivatives(r, alpha, s, beta, x, t_x, T, hessian: bool = False):
    """``log I`` per row, its gradient in (r, alpha, s, beta), shape (4, rows), and with
    ``hessian`` its second derivatives, shape (4, 4, rows) (else None).

    Any argument may be an array (per row) or a scalar; the result is flat over the rows of
    their broadcast shape. Rows with an empty interval (``t_x == T``: ``I = 0``) get
    ``log I = -inf`` and zero derivatives.
    """
    return _derivatives(r, alpha, s, beta, x, t_x, T, hessian)[:3]


def dropout_integral_pooled(r, alpha, s, beta, x, t_x, T):
    """``log I`` and its gradient per row as :func:`dropout_integral_derivatives` gives them
    (the same code), and a function of row weights returning the weighted sum of the rows'
    Hessians of log I, (4, 4).

    The Hessian of each row is a covariance of phi over its nodes plus E[d phi] (see the
    module); summed with weights, the covariances are one product of the stacked weighted
    nodes of all rows (a 4 x 4 matrix product over rows x nodes) less the weighted outer
    products of the rows' means, instead of ten products and averages per row. Rows the
    Kronrod rule did not accept (a few) get their Hessians one by one. Any argument may be
    an array or a scalar, as for :func:`dropout_integral_derivatives`.
    """
    kept = {}
    log_i, first, _, parts = _derivatives(r, alpha, s, beta, x, t_x, T, False, kept)
    arrays = [np.broadcast_to(np.asarray(v, dtype=float), log_i.shape)
              for v in (r, alpha, s, beta, x, t_x, T)]

    def pooled(row_weights: np.ndarray) -> np.ndarray:
        result = np.zeros((4, 4))
        if parts is None:
            return result
        rows, integrand, lo = parts
        accepted = kept["accepted"]
        result += integrand.pooled_curvature(kept["features"], kept["weights"],
                                             row_weights[rows], lo, accepted)
        others = rows[~accepted]
        if len(others):
            second = _derivatives(*(v[others] for v in arrays), True)[2]
            result += np.einsum("ijn,n->ij", second, row_weights[others])
        return result

    return log_i, first, pooled


def _derivatives(r, alpha, s, beta, x, t_x, T, hessian: bool, kept: dict | None = None):
    """:func:`dropout_integral_derivatives`, and the rows with an interval, their integrand
    and the start of their truncated intervals (None if there are none)."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in
                                   (r, alpha, s, beta, x, t_x, T)))
    r, alpha, s, beta, x, t_x, T = (v.reshape(-1) for v in arrays)
    n = len(r)
    log_i = np.full(n, -np.inf)
    first = np.zeros((4, n))
    second = np.zeros((4, 4, n)) if hessian else None
    rows = np.flatnonzero(t_x < T)
    if len(rows) == 0:
        return log_i, first, second, None
    integrand = _Integrand(*(v[rows] for v in (r, alpha, s, beta, x)))
    # The width from log1p: log(c + T) - log(c + t_x) would lose its digits on short intervals.
    start = integrand.c + t_x[rows]
    lo = np.log(start)
    lo, width = integrand.truncated(lo, np.log1p((T[rows] - t_x[rows]) / start))
    values, moments, done = _fixed_rules(integrand, lo, width, hessian, kept)
    left = np.flatnonzero(~done)
    if len(left):
        part = integrand.subset(left)
        values[left], moments[:, left] = log_integral_concave(
            part.log_f, part.slope, lo[left], lo[left] + width[left],
            breakpoints=[part.bend(lo[left])],
            moments=lambda u: np.array(part.features(part.at_nodes(u), hessian, lo[left])),
        )
    log_i[rows] = values
    moments = np.where(integrand.alpha_larger, moments[_SWAPPED_ORDER[:len(moments)]], moments)
    first[:, rows], curvature = integrand.derivatives(moments, lo, hessian)
    if hessian:
        second[:, :, rows] = curvature
    return log_i, first, second, (rows, integrand, lo)


def log_dropout_integral_adaptive(r, alpha, s, beta, x, t_x, T) -> np.ndarray:
    """``log I`` by the adaptive quadrature alone (the fallback of
    :func:`dropout_integral_derivatives`), for rows with ``t_x < T``; any argument may be an
    array or a scalar, and the result has their broadcast shape."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in
                                   (r, alpha, s, beta, x, t_x, T)))
    integrand = _Integrand(*arrays[:5])
    lo = np.log(integrand.c + arrays[5])
    width = np.log1p((arrays[6] - arrays[5]) / (integrand.c + arrays[5]))
    return log_integral_concave(integrand.log_f, integrand.slope, lo, lo + width,
                                breakpoints=[integrand.bend(lo)])


class _Integrand:
    """The log integrand in u = log(c + tau) and its moments, for rows of (r, alpha, s, beta,
    x) arrays of equal length."""

    def __init__(self, r, alpha, s, beta, x):
        self.arrays = (r, alpha, s, beta, x)
        self.c = np.minimum(alpha, beta)
        self.a_shift, self.b_shift = alpha - self.c, beta - self.c
        self.gap = np.abs(alpha - beta)
        self.k_a, self.k_b = r + x, s + 1.0
        self.alpha_larger = alpha >= beta  # then C = B (c = beta), else C = A
        self.k_c = np.where(self.alpha_larger, self.k_b, self.k_a)
        self.k_o = np.where(self.alpha_larger, self.k_a, self.k_b)
        self.m = r + s + x

    def subset(self, rows: np.ndarray) -> _Integrand:
        return _Integrand(*(v[rows] for v in self.arrays))

    def log_f(self, u):
        return (1.0 - self.k_c) * u - self.k_o * np.log(self.gap + np.exp(u))

    def slope(self, u):
        e_u = np.exp(u)
        return 1.0 - self.k_c - self.k_o * e_u / (self.gap + e_u)

    def bend(self, lo):
        """Where e^u reaches |alpha - beta| and the slope turns (lo where alpha == beta)."""
        with np.errstate(divide="ignore"):
            bend = np.log(self.gap)
        return np.where(np.isfinite(bend), bend, lo)

    def truncated(self, lo, width):
        """The interval ``[lo, lo + width]`` without the ends where the integrand is
        negligible, as its new start and width.

        The slope of the log integrand lies in [-m, 1] and decreases (concavity). Where it is
        negative at lo, the integrand beyond lo + d is below e**-(|slope| d) times its value
        at lo, and the integral at least that value times (1 - e**-(m L)) / m: cutting at
        ``d = (NEGLIGIBLE_NATS + log(m / |slope|)) / |slope|`` (when shorter than the interval
        L, so that m L > NEGLIGIBLE_NATS) leaves out less than e**-NEGLIGIBLE_NATS of it.
        Where it is positive at hi, the same from the other end, with the bound 1 on the slope.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            falling = -self.slope(lo)
            reach = (NEGLIGIBLE_NATS + np.log(np.maximum(self.m / falling, 1.0))) / falling
            width = np.where(falling > 0, np.minimum(width, reach), width)
            rising = self.slope(lo + width)
            reach = (NEGLIGIBLE_NATS + np.log(np.maximum(1.0 / rising, 1.0))) / rising
            cut = np.where(rising > 0, np.maximum(width - reach, 0.0), 0.0)
        return lo + cut, width - cut

    def at_nodes(self, u) -> dict:
        """The integrand's pieces at the abscissae u (nodes, rows)."""
        e_u = np.exp(u)
        other = self.gap + e_u
        log_other = np.log(other)
        return {"u": u, "e^u": e_u, "O": other, "log O": log_other,
                "log f": (1.0 - self.k_c) * u - self.k_o * log_other}

    def features(self, nodes: dict, hessian: bool, centre) -> list:
        """phi's parts at the nodes (:meth:`at_nodes`), shifted by their values at ``centre``
        (the covariances do not change; the shift keeps them from cancelling): ``log(C/C0)``,
        ``C0/C - 1``, ``log(O/O0)``, ``O0/O - 1``, and with ``hessian`` the ten products of
        these and these four again (see ``_PAIRS``), each of shape (nodes, rows)."""
        e_centre = np.exp(centre)
        other_0 = self.gap + e_centre
        shifted = [nodes["u"] - centre, e_centre / nodes["e^u"] - 1.0,
                   nodes["log O"] - np.log(other_0), other_0 / nodes["O"] - 1.0]
        if hessian:
            shifted += [shifted[i] * shifted[j] for i, j in _PAIRS] + shifted[:4]
        return shifted

    def shifted_means(self, nodes: dict, terms, total, centre) -> list:
        """The averages of :meth:`features` (without products) under the weighted ``terms``,
        shifted after averaging (fewer passes over the nodes; for the gradient, where the
        shift does not matter)."""
        e_centre = np.exp(centre)
        other_0 = self.gap + e_centre

        def mean(values):
            return np.einsum("ij,ij->j", values, terms) / total

        return [mean(nodes["u"]) - centre, e_centre * mean(1.0 / nodes["e^u"]) - 1.0,
                mean(nodes["log O"]) - np.log(other_0), other_0 * mean(1.0 / nodes["O"]) - 1.0]

    def pooled_curvature(self, features: list, node_weights, row_weights, centre, accepted):
        """The sum over rows of ``row_weights`` times the Hessian of log I, from the shifted
        ``features`` (4 arrays of (nodes, rows)) and the normalised ``node_weights`` of one
        rule, over the ``accepted`` rows, summed apart for the rows in each order of (C, O)
        (one group when alpha and beta are shared). Other rows get weight 0; should their
        nodes not be finite (0 * inf), the sums are taken again with those nodes masked."""
        result = np.zeros((4, 4))
        for swapped in (False, True):
            group = accepted & (self.alpha_larger == swapped)
            if not np.any(group):
                continue
            weights = np.where(group, row_weights, 0.0)
            part = self._pooled(features, node_weights, weights, centre)
            if not np.all(np.isfinite(part)):
                part = self._pooled([np.where(group, feature, 0.0) for feature in features],
                                    np.where(group, node_weights, 0.0), weights, centre)
            result += part[np.ix_(_SWAP, _SWAP)] if swapped else part  # to (A, B) order
        return result

    def _pooled(self, features: list, node_weights, row_weights, centre) -> np.ndarray:
        """:meth:`pooled_curvature` in (C, O) order, every row taking part."""
        e_centre = np.exp(centre)
        other_0 = self.gap + e_centre
        # phi in (C, O) order is -(f0 + log C0, k_c (f1 + 1) / C0, f2 + log O0,
        # k_o (f3 + 1) / O0): the shifted features times these per-row factors, plus
        # constants. The common sign cancels in every product, so the scaled features are
        # (f0, k_c f1 / C0, f2, k_o f3 / O0), and their means the features' means scaled.
        scale = (None, self.k_c / e_centre, None, self.k_o / other_0)
        scaled = [feature if factor is None else feature * factor
                  for feature, factor in zip(features, scale, strict=True)]
        means = np.array([np.einsum("nr,nr->r", feature, node_weights)
                          for feature in features])
        means[1] *= scale[1]
        means[3] *= scale[3]
        weighted = node_weights * row_weights
        result = np.empty((4, 4))
        # The weighted sums of products over all rows and nodes, one dot product each (as
        # fast as a matrix product of the stacked features, without stacking them).
        for i in range(4):
            weighted_feature = (scaled[i] * weighted).reshape(-1)
            for j in range(i, 4):
                result[i, j] = result[j, i] = weighted_feature @ scaled[j].reshape(-1)
        result -= (means * row_weights) @ means.T
        # E[d phi]: -E[1/C] at (log C, 1/C), k_c E[1/C^2] at (1/C, 1/C), and so for O, with
        # 1/C = (f1 + 1) / C0 and 1/O = (f3 + 1) / O0 from the shifted features.
        for inverse_row, k, factor, base in ((0, self.k_c, features[1], e_centre),
                                             (2, self.k_o, features[3], other_0)):
            shifted = factor + 1.0
            mean_inverse = np.einsum("nr,nr->r", shifted, node_weights) @ (row_weights / base)
            result[inverse_row, inverse_row + 1] -= mean_inverse
            result[inverse_row + 1, inverse_row] -= mean_inverse
            result[inverse_row + 1, inverse_row + 1] += np.einsum(
                "nr,nr,nr->r", shifted, shifted, node_weights) @ (k * row_weights / base**2)
        return result

    def derivatives(self, moments, centre, hessian: bool):
        """The gradient (4, rows) and the Hessian (4, 4, rows) of log I from the averages of
        :meth:`features` (shifted at ``centre``), put in (A, B) order."""
        e_centre = np.exp(centre)
        purchase_0, dropout_0 = self.a_shift + e_centre, self.b_shift + e_centre
        k_a, k_b = self.k_a, self.k_b
        mean = moments[:4]
        centred = moments[_CENTRED_MEANS:_WITH_HESSIAN] if hessian else None
        # phi = -(log A0 + f0, k_a (f1 + 1) / A0, log B0 + f2, k_b (f3 + 1) / B0) in the
        # shifted averages f: an affine map per component.
        ones = np.ones_like(k_a)
        scale = np.array([-ones, -k_a / purchase_0, -ones, -k_b / dropout_0])
        offset = np.array([-np.log(purchase_0), -k_a / purchase_0, -np.log(dropout_0),
                           -k_b / dropout_0])
        gradient = offset + scale * mean
        if not hessian:
            return gradient, None
        result = np.empty((4, 4, len(k_a)))
        for k, (i, j) in enumerate(_PAIRS):
            covariance = scale[i] * scale[j] * (moments[_PRODUCTS + k]
                                                - centred[i] * centred[j])
            result[i, j] = result[j, i] = covariance
        # E[d phi]: d(-log A)/d alpha = -1/A, d(-k_a/A)/d alpha = k_a/A^2, and so for beta.
        inverse_a = (mean[1] + 1.0) / purchase_0
        inverse_b = (mean[3] + 1.0) / dropout_0
        inverse_a2 = ((moments[_PRODUCTS + _PAIRS.index((1, 1))] + 2 * centred[1] + 1.0)
                      / purchase_0**2)
        inverse_b2 = ((moments[_PRODUCTS + _PAIRS.index((3, 3))] + 2 * centred[3] + 1.0)
                      / dropout_0**2)
        result[0, 1] -= inverse_a
        result[1, 0] -= inverse_a
        result[1, 1] += k_a * inverse_a2
        result[2, 3] -= inverse_b
        result[3, 2] -= inverse_b
        result[3, 3] += k_b * inverse_b2
        return gradient, result


def _fixed_rules(integrand: _Integrand, lo, width, hessian: bool, kept: dict | None = None):
    """log I and the averages of the features by Gauss-Kronrod 7-15 (checked by its Gauss
    rule) or by 32-node Gauss-Legendre (checked by 16), and which rows either accepted.
    ``kept``, a dict, receives the Kronrod rule's shifted features, normalised weights and the
    rows it accepted (for :func:`dropout_integral_pooled`)."""
    n_rows = len(lo)
    values = np.full(n_rows, np.nan)
    moments = np.full((_WITH_HESSIAN if hessian else 4, n_rows), np.nan)
    done = np.zeros(n_rows, dtype=bool)
    with np.errstate(all="ignore"):
        abscissae, kronrod, gauss = gauss_kronrod_15()
        nodes, terms, total, reference = _rule(integrand, lo, width, abscissae, kronrod)
        check = (gauss / kronrod) @ terms  # the Gauss rule on the same (weighted) values
        accepted = np.abs(total - check) <= _AGREEMENT * total
        _store(integrand, lo, width, nodes, terms, total, reference, accepted, hessian,
               values, moments)
        if kept is not None:
            kept.update(features=integrand.features(nodes, False, centre=lo),
                        weights=terms / total, accepted=accepted.copy())
        done |= accepted
        rows = np.flatnonzero(~accepted & np.isfinite(lo) & np.isfinite(width))
        if len(rows):
            part, part_lo, part_width = integrand.subset(rows), lo[rows], width[rows]
            nodes, terms, fine, reference = _rule(part, part_lo, part_width,
                                                  *gauss_legendre(32))
            check = _rule(part, part_lo, part_width, *gauss_legendre(16), reference)[2]
            accepted = np.abs(fine - check) <= _AGREEMENT * fine
            sub_values, sub_moments = values[rows], moments[:, rows]
            _store(part, part_lo, part_width, nodes, terms, fine, reference, accepted,
                   hessian, sub_values, sub_moments)
            values[rows], moments[:, rows] = sub_values, sub_moments
            done[rows] |= accepted
    return values, moments, done


def _rule(integrand: _Integrand, lo, width, abscissae, weights, reference=None):
    """A rule with ``abscissae`` and ``weights`` on [0, 1] mapped to [lo, lo + width]: the
    integrand's pieces at the nodes, the weighted terms and their sum relative to
    ``reference`` (by default the largest log term), and the reference."""
    nodes = integrand.at_nodes(lo + width * abscissae[:, None])
    if reference is None:
        reference = np.max(nodes["log f"], axis=0)
    terms = np.exp(nodes["log f"] - reference) * weights[:, None]
    return nodes, terms, terms.sum(axis=0), reference


def _store(integrand, lo, width, nodes, terms, total, reference, accepted, hessian, values,
           moments):
    """Write log I and the feature averages of the ``accepted`` rows into the outputs
    (computed on every row: cheaper than copying the accepted rows' nodes)."""
    averages = integrand.shifted_means(nodes, terms, total, centre=lo)
    if hessian:
        weights = terms / total
        averages += [np.einsum("ij,ij->j", feature, weights)
                     for feature in integrand.features(nodes, hessian, centre=lo)[4:]]
    for k, average in enumerate(averages):
        moments[k] = np.where(accepted, average, moments[k])
    values[accepted] = (reference + np.log(total * width))[accepted]
