"""The parts of a unit agent: hook kinds (``hook``), relation state and hook
queues (``relation``), and the hook-tool server (``jujuc``)."""
