"""Subcommands of `biomatrix`, one module per stage, each exposing `register(subparsers)`."""
