# Task groups through the official Python SDK: create, add_runs (with default_task_spec),
# retrieve (counts), events (group status + run states, resumable), get_runs (with input and
# output), retrieve_run.
from _common import check, client, dump

c = client()
group = c.task_group.create(metadata={"batch": "e2e"})
print("group", dump(group))
check(group.taskgroup_id.startswith("tgrp_"), f"group id: {group.taskgroup_id}")
check(group.status.num_task_runs == 0, "empty group")

added = c.task_group.add_runs(
    group.taskgroup_id,
    inputs=[
        {"input": f"Country {i} [[fake:no_tools]]", "processor": "lite", "metadata": {"i": i}}
        for i in range(3)
    ],
    default_task_spec={"output_schema": {"type": "text"}},
)
print("added", dump(added))
check(len(added.run_ids) == 3, "three run ids")
check(added.status.num_task_runs == 3, "three runs counted")

events = []
for event in c.task_group.events(group.taskgroup_id):
    events.append(event)
    print("event", dump(event))
    if len(events) > 200:
        break
types = [e.type for e in events]
check(types[0] == "task_group_status", f"first event is the group status: {types}")
check(types[-1] == "task_group_status", f"last event is the group status: {types}")
final = events[-1].status
check(final.is_active is False, "group done at the end")
check(final.task_run_status_counts.get("completed") == 3, f"counts: {final.task_run_status_counts}")
states = [e for e in events if e.type == "task_run.state"]
check(all(e.event_id for e in states), "run events carry event ids")
completed = {e.run.run_id for e in states if e.run.status == "completed"}
check(completed == set(added.run_ids), "every run completed in the stream")

# Resuming after the second-to-last run event yields only what came after it.
cursor = states[-2].event_id
resumed = list(c.task_group.events(group.taskgroup_id, last_event_id=cursor))
resumed_states = [e for e in resumed if e.type == "task_run.state"]
check(len(resumed_states) == 1, f"resume from {cursor}: {[dump(e) for e in resumed_states]}")

g = c.task_group.retrieve(group.taskgroup_id)
check(g.status.num_task_runs == 3 and g.status.task_run_status_counts.get("completed") == 3, dump(g))
check(g.metadata == {"batch": "e2e"}, f"metadata: {g.metadata}")

runs = list(c.task_group.get_runs(group.taskgroup_id, include_input=True, include_output=True))
print("runs", [dump(r) for r in runs])
check(len(runs) == 3, f"three runs listed, got {len(runs)}")
check([r.run.run_id for r in runs] == added.run_ids, "runs in the order added")
check(all(r.run.task_group_id == group.taskgroup_id for r in runs), "runs carry taskgroup_id")
check(all(r.output is not None for r in runs), "outputs included")
check(all(r.input is not None for r in runs), "inputs included")
rest = list(c.task_group.get_runs(group.taskgroup_id, last_event_id=runs[0].event_id))
check(len(rest) == 2, f"resumed listing: {len(rest)}")
only_failed = list(c.task_group.get_runs(group.taskgroup_id, status="failed"))
check(only_failed == [], "status filter")

one = c.task_group.retrieve_run(added.run_ids[0], task_group_id=group.taskgroup_id)
check(one.run_id == added.run_ids[0] and one.status == "completed", dump(one))
print("PASS task_groups")
