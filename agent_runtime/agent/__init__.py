"""Process-level pieces of an agent: logging set-up and running a Runner as
the main job of a process (signals, grace period, exit codes)."""
