"""The `biomatrix` command line and the YAML configs of every stage."""
