"""Synthetic acoustic scenarios built on propagation physics (see scenarios.py)."""

from apps.acoustics.generator.scenarios import (
    GENERATOR_VERSION,
    KIND_LABEL,
    SCENARIO_KINDS,
    Options,
    Scenario,
    generate_scenario,
    read_truth,
    render_emissions,
    scenario_emissions,
    write_scenario,
)

__all__ = [
    "GENERATOR_VERSION",
    "KIND_LABEL",
    "SCENARIO_KINDS",
    "Options",
    "Scenario",
    "generate_scenario",
    "read_truth",
    "render_emissions",
    "scenario_emissions",
    "write_scenario",
]
