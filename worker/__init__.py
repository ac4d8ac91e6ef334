"""The worker process: builds activities from settings, registers every workflow, runs until SIGTERM/SIGINT."""
