"""Reports: tidy result frames and the self-contained plotly HTML report."""
from loomsim.reports.html import figures, render, utilisation_timeline, write_report

__all__ = ["figures", "render", "utilisation_timeline", "write_report"]
