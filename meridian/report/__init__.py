"""The demo's HTML report: read the commands' artifacts, draw what they do not, write index.html."""
from meridian.report.build import render, write_report
from meridian.report.inputs import BenchInput, DrillInput, ReportInputs, StepRecord

__all__ = ["BenchInput", "DrillInput", "ReportInputs", "StepRecord", "render", "write_report"]
