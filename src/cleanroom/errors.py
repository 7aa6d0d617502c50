"""Errors that reach a person: each carries a message that says what happened and what to do."""


class CleanRoomError(Exception):
    """An error whose message is meant for the person who caused or can fix it."""

    def __init__(self, message: str):
        super().__init__(message)
        # JupyterHub shows `jupyterhub_message` on the spawn page instead of a traceback.
        self.jupyterhub_message = message


class SpawnRefused(CleanRoomError):
    """A server was not started; nothing was left half-created."""


class SettingsError(CleanRoomError):
    """A deployment setting has a bad value; the message says how to fix it."""
