use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::invocation::Invocation;
use super::qos::{Outcome, ReplicaCancel, RetryPolicy};
use crate::catalog::ImageRef;
use crate::idempotency::Idempotency;
use crate::ids::{ApplicationId, GroupId, JobId, MemberId, NodeId, ResourceId, SpaceId, TenantId};

/// Where an attempt runs: a resource and a node count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub resource_id: ResourceId,
    pub resource_name: String,
    /// `local` or `slurm`: how reasons speak of the resource.
    pub kind: String,
    pub nodes: u32,
}

impl Placement {
    /// "Slurm cluster hpc", "local".
    pub fn describe(&self) -> String {
        match self.kind.as_str() {
            "slurm" => format!("Slurm cluster {}", self.resource_name),
            _ => self.resource_name.clone(),
        }
    }
}

/// The application a job runs, as it was when the job was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRef {
    pub id: ApplicationId,
    pub name: String,
    pub version: String,
}

/// A file input the dispatcher stages into each attempt's work directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub input_id: String,
    /// Where it comes from: `sample:APP/FILE`, `job:JOB_ID/PATH`, or a file of a space as
    /// it was at submission, `space:NODE_ID/SHA256` (see [`InputFile::space_source`]).
    pub source: String,
    /// The name it gets in the work directory (what the command line says).
    pub name: String,
}

impl InputFile {
    /// The source naming the content of a space's file: the job reads what the file held
    /// when it was submitted, whatever happens to the file later.
    pub fn space_source(node: NodeId, sha256: &str) -> String {
        format!("space:{node}/{sha256}")
    }

    /// The content hash of an input taken from a space.
    pub fn space_content(&self) -> Option<&str> {
        let rest = self.source.strip_prefix("space:")?;
        rest.split_once('/').map(|(_, sha256)| sha256)
    }
}

/// A declared output: its descriptor id and its path in the work directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub id: String,
    pub path: String,
    pub optional: bool,
}

/// A collected output in the job's output area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub path: String,
    pub size: u64,
}

impl OutputFile {
    /// The folder a job's outputs get in its owner's space (`jobs/<job id>`).
    pub fn folder_of(job: JobId) -> NodeId {
        NodeId::from_uuid(uuid::Uuid::new_v5(&job.as_uuid(), b"job:outputs"))
    }

    /// The file an output `path` becomes in the job's folder of its owner's space.
    pub fn node_in(folder: NodeId, path: &str) -> NodeId {
        NodeId::derived(folder, &format!("output:{path}"))
    }

    /// The folder `dir` (a path inside the outputs) becomes in the job's folder.
    pub fn folder_in(folder: NodeId, dir: &str) -> NodeId {
        NodeId::derived(folder, &format!("folder:{dir}"))
    }
}

/// What the resource measured of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub wall_seconds: u64,
    pub cpu_seconds: u64,
}

/// Everything a job is submitted with. Kept whole in the first event: a job runs what was
/// asked at submission, even if the catalog changes later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub tenant_id: TenantId,
    pub owner: MemberId,
    /// The group the job is shared with (its managers see it), if any.
    pub group_id: Option<GroupId>,
    pub application: AppRef,
    pub parameters: Value,
    /// How the command line reads (what jobs recorded before `invocation` existed run).
    pub command: String,
    /// What the job runs; jobs recorded before it existed have none and run `command`.
    #[serde(default)]
    pub invocation: Option<Invocation>,
    pub inputs: Vec<InputFile>,
    pub outputs: Vec<OutputSpec>,
    /// One placement per replica (usually one).
    pub placements: Vec<Placement>,
    pub tasks_per_node: u32,
    pub walltime_seconds: u64,
    pub retry: RetryPolicy,
    pub replica_cancel: ReplicaCancel,
    pub resubmitted_from: Option<JobId>,
    /// What the sandbox gives the job, from its application at submission (jobs recorded
    /// before sandboxes existed have the defaults).
    #[serde(default)]
    pub sandbox: JobSandbox,
    /// The idempotency key it was submitted under, with a digest of the request.
    #[serde(default)]
    pub idempotency: Option<Idempotency>,
}

/// What an application asks of the sandbox its jobs run in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobSandbox {
    /// Memory, from `suggested-resources.ram`; None: the resource's default.
    pub memory_mb: Option<u64>,
    /// Disk space of the work directory, from `suggested-resources.disk-space`.
    pub disk_mb: Option<u64>,
    /// The descriptor's `environment-variables` (Medgrid's own variables win over them).
    pub env: Vec<(String, String)>,
    /// The platform admin lets the application reach the network (never this host's nor
    /// private networks); without it, only Medgrid's API.
    #[serde(default)]
    pub networked: bool,
    /// The image the job runs in (its descriptor's `container-image`); None: the platform's
    /// base.
    #[serde(default)]
    pub image: Option<ImageRef>,
    /// The descriptor's `shell` (None: `/bin/sh`).
    #[serde(default)]
    pub shell: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobEvent {
    JobSubmitted(Box<NewJob>),
    /// Inputs staged; waiting for room on the resource.
    JobQueued {
        reason: String,
    },
    /// The dispatcher is about to hand attempt `attempt` to its resource (the intent is
    /// recorded first, so a crash before the answer is recorded can be recovered).
    AttemptPlanned {
        attempt: u32,
        placement: Placement,
    },
    /// What a planned attempt waits for before it goes to its resource (its image pulled);
    /// the job's reason says it, the timeline keeps transitions only.
    AttemptPreparing {
        attempt: u32,
        reason: String,
    },
    AttemptSubmitted {
        attempt: u32,
        external_id: String,
        reason: String,
    },
    AttemptStarted {
        attempt: u32,
        node_list: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// The attempt should stop (job cancelled, or another replica got ahead).
    AttemptCancelRequested {
        attempt: u32,
        reason: String,
    },
    AttemptEnded {
        attempt: u32,
        outcome: Outcome,
        usage: Usage,
        reason: String,
    },
    JobRetrying {
        next_attempt: u32,
        not_before: DateTime<Utc>,
        reason: String,
    },
    JobSucceeded {
        attempt: u32,
        outputs: Vec<OutputFile>,
        reason: String,
    },
    JobFailed {
        reason: String,
    },
    JobCancelled {
        reason: String,
    },
    /// The outputs were copied into the owner's space (after the job succeeded).
    OutputsSaved {
        space_id: SpaceId,
        folder_id: NodeId,
        path: String,
        reason: String,
    },
    OutputsNotSaved {
        reason: String,
    },
}

impl DomainEvent for JobEvent {
    fn event_type(&self) -> String {
        match self {
            Self::JobSubmitted(_) => "JobSubmitted",
            Self::JobQueued { .. } => "JobQueued",
            Self::AttemptPlanned { .. } => "AttemptPlanned",
            Self::AttemptPreparing { .. } => "AttemptPreparing",
            Self::AttemptSubmitted { .. } => "AttemptSubmitted",

            Self::AttemptStarted { .. } => "AttemptStarted",
            Self::AttemptCancelRequested { .. } => "AttemptCancelRequested",
            Self::AttemptEnded { .. } => "AttemptEnded",
            Self::JobRetrying { .. } => "JobRetrying",
            Self::JobSucceeded { .. } => "JobSucceeded",
            Self::JobFailed { .. } => "JobFailed",
            Self::JobCancelled { .. } => "JobCancelled",
            Self::OutputsSaved { .. } => "OutputsSaved",
            Self::OutputsNotSaved { .. } => "OutputsNotSaved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
