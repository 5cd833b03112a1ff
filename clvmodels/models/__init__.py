"""The models: one module per family, each declaring its mathematics (a
:class:`~clvmodels.estimation.family.Family`) and its maximum-likelihood and Bayesian classes.

:data:`MODELS` lists them by command-line name; a model file or a command line names its class
and the class is looked up here (:func:`model_class`, :func:`model_by_name`), never resolved
by ``getattr`` on the package.
"""

from __future__ import annotations

from dataclasses import dataclass

from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import Family
from clvmodels.estimation.mle import MLEModel
from clvmodels.models.beta_discrete_weibull import (
    BayesianBetaDiscreteWeibullModel,
    BayesianShiftedBetaGeoModel,
    BetaDiscreteWeibullModel,
    ShiftedBetaGeoModel,
)
from clvmodels.models.beta_geo import BayesianBetaGeoModel, BetaGeoModel
from clvmodels.models.beta_geo_beta_binom import (
    BayesianBetaGeoBetaBinomModel,
    BetaGeoBetaBinomModel,
)
from clvmodels.models.gamma_gamma import BayesianGammaGammaModel, GammaGammaModel
from clvmodels.models.ggompertz_nbd import BayesianGGompertzNBDModel, GGompertzNBDModel
from clvmodels.models.modified_beta_geo import BayesianModifiedBetaGeoModel, ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import BayesianParetoNBDModel, ParetoNBDModel
from clvmodels.models.pareto_nbd_correlation import (
    BayesianParetoNBDCorrelationModel,
    ParetoNBDCorrelationModel,
)


@dataclass(frozen=True)
class ModelSpec:
    """A family with its two estimators."""

    mle: type[MLEModel]
    bayesian: type[BayesianModel]

    @property
    def family(self) -> Family:
        return self.mle.family

    @property
    def kind(self) -> str:
        """``"purchase"``, ``"spend"`` or ``"contract"``."""
        return self.family.kind

    def estimator(self, bayesian: bool) -> type:
        return self.bayesian if bayesian else self.mle


#: Every model by its command-line name, purchase models first.
MODELS: dict[str, ModelSpec] = {
    spec.family.name: spec for spec in (
        ModelSpec(BetaGeoModel, BayesianBetaGeoModel),
        ModelSpec(ModifiedBetaGeoModel, BayesianModifiedBetaGeoModel),
        ModelSpec(ParetoNBDModel, BayesianParetoNBDModel),
        ModelSpec(ParetoNBDCorrelationModel, BayesianParetoNBDCorrelationModel),
        ModelSpec(GGompertzNBDModel, BayesianGGompertzNBDModel),
        ModelSpec(BetaGeoBetaBinomModel, BayesianBetaGeoBetaBinomModel),
        ModelSpec(GammaGammaModel, BayesianGammaGammaModel),
        ModelSpec(ShiftedBetaGeoModel, BayesianShiftedBetaGeoModel),
        ModelSpec(BetaDiscreteWeibullModel, BayesianBetaDiscreteWeibullModel),
    )
}
#: The command-line names of the purchase-count and of the spend models.
PURCHASE_MODELS = tuple(name for name, spec in MODELS.items() if spec.kind == "purchase")
SPEND_MODELS = tuple(name for name, spec in MODELS.items() if spec.kind == "spend")
#: The command-line names of the contractual (retention) models.
CONTRACT_MODELS = tuple(name for name, spec in MODELS.items() if spec.kind == "contract")
#: Every estimator class by its name.
MODEL_CLASSES: dict[str, type] = {
    cls.__name__: cls for spec in MODELS.values() for cls in (spec.mle, spec.bayesian)
}


def model_by_name(name: str, kind: str | None = None) -> ModelSpec:
    """The model of a command-line name or alias (case-insensitive, e.g. ``"BG/NBD"``).

    Raises
    ------
    ValueError
        If no model (of ``kind``, when given) has that name, listing those that do.
    """
    key = str(name).strip().lower()
    for spec_name, spec in MODELS.items():
        if kind in (None, spec.kind) and key in (spec_name, spec.family.title.lower(),
                                                 *spec.family.aliases):
            return spec
    names = [n for n, spec in MODELS.items() if kind in (None, spec.kind)]
    raise ValueError(f"unknown model {name!r}; expected one of {names}")


def model_class(name: str) -> type:
    """The estimator class called ``name`` (e.g. ``"BetaGeoModel"``).

    Raises
    ------
    ValueError
        If no estimator has that name.
    """
    if not isinstance(name, str) or name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {name!r}; expected one of "
                         f"{sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[name]


__all__ = [
    "CONTRACT_MODELS", "MODELS", "MODEL_CLASSES", "PURCHASE_MODELS", "SPEND_MODELS",
    "BayesianBetaDiscreteWeibullModel", "BayesianBetaGeoBetaBinomModel", "BayesianBetaGeoModel",
    "BayesianGGompertzNBDModel", "BetaGeoBetaBinomModel",
    "BayesianGammaGammaModel", "BayesianModifiedBetaGeoModel", "BayesianParetoNBDCorrelationModel",
    "BayesianParetoNBDModel",
    "BayesianShiftedBetaGeoModel", "BetaDiscreteWeibullModel", "BetaGeoModel",
    "GGompertzNBDModel", "GammaGammaModel", "ModelSpec", "ModifiedBetaGeoModel",
    "ParetoNBDCorrelationModel", "ParetoNBDModel", "ShiftedBetaGeoModel",
    "model_by_name", "model_class",
]
