"""A cell's walk in stages: fit (or load), efficiency, then per target adapt, score and
evaluate, then calibrate. Each stage module does one thing over the shared ``StageContext``;
``cell.py`` walks them and records failures."""
