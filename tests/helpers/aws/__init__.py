"""AWS on a moto server: the server itself, provisioning, inventory, workers and workflow runs."""
