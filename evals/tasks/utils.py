"""What the suite's task files call (`!function utils.<name>`): lm-eval loads this file by its path,
so it only names the functions of the installed package (`evals/task_functions.py`)."""

from evals.task_functions import aggregate, extract_answers, load, process_results, prompt, target

__all__ = ["aggregate", "extract_answers", "load", "process_results", "prompt", "target"]
