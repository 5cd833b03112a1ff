"""What every lifetimes-compatible fitter shares: the representation, the parameters, the
conversion of lifetimes' arguments (scalars, arrays, Series) to clvmodels tables and back,
the fit on lifetimes' scaled data and its standard errors, and save/load without pickle.

No model mathematics lives here: every number comes from a clvmodels model
(:attr:`BaseFitter.clvmodels_model`).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvmodels.estimation.mle import MLEModel
from clvmodels.files.atomic import write_text
from clvmodels.validation import ValidationError

FORMAT_NAME = "clvmodels.compat.lifetimes"
FORMAT_VERSION = 1
# lifetimes' confidence intervals: estimate +- 1.96 standard errors.
_NORMAL_95 = 1.96
#: scipy.optimize.minimize's solver options, which lifetimes' fit passed on: accepted, unused.
SCIPY_OPTIONS = frozenset({"maxiter", "disp", "maxfun", "gtol", "ftol", "xatol", "fatol",
                           "eps", "maxcor", "maxls", "adaptive", "xtol", "return_all",
                           "iprint", "finite_diff_rel_step", "norm", "c1", "c2"})
# The first byte of a pickle of protocol 2 or later (lifetimes' dill files are protocol 4).
_PICKLE_MARKER = b"\x80"


def broadcast_inputs(values: dict[str, Any]) -> tuple[dict[str, np.ndarray], tuple,
                                                      pd.Index | None]:
    """lifetimes' arguments broadcast against each other, flattened.

    Returns the flat float arrays by name, their common shape and the index of the first
    pandas Series among them when the result is one value per row of it (the result is then
    a Series with that index, as lifetimes' arithmetic on Series gives).
    """
    index = next((value.index for value in values.values() if isinstance(value, pd.Series)),
                 None)
    arrays = np.broadcast_arrays(*(np.asarray(value, dtype=float) for value in values.values()))
    shape = arrays[0].shape
    flat = {name: array.ravel() for name, array in zip(values, arrays, strict=True)}
    if index is not None and shape != (len(index),):
        index = None
    return flat, shape, index


def shaped(values: Any, shape: tuple, index: pd.Index | None) -> Any:
    """Values computed on flattened inputs, given back in the inputs' form: a float for
    scalars, an array of their shape, or a Series with their index."""
    values = np.asarray(values, dtype=float)
    if index is not None:
        return pd.Series(values, index=index)
    values = values.reshape(shape)
    return float(values) if values.ndim == 0 else values


def history_table(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray, owner: str,
                  age_column: str = "T") -> pd.DataFrame:
    """An RFM table of flat histories for clvmodels.

    A customer without repeat purchases has no last repeat purchase, so recency 0
    (lifetimes' own RFM summaries give it); lifetimes' formulas accept any recency there
    (its probability-alive matrix asks for them). Such a recency is read as 0, with a
    warning that counts them (clvmodels refuses the table otherwise).
    """
    recency = np.asarray(recency, dtype=float)
    inconsistent = (frequency == 0) & (recency != 0)
    if inconsistent.any():
        first = int(np.flatnonzero(inconsistent)[0])
        warnings.warn(
            f"{owner}: {int(inconsistent.sum())} history(ies) with frequency 0 and recency != 0 "
            f"(e.g. position {first}: recency {recency[first]:g}); a customer without repeat "
            "purchases has recency 0, which is used", UserWarning, stacklevel=4)
        recency = np.where(inconsistent, 0.0, recency)
    return pd.DataFrame({"frequency": frequency, "recency": recency, age_column: age})


def lifetimes_table(columns: dict[str, Any], index: Any) -> tuple[pd.DataFrame, pd.Index]:
    """The ``data`` table lifetimes keeps after a fit (frequency as whole numbers, weights)
    and the index to give clvmodels: the user's when its labels are unique (messages then
    name customers), else positions."""
    table = pd.DataFrame(columns, index=None if index is None else pd.Index(index))
    if "frequency" in table:
        frequency = table["frequency"].to_numpy(dtype=float)
        if np.all(np.isfinite(frequency) & (frequency == np.round(frequency))):
            table["frequency"] = frequency.astype(np.int64)
    labels = table.index if table.index.is_unique else pd.RangeIndex(len(table))
    return table, labels


def fit_weights(weights: Any, n_rows: int) -> np.ndarray:
    """lifetimes' weights: ones by default (as whole numbers)."""
    if weights is None:
        return np.ones(n_rows, dtype=np.int64)
    return np.asarray(weights)


def check_no_options(owner: str, options: dict[str, Any]) -> None:
    """lifetimes passed a fit's extra keyword arguments to ``scipy.optimize.minimize`` as
    solver options; clvmodels' optimiser takes none. scipy's own options are ignored (see the
    fitters' ``tol``); any other name is warned about, as scipy warns about an unknown
    option."""
    unknown = sorted(set(options) - SCIPY_OPTIONS)
    if unknown:
        warnings.warn(f"{owner}.fit(): unknown optimiser option(s) {unknown} ignored",
                      UserWarning, stacklevel=4)


class BaseFitter:
    """Base of the lifetimes-compatible fitters (``lifetimes.BaseFitter``).

    A subclass names its clvmodels estimator (``model_class``) and its parameters in
    lifetimes' order (``param_names``; ``clvmodels_names`` when clvmodels names them
    otherwise). The fitted state is lifetimes': ``params_``, ``data``,
    ``_negative_log_likelihood_``, ``variance_matrix_``, ``standard_errors_``,
    ``confidence_intervals_``, :attr:`summary`; predictions are evaluated by the clvmodels
    model at ``params_`` (:attr:`clvmodels_model`), so parameters assigned by hand
    (``fitter.params_ = pd.Series(...)``) are used as lifetimes uses them.

    Every computation runs with numpy's underflow ignored (numpy's default): a probability of
    1e-400 is 0 in double precision, the right answer, also for code that has set
    ``np.seterr(all="raise")`` (lifetimes' tests do).
    """

    model_class: ClassVar[type[MLEModel] | None] = None
    param_names: ClassVar[tuple[str, ...]] = ()
    clvmodels_names: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def __repr__(self) -> str:
        classname = type(self).__name__
        data = getattr(self, "data", None)
        subjects = (f" fitted with {data.shape[0]:d} subjects," if hasattr(data, "shape")
                    else "")
        params = getattr(self, "params_", None)
        if params is None:
            return f"<lifetimes.{classname}>"
        values = ", ".join(f"{name}: {value:.2f}" for name, value in sorted(params.items()))
        return f"<lifetimes.{classname}:{subjects} {values}>"

    def _unload_params(self, *names: str) -> list[float]:
        """The parameters ``names`` (lifetimes' helper; ValueError before a fit)."""
        if not hasattr(self, "params_"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return [self.params_[name] for name in names]

    # ------------------------------------------------------------------- clvmodels model
    @property
    def clvmodels_model(self) -> MLEModel:
        """The clvmodels model at ``params_`` (in the data's time unit), which computes every
        prediction; use it to move on to clvmodels' own API (CLV, plots, backtests)."""
        values = tuple(float(value) for value in self._unload_params(*self.param_names))
        cached = self.__dict__.get("_clvmodels_cache")
        if cached is not None and cached[0] == values:
            return cached[1]
        names = self.clvmodels_names or self.param_names
        model = self.model_class().set_params_(dict(zip(names, values, strict=True)))
        self.__dict__["_clvmodels_cache"] = (values, model)
        return model

    # ------------------------------------------------------------------------- fitting
    def start_fit(self, options: dict[str, Any], columns: dict[str, Any], weights: Any,
                  index: Any) -> tuple[pd.DataFrame, pd.Index, np.ndarray]:
        """The first steps of lifetimes' ``fit``: refuse unknown options, make ``data`` of
        ``columns`` and the weights (ones by default). Returns ``data``, the index to give
        clvmodels (see :func:`lifetimes_table`) and the weights as floats."""
        check_no_options(type(self).__name__, options)
        columns = {name: np.asarray(values) for name, values in columns.items()}
        weights = fit_weights(weights, len(next(iter(columns.values()))))
        data, labels = lifetimes_table({**columns, "weights": weights}, index)
        return data, labels, np.asarray(weights, dtype=float)

    def finish_fit(self, data: pd.DataFrame, table: pd.DataFrame, weights: np.ndarray, *,
                   penalizer: float, initial_params: Any, log_start: bool,
                   factors: np.ndarray, divisor: float, verbose: bool,
                   check: Any = None) -> Any:
        """Fit the clvmodels estimator on ``table`` (see :meth:`fit_clvmodels`), let
        ``check(model)`` refuse the estimate, and record lifetimes' fitted state (see
        :meth:`record_fit`) with ``data``; returns self."""
        model = self.fit_clvmodels(table, weights, penalizer, initial_params, log_start)
        if check is not None:
            check(model)
        self.record_fit(model, factors, float(self.penalizer_coef), divisor)
        self.data = data
        self.__dict__.update(self.fitted_methods())
        if verbose:
            print(f"{type(self).__name__}: converged, mean negative log-likelihood "
                  f"{self._negative_log_likelihood_:.6f}")
        return self

    def fit_clvmodels(self, table: pd.DataFrame, weights: np.ndarray, penalizer: float,
                      initial_params: Any, log_start: bool) -> MLEModel:
        """Fit the clvmodels estimator on ``table`` (lifetimes' scaled data) with
        lifetimes' start (``initial_params``: log-parameters when ``log_start``, else the
        parameters, both on the scaled data)."""
        start = None
        if initial_params is not None:
            values = np.asarray(initial_params, dtype=float)
            if values.shape != (len(self.param_names),):
                raise ValueError(f"initial_params: expected {len(self.param_names)} values "
                                 f"({', '.join(self.param_names)}), got shape {values.shape}")
            values = np.exp(values) if log_start else values
            names = self.clvmodels_names or self.param_names
            start = dict(zip(names, values.tolist(), strict=True))
        model = self.model_class(penalizer=penalizer)
        with np.errstate(under="ignore"):
            return model.fit(table, weights=np.asarray(weights, dtype=float),
                             initial_params=start)

    def record_fit(self, model: MLEModel, factors: np.ndarray, penalty_coef: float,
                   divisor: float) -> None:
        """lifetimes' fitted state from a clvmodels fit on scaled data: the parameters in the
        data's units (scaled ones times ``factors``), the mean penalised negative
        log-likelihood lifetimes minimised (the log-likelihood over ``divisor`` plus
        ``penalty_coef`` times the sum of the squared scaled parameters), and the
        covariance by the delta method from clvmodels' information matrix."""
        scaled = model.params_.to_numpy(dtype=float)
        self.params_ = pd.Series(scaled * factors, index=list(self.param_names))
        self._negative_log_likelihood_ = float(
            -model.log_likelihood_ / divisor + penalty_coef * np.sum(scaled**2))
        covariance = model.covariance_.to_numpy(dtype=float) * np.outer(factors, factors)
        self.set_variance(covariance)

    def set_variance(self, covariance: np.ndarray) -> None:
        """``variance_matrix_``, ``standard_errors_`` and ``confidence_intervals_`` from a
        covariance matrix of the parameters (lifetimes' order)."""
        names = list(self.param_names)
        self.variance_matrix_ = pd.DataFrame(covariance, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(covariance)), index=names)
        self.confidence_intervals_ = pd.DataFrame(
            {"lower 95% bound": self.params_ - _NORMAL_95 * self.standard_errors_,
             "upper 95% bound": self.params_ + _NORMAL_95 * self.standard_errors_},
            index=names)

    @property
    def summary(self) -> pd.DataFrame:
        """The estimates with lifetimes' columns: ``coef``, ``se(coef)``,
        ``lower 95% bound``, ``upper 95% bound``."""
        table = pd.DataFrame(index=self.params_.index)
        table["coef"] = self.params_
        table["se(coef)"] = self.standard_errors_
        table["lower 95% bound"] = self.confidence_intervals_["lower 95% bound"]
        table["upper 95% bound"] = self.confidence_intervals_["upper 95% bound"]
        return table

    def generate_data(self, size: int, T: np.ndarray) -> pd.DataFrame:
        """``size`` simulated customers observed for the first ``size`` ages of the fitted
        data (lifetimes' ``generate_new_data``), drawn by the clvmodels model from a seed
        taken from ``np.random`` (so ``np.random.seed`` makes it reproducible, as in
        lifetimes)."""
        T = np.asarray(T, dtype=float)
        if not 1 <= size <= len(T):
            raise ValueError(f"size must be between 1 and the {len(T)} fitted customers, "
                             f"got {size}")
        # lifetimes draws from the global np.random state: np.random.seed must keep working.
        seed = int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002
        return self.clvmodels_model.simulate(size, T[:size], random_state=seed)

    # ------------------------------------------------------------------------ save/load
    def save_model(self, path: str | os.PathLike, save_data: bool = True,
                   save_generate_data_method: bool = True,
                   values_to_save: list | None = None) -> None:
        """Save the fitter to a JSON file (never a pickle, whatever the file's name).

        Parameters
        ----------
        path : str or PathLike
            Where to write.
        save_data : bool, default True
            Whether to keep ``data``.
        save_generate_data_method : bool, default True
            Whether ``generate_new_data`` is available after :meth:`load_model`.
        values_to_save : list, optional
            What the left-out attributes (``data``, then ``generate_new_data``, in that order,
            those left out only) hold after loading; None by default. Must be JSON values.
        """
        left_out = [name for name, keep in (("data", save_data),
                                            ("generate_new_data", save_generate_data_method))
                    if not keep]
        placeholders = list(values_to_save or []) + [None] * len(left_out)
        document: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                                    "class": type(self).__name__}
        for name in ("penalizer_coef", "_scale", "_negative_log_likelihood_"):
            if name in self.__dict__:
                document[name] = _json_number(self.__dict__[name])
        if "params_" in self.__dict__:
            document["params_"] = {str(k): float(v) for k, v in self.params_.items()}
        if "variance_matrix_" in self.__dict__:
            document["variance_matrix_"] = [[_json_number(value) for value in row] for row in
                                            self.variance_matrix_.to_numpy(dtype=float)]
        placeholder = dict(zip(left_out, placeholders, strict=False))
        if "data" in placeholder:
            document["data"] = {"placeholder": placeholder["data"]}
        elif isinstance(self.__dict__.get("data"), pd.DataFrame):
            document["data"] = _table_document(self.data)
        if "generate_new_data" in placeholder:
            document["generate_new_data"] = {"placeholder": placeholder["generate_new_data"]}
        try:
            text = json.dumps(document, indent=1, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValidationError(f"save_model: cannot write {path} as JSON ({error}); "
                                  "values_to_save must be JSON values") from None
        write_text(path, text)

    def load_model(self, path: str | os.PathLike) -> None:
        """Load a fitter written by :meth:`save_model` into this one.

        Raises
        ------
        ValidationError
            If the file is a pickle (lifetimes' own ``save_model`` format): unpickling runs
            whatever code the file names, so a model file from anyone else could take over the
            machine; it is refused. Re-fit, or read its ``params_`` with the real lifetimes in
            a trusted environment and assign them. Also if the file is not a fitter file or
            holds another fitter.
        """
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:1] == _PICKLE_MARKER:
            raise ValidationError(
                f"{path} is a pickle (lifetimes' save_model format); clvmodels.compat does not "
                "load pickles, because loading one runs code named in the file. Re-fit and "
                "save with this fitter (JSON), or, if you trust the file, open it with the real "
                "lifetimes and copy its params_ (fitter.params_ = pd.Series({...})).")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValidationError(f"{path}: not a clvmodels.compat fitter file ({error})"
                                  ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise ValidationError(f"{path}: not a clvmodels.compat fitter file (expected "
                                  f"format {FORMAT_NAME!r})")
        if document.get("version") != FORMAT_VERSION:
            raise ValidationError(f"{path}: fitter file version {document.get('version')!r}; "
                                  f"this clvmodels reads version {FORMAT_VERSION}")
        if document.get("class") != type(self).__name__:
            raise ValidationError(f"{path} holds a {document.get('class')}, not a "
                                  f"{type(self).__name__}")
        self.__dict__.update(self.state_from_document(document))

    def state_from_document(self, document: dict) -> dict[str, Any]:
        """The attributes a fitter file restores (see :meth:`load_model`)."""
        state: dict[str, Any] = {}
        for name in ("penalizer_coef", "_scale", "_negative_log_likelihood_"):
            if name in document:
                state[name] = _number(document[name])
        if "data" in document:
            data = document["data"]
            state["data"] = (data["placeholder"] if "placeholder" in data
                             else _table_from_document(data))
        if "params_" not in document:
            return state
        state["params_"] = pd.Series({k: float(v) for k, v in document["params_"].items()})
        self.params_ = state["params_"]
        if "variance_matrix_" in document:
            self.set_variance(np.array([[_number(v) for v in row]
                                        for row in document["variance_matrix_"]], dtype=float))
            state.update(variance_matrix_=self.variance_matrix_,
                         standard_errors_=self.standard_errors_,
                         confidence_intervals_=self.confidence_intervals_)
        state.update(self.fitted_methods())
        generate = document.get("generate_new_data")
        if generate is not None:
            state["generate_new_data"] = generate["placeholder"]
        return state

    def fitted_methods(self) -> dict[str, Any]:
        """The instance attributes lifetimes sets in ``fit`` (``predict``,
        ``generate_new_data``); none by default."""
        return {}


def _json_number(value: Any) -> Any:
    """A float for JSON: None for NaN or infinity (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _table_document(table: pd.DataFrame) -> dict:
    """A numeric table as JSON: its index, columns and dtypes (floats exact: JSON numbers
    are written with Python's shortest round-tripping repr)."""
    index = table.index
    labels = index.tolist()
    try:
        json.dumps(labels, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError("save_model: the fitted data's index holds values JSON cannot "
                              f"store (e.g. {labels[0]!r}); save with save_data=False") from None
    return {
        "index": labels,
        "index_name": index.name,
        "columns": {name: [_json_number(v) for v in table[name].to_numpy(dtype=float)]
                    for name in table.columns},
        "dtypes": {name: str(dtype) for name, dtype in table.dtypes.items()},
    }


def _table_from_document(document: dict) -> pd.DataFrame:
    columns = {name: np.array([_number(v) for v in values], dtype=float).astype(
        document["dtypes"][name]) for name, values in document["columns"].items()}
    return pd.DataFrame(columns, index=pd.Index(document["index"], name=document["index_name"]))
