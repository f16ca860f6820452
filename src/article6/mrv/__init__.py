"""Measurement, reporting and verification of emission reductions (e-motorcycle fleet)."""
