"""The files clvmodels reads and writes: atomic writes, tables with their metadata, model
directories (imports nothing itself, so that each layer imports only the module it needs)."""
