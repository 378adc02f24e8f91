"""The project's long-running services: what runs them and how to tell they answer."""
