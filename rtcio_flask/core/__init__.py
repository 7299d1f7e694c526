"""The pure core: rules with no Flask, no socket.io and no I/O.

The rule for this package (as Flask's ``sansio``): a module here imports
only the standard library and other ``core`` modules. Origin matching,
envelope checks, event limits, TURN credentials, acknowledgement shapes and
setting values are decided here, so each is unit-tested without a server;
the glue that applies them lives in ``transport``, ``protocol``, ``rooms``
and ``deploy``.
"""
