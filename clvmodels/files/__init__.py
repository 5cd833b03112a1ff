"""The files clvmodels reads and writes (imports nothing itself, so that each layer imports
only the module it needs):

* :mod:`~clvmodels.files.atomic`: the one atomic writer (a staging of outputs committed
  together, locks, recovery of interrupted writes);
* :mod:`~clvmodels.files.tables`: CSV and Parquet tables, the RFM table's metadata sidecar;
* :mod:`~clvmodels.files.formulas`: CSV cells a spreadsheet would run as formulas, defused;
* :mod:`~clvmodels.files.manifest`: a model directory's manifest and its schema;
* :mod:`~clvmodels.files.model_directory`: the model directory itself.
"""
