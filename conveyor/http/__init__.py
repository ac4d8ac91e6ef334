"""The HTTP API (`conveyor api`): enqueue and operate jobs from any language, a thin layer over `conveyor.Jobs`.

`create_app(settings)` builds the FastAPI app; `serving` runs it with uvicorn around a block.
"""

from conveyor.http.app import create_app
from conveyor.http.server import serving

__all__ = ["create_app", "serving"]
