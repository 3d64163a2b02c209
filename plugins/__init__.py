"""vadbench's built-in plugins. Each registers through the ``vadbench`` entry-point group exactly
as a third-party plugin does; none is imported by the core."""
