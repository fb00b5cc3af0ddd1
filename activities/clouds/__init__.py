"""Cloud adapters behind one port: sim, aws, gcp."""
