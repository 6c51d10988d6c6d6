# Events stream through the official Python SDK: task_run.events(run_id) yields a
# task_run.state first and ends with a task_run.state in a terminal status.
from _common import check, client, dump

c = client()
run = c.task_run.create(
    input="Stream me [[fake:no_tools]] [[fake:delay_ms=300]]",
    processor="pro",
    enable_events=True,
    task_spec={"output_schema": {"type": "text"}},
)
print("created", dump(run))
events = []
stream = c.task_run.events(run.run_id)
for event in stream:
    print("event", dump(event))
    events.append(event)
    if len(events) > 500:
        break
check(events, "the stream yielded events")
check(events[0].type == "task_run.state", f"first event is task_run.state, got {events[0].type}")
states = [e for e in events if e.type == "task_run.state"]
last = states[-1]
check(last.run.status == "completed", f"final state completed, got {last.run.status}")
check(last.run.is_active is False, "final state inactive")
check(last.run.run_id == run.run_id, "events are about this run")
types = sorted({e.type for e in events})
print("event types:", types)
# A second connection replays from the start and also ends.
again = list(c.task_run.events(run.run_id))
check(again and again[0].type == "task_run.state", "replay starts with task_run.state")
check([e for e in again if e.type == "task_run.state"][-1].run.status == "completed", "replay ends completed")
print("PASS events")
