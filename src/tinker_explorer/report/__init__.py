"""Research records a reader can check: plots + a Markdown report from run directories and
eval JSONs (`tinker-explorer report`), and a static trajectory viewer (`tinker-explorer view`)."""
