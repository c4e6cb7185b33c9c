use chrono::{DateTime, Utc};

use super::event::{NewJob, OutputFile, Usage};
use super::qos::Outcome;
use crate::idempotency::Idempotency;
use crate::ids::{NodeId, SpaceId};

/// What people and the dispatcher ask of a job. The dispatcher's commands report facts
/// from the resources; the job decides what they mean (retry, fail, succeed).
#[derive(Debug, Clone, PartialEq)]
pub enum JobCommand {
    Submit(Box<NewJob>),
    /// Is this keyed submission a retry of the one that made this job? Nothing happens
    /// when it is; another request under the key is a conflict; no job is not found.
    Repeat(Idempotency),
    /// Inputs are staged: wait for room on the resource.
    Queue {
        reason: String,
    },
    /// Plan the next attempts (one per replica at first, one per retry later).
    PlanAttempts {
        now: DateTime<Utc>,
    },
    /// The attempt is being prepared before it can go to its resource (its image pulled):
    /// `reason` says what it waits for.
    RecordPreparing {
        attempt: u32,
        reason: String,
    },
    RecordSubmitted {
        attempt: u32,
        external_id: String,
    },

    RecordStarted {
        attempt: u32,
        node_list: String,
        at: DateTime<Utc>,
    },
    /// `outputs` are the files collected when the attempt succeeded.
    RecordEnded {
        attempt: u32,
        outcome: Outcome,
        usage: Usage,
        outputs: Vec<OutputFile>,
        now: DateTime<Utc>,
    },
    Cancel {
        reason: String,
    },
    /// The outputs of the job that succeeded are in its owner's space, in `folder_id`
    /// (shown to the owner as `path`).
    RecordOutputsSaved {
        space_id: SpaceId,
        folder_id: NodeId,
        path: String,
    },
    /// The outputs could not be put in the owner's space (they stay with the job).
    RecordOutputsNotSaved {
        reason: String,
    },
    /// Give up on the job (e.g. its inputs cannot be staged).
    Fail {
        reason: String,
    },
}
