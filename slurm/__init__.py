"""sbatch templates and submission logic for every stage."""
