"""Scripts that run globalops end to end outside the CLI (demo-aws); they use the launch API."""
