"""Built-in reporters: the tables (terminal, Markdown, CSV, LaTeX, JSON) and the HTML report."""
