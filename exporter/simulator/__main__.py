"""``python -m exporter.simulator``: run the simulator alone."""

from exporter.simulator.cli import main

raise SystemExit(main())
