"""Evaluation tasks, metrics, runner and reports."""
