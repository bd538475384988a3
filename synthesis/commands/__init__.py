"""Sub-commands of ``synthesis``: each module here defines ``register(subparsers)``.

A module only parses arguments, calls the library and prints; the logic lives in the library.
``synthesis.cli`` discovers the modules, so adding a command never touches a shared file.
"""

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
