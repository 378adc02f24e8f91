"""The error every command turns into one readable line and a non-zero exit."""


class VentesError(Exception):
    """A failure the user can act on; its message is shown as is, without a traceback."""
