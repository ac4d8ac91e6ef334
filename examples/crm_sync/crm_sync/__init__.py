"""An example of a team's own Conveyor job kind, outside Conveyor's package: sync one customer to the CRM.

`contract.py` is what producers import (the request, the result, the kind's registry entry and policy row);
`activities.py` is the job itself; `worker.py` tells `conveyor worker` what to host.
"""
