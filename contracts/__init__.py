"""What crosses a workflow / activity / client boundary: models, value types, errors, ids (a leaf layer)."""
