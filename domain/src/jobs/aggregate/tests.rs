use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::idempotency::RequestDigest;
use crate::ids::{ApplicationId, MemberId, ResourceId, TenantId};
use crate::jobs::{AppRef, FailureClass};

type Given = TestFramework<Job>;

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0)
        .single()
        .unwrap_or_default()
}

fn placement(name: &str, kind: &str) -> Placement {
    Placement {
        resource_id: ResourceId::for_name(name),
        resource_name: name.into(),
        kind: kind.into(),
        nodes: 1,
    }
}

fn new_job(placements: Vec<Placement>, retry: RetryPolicy) -> NewJob {
    NewJob {
        tenant_id: TenantId::for_slug(&"demo".parse().unwrap_or_else(|_| unreachable!())),
        owner: MemberId::random(),
        group_id: None,
        application: AppRef {
            id: ApplicationId::random(),
            name: "mri-sim".into(),
            version: "1.0".into(),
        },
        parameters: json!({}),
        command: "true".into(),
        invocation: None,
        inputs: vec![],
        outputs: vec![],
        placements,
        tasks_per_node: 1,
        walltime_seconds: 600,
        retry,
        replica_cancel: ReplicaCancel::OnFinish,
        resubmitted_from: None,
        sandbox: Default::default(),
        idempotency: None,
    }
}

fn submitted(job: NewJob) -> Vec<JobEvent> {
    vec![
        JobEvent::JobSubmitted(Box::new(job)),
        JobEvent::JobQueued { reason: "q".into() },
    ]
}

fn planned(n: u32, p: &Placement) -> JobEvent {
    JobEvent::AttemptPlanned {
        attempt: n,
        placement: p.clone(),
    }
}

fn running(n: u32) -> Vec<JobEvent> {
    vec![
        JobEvent::AttemptSubmitted {
            attempt: n,
            external_id: format!("{n}00"),
            reason: "s".into(),
        },
        JobEvent::AttemptStarted {
            attempt: n,
            node_list: "n1".into(),
            at: at(1),
            reason: "r".into(),
        },
    ]
}

fn ended(n: u32, outcome: Outcome) -> JobCommand {
    JobCommand::RecordEnded {
        attempt: n,
        outcome,
        usage: Usage::default(),
        outputs: vec![],
        now: at(10),
    }
}

fn lost() -> Outcome {
    Outcome::NodeFailure {
        detail: "NODE_FAIL".into(),
    }
}

fn history(parts: Vec<Vec<JobEvent>>) -> Vec<JobEvent> {
    parts.into_iter().flatten().collect()
}

#[test]
fn plans_one_attempt_per_replica_once() {
    let (a, b) = (placement("local", "local"), placement("hpc", "slurm"));
    let job = new_job(vec![a.clone(), b.clone()], RetryPolicy::infrastructure());
    Given::with(())
        .given(submitted(job.clone()))
        .when(JobCommand::PlanAttempts { now: at(0) })
        .then_expect_events(vec![planned(1, &a), planned(2, &b)]);
    Given::with(())
        .given(history(vec![
            submitted(job),
            vec![planned(1, &a), planned(2, &b)],
        ]))
        .when(JobCommand::PlanAttempts { now: at(0) })
        .then_expect_events(vec![]);
}

#[test]
fn submission_reason_names_the_cluster_and_the_id() {
    let hpc = placement("hpc", "slurm");
    Given::with(())
        .given(history(vec![
            submitted(new_job(vec![hpc.clone()], RetryPolicy::infrastructure())),
            vec![planned(1, &hpc)],
        ]))
        .when(JobCommand::RecordSubmitted {
            attempt: 1,
            external_id: "4242".into(),
        })
        .then_expect_events(vec![JobEvent::AttemptSubmitted {
            attempt: 1,
            external_id: "4242".into(),
            reason: "Submitted to Slurm cluster hpc as job 4242".into(),
        }]);
}

#[test]
fn node_failure_is_retried_on_the_alternate_after_backoff() {
    let (hpc, local) = (placement("hpc", "slurm"), placement("local", "local"));
    let mut retry = RetryPolicy::infrastructure();
    retry.alternates = vec![local.clone()];
    let given = history(vec![
        submitted(new_job(vec![hpc.clone()], retry)),
        vec![planned(1, &hpc)],
        running(1),
    ]);
    let events = Given::with(())
        .given(given.clone())
        .when(ended(1, lost()))
        .inspect_result()
        .unwrap_or_default();
    assert_eq!(
        events[1],
        JobEvent::JobRetrying {
            next_attempt: 2,
            not_before: at(40),
            reason: "Node failure (NODE_FAIL); retrying on local in 30 s (attempt 2 of 3)".into(),
        }
    );
    let mut after = given;
    after.extend(events);
    Given::with(())
        .given(after.clone())
        .when(JobCommand::PlanAttempts { now: at(39) })
        .then_expect_events(vec![]);
    Given::with(())
        .given(after)
        .when(JobCommand::PlanAttempts { now: at(40) })
        .then_expect_events(vec![planned(2, &local)]);
}

#[test]
fn fails_when_attempts_are_used_or_the_failure_is_not_retried() {
    let local = placement("local", "local");
    let mut once = RetryPolicy::infrastructure();
    once.max_attempts = 1;
    let given = |retry| {
        history(vec![
            submitted(new_job(vec![local.clone()], retry)),
            vec![planned(1, &local)],
            running(1),
        ])
    };
    let events = Given::with(())
        .given(given(once))
        .when(ended(1, lost()))
        .inspect_result()
        .unwrap_or_default();
    assert!(
        matches!(&events[1], JobEvent::JobFailed { reason } if reason.contains("all 1 attempts used"))
    );
    let events = Given::with(())
        .given(given(RetryPolicy::infrastructure()))
        .when(ended(1, Outcome::ExitCode { code: 3 }))
        .inspect_result()
        .unwrap_or_default();
    assert!(
        matches!(&events[1], JobEvent::JobFailed { reason } if reason.starts_with("Exit code 3 on attempt 1")),
        "{events:?}"
    );
    let mut on_exit = RetryPolicy::infrastructure();
    on_exit.on.insert(FailureClass::ExitCode);
    let events = Given::with(())
        .given(given(on_exit))
        .when(ended(1, Outcome::ExitCode { code: 3 }))
        .inspect_result()
        .unwrap_or_default();
    assert!(matches!(
        events[1],
        JobEvent::JobRetrying {
            next_attempt: 2,
            ..
        }
    ));
}

#[test]
fn success_ends_the_job_once_and_stops_other_replicas() {
    let (a, b) = (placement("local", "local"), placement("hpc", "slurm"));
    let given = history(vec![
        submitted(new_job(
            vec![a.clone(), b.clone()],
            RetryPolicy::infrastructure(),
        )),
        vec![planned(1, &a), planned(2, &b)],
        running(1),
    ]);
    let events = Given::with(())
        .given(given.clone())
        .when(ended(1, Outcome::Succeeded))
        .inspect_result()
        .unwrap_or_default();
    assert!(matches!(
        events[1],
        JobEvent::JobSucceeded { attempt: 1, .. }
    ));
    assert_eq!(
        events[2],
        JobEvent::AttemptCancelRequested {
            attempt: 2,
            reason: "Another replica finished first".into()
        }
    );
    let mut after = given;
    after.extend(events);
    // the cancelled replica's end is recorded, and nothing else happens to the job
    Given::with(())
        .given(after.clone())
        .when(ended(2, Outcome::Cancelled))
        .then_expect_events(vec![JobEvent::AttemptEnded {
            attempt: 2,
            outcome: Outcome::Cancelled,
            usage: Usage::default(),
            reason: "Cancelled on Slurm cluster hpc (attempt 2)".into(),
        }]);
    // a report repeated after a crash changes nothing
    Given::with(())
        .given(after)
        .when(ended(1, Outcome::Succeeded))
        .then_expect_events(vec![]);
}

#[test]
fn a_failed_replica_waits_for_the_others() {
    let (a, b) = (placement("local", "local"), placement("hpc", "slurm"));
    let given = history(vec![
        submitted(new_job(
            vec![a.clone(), b.clone()],
            RetryPolicy::infrastructure(),
        )),
        vec![planned(1, &a), planned(2, &b)],
        running(1),
    ]);
    let events = Given::with(())
        .given(given)
        .when(ended(1, Outcome::ExitCode { code: 1 }))
        .inspect_result()
        .unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn replicas_cancelled_on_start() {
    let (a, b) = (placement("local", "local"), placement("hpc", "slurm"));
    let mut job = new_job(vec![a.clone(), b.clone()], RetryPolicy::infrastructure());
    job.replica_cancel = ReplicaCancel::OnStart;
    let given = history(vec![
        submitted(job),
        vec![planned(1, &a), planned(2, &b)],
        vec![JobEvent::AttemptSubmitted {
            attempt: 2,
            external_id: "7".into(),
            reason: "s".into(),
        }],
    ]);
    let events = Given::with(())
        .given(given)
        .when(JobCommand::RecordStarted {
            attempt: 2,
            node_list: "n1".into(),
            at: at(1),
        })
        .inspect_result()
        .unwrap_or_default();
    assert_eq!(
        events[1],
        JobEvent::AttemptCancelRequested {
            attempt: 1,
            reason: "Replica on Slurm cluster hpc started first".into()
        }
    );
}

#[test]
fn of_two_replicas_starting_together_only_the_first_stops_the_other() {
    let (a, b) = (placement("local", "local"), placement("hpc", "slurm"));
    let mut job = new_job(vec![a.clone(), b.clone()], RetryPolicy::infrastructure());
    job.replica_cancel = ReplicaCancel::OnStart;
    let given = history(vec![
        submitted(job),
        vec![planned(1, &a), planned(2, &b)],
        running(1),
        vec![JobEvent::AttemptCancelRequested {
            attempt: 2,
            reason: "Replica on local started first".into(),
        }],
    ]);
    let events = Given::with(())
        .given(given)
        .when(JobCommand::RecordStarted {
            attempt: 2,
            node_list: "n1".into(),
            at: at(1),
        })
        .inspect_result()
        .unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn cancel_stops_attempts_and_a_finished_job_cannot_be_cancelled() {
    let local = placement("local", "local");
    let given = history(vec![
        submitted(new_job(vec![local.clone()], RetryPolicy::infrastructure())),
        vec![planned(1, &local)],
        running(1),
    ]);
    Given::with(())
        .given(given.clone())
        .when(JobCommand::Cancel {
            reason: "Cancelled by a@b.c".into(),
        })
        .then_expect_events(vec![
            JobEvent::JobCancelled {
                reason: "Cancelled by a@b.c".into(),
            },
            JobEvent::AttemptCancelRequested {
                attempt: 1,
                reason: "Cancelled by a@b.c".into(),
            },
        ]);
    let mut done = given;
    done.push(JobEvent::JobFailed { reason: "x".into() });
    Given::with(())
        .given(done)
        .when(JobCommand::Cancel { reason: "x".into() })
        .then_expect_error(JobError::Finished { state: "FAILED" });
}

#[test]
fn refuses_impossible_jobs() {
    let mut retry = RetryPolicy::infrastructure();
    retry.max_attempts = 11;
    let result = Given::with(())
        .given_no_previous_events()
        .when(JobCommand::Submit(Box::new(new_job(
            vec![placement("local", "local")],
            retry,
        ))))
        .inspect_result();
    assert!(matches!(
        result,
        Err(JobError::Invalid {
            field: "retry.maxAttempts",
            ..
        })
    ));
    let result = Given::with(())
        .given_no_previous_events()
        .when(JobCommand::Submit(Box::new(new_job(
            vec![],
            RetryPolicy::infrastructure(),
        ))))
        .inspect_result();
    assert!(matches!(
        result,
        Err(JobError::Invalid {
            field: "replicas",
            ..
        })
    ));
}

#[test]
fn outputs_are_saved_once_and_only_after_success() {
    let a = placement("local", "local");
    let given = history(vec![
        submitted(new_job(vec![a.clone()], RetryPolicy::infrastructure())),
        vec![planned(1, &a)],
        running(1),
    ]);
    let saved = || JobCommand::RecordOutputsSaved {
        space_id: crate::ids::SpaceId::random(),
        folder_id: crate::ids::NodeId::random(),
        path: "/home/jobs/x".into(),
    };
    // still running: nothing to save
    Given::with(())
        .given(given.clone())
        .when(saved())
        .then_expect_error(JobError::NotSucceeded { state: "RUNNING" });
    let mut done = given;
    done.extend(
        Given::with(())
            .given(done.clone())
            .when(ended(1, Outcome::Succeeded))
            .inspect_result()
            .unwrap_or_default(),
    );
    let events = Given::with(())
        .given(done.clone())
        .when(saved())
        .inspect_result()
        .unwrap_or_default();
    assert!(matches!(
        &events[..],
        [JobEvent::OutputsSaved { reason, .. }] if reason == "Outputs saved in /home/jobs/x"
    ));
    done.extend(events);
    // the archiver reporting again after a crash changes nothing
    Given::with(())
        .given(done.clone())
        .when(saved())
        .then_expect_events(vec![]);
    Given::with(())
        .given(done)
        .when(JobCommand::RecordOutputsNotSaved { reason: "x".into() })
        .then_expect_events(vec![]);
}

fn keyed(request: serde_json::Value) -> NewJob {
    let mut job = new_job(
        vec![placement("local", "local")],
        RetryPolicy::infrastructure(),
    );
    job.idempotency = Some(Idempotency {
        key: "retry-1".parse().unwrap_or_else(|_| unreachable!()),
        request: RequestDigest::of(&request),
    });
    job
}

#[test]
fn a_retry_of_the_same_keyed_submission_submits_nothing() {
    let job = keyed(json!({"n": 1}));
    Given::with(())
        .given(vec![JobEvent::JobSubmitted(Box::new(job.clone()))])
        .when(JobCommand::Submit(Box::new(job)))
        .then_expect_events(vec![]);
}

#[test]
fn the_same_key_for_another_request_is_a_conflict() {
    Given::with(())
        .given(vec![JobEvent::JobSubmitted(Box::new(keyed(
            json!({"n": 1}),
        )))])
        .when(JobCommand::Submit(Box::new(keyed(json!({"n": 2})))))
        .then_expect_error(JobError::KeyReused);
    // an unkeyed submission onto an existing job stays what it was
    let plain = new_job(
        vec![placement("local", "local")],
        RetryPolicy::infrastructure(),
    );
    Given::with(())
        .given(vec![JobEvent::JobSubmitted(Box::new(plain.clone()))])
        .when(JobCommand::Submit(Box::new(plain)))
        .then_expect_error(JobError::AlreadyExists);
}

#[test]
fn a_repeat_asks_whether_the_key_made_this_job() {
    let job = keyed(json!({"n": 1}));
    let same = job.idempotency.clone().unwrap_or_else(|| unreachable!());
    let other = keyed(json!({"n": 2}))
        .idempotency
        .unwrap_or_else(|| unreachable!());
    Given::with(())
        .given(vec![JobEvent::JobSubmitted(Box::new(job.clone()))])
        .when(JobCommand::Repeat(same.clone()))
        .then_expect_events(vec![]);
    Given::with(())
        .given(vec![JobEvent::JobSubmitted(Box::new(job))])
        .when(JobCommand::Repeat(other))
        .then_expect_error(JobError::KeyReused);
    Given::with(())
        .given_no_previous_events()
        .when(JobCommand::Repeat(same))
        .then_expect_error(JobError::NotFound);
}
