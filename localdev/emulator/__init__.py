"""The functions' built code in the real Lambda runtime, without Docker: AWS's Runtime Interface Emulator (shipped
in the SAM CLI package) running awslambdaric on Python 3.13, as `sam local invoke` and `sam local start-lambda` run
them inside their containers.

Modules, one job each: `toolchain` (where Python 3.13, awslambdaric and the emulator are), `functions` (the built
template's functions and settings), `environment` (a function's variables and SAM's --env-vars file), `process`
(one function's warm emulator), `answers` (the Invoke API's responses and errors), `server` (the Invoke API on
loopback), `session` (what a run checks and sets up), `invoke` and `start_lambda` (the make targets).
"""
