//! Quality of service: how an attempt ended, which endings a job retries, and what its
//! replicas do when one of them gets ahead.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::event::Placement;

/// Why an attempt failed, in the classes a retry policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureClass {
    /// The node or the process was lost, or the scheduler refused or lost the attempt.
    NodeFailure,
    /// The attempt reached one of its limits: walltime, memory, processes or disk.
    Timeout,
    /// The application exited with a non-zero code.
    ExitCode,
}

/// A limit the sandbox holds an attempt to (besides its walltime); reaching one stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Limit {
    Memory,
    Processes,
    Disk,
}

impl Limit {
    /// The reason code a timeline shows.
    pub fn code(self) -> &'static str {
        match self {
            Self::Memory => "MEMORY_LIMIT",
            Self::Processes => "PROCESS_LIMIT",
            Self::Disk => "DISK_LIMIT",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [Self::Memory, Self::Processes, Self::Disk]
            .into_iter()
            .find(|l| l.code() == code)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Memory => "Used more memory than it may",
            Self::Processes => "Started more processes than it may",
            Self::Disk => "Wrote more to disk than it may",
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Succeeded,
    ExitCode {
        code: i32,
    },
    /// The application exited with 0 but did not write a declared output.
    OutputMissing {
        path: String,
    },
    /// It ran past its walltime and was stopped.
    Timeout,
    /// It reached its memory, process or disk limit and was stopped.
    LimitReached {
        limit: Limit,
    },
    /// The node failed or the process vanished; `detail` says what the resource reported.
    NodeFailure {
        detail: String,
    },
    /// The resource refused the attempt (e.g. sbatch failed).
    SubmitFailed {
        detail: String,
    },
    Cancelled,
}

impl Outcome {
    pub fn failure_class(&self) -> Option<FailureClass> {
        match self {
            Self::Succeeded | Self::Cancelled => None,
            Self::ExitCode { .. } | Self::OutputMissing { .. } => Some(FailureClass::ExitCode),
            Self::Timeout | Self::LimitReached { .. } => Some(FailureClass::Timeout),
            Self::NodeFailure { .. } | Self::SubmitFailed { .. } => Some(FailureClass::NodeFailure),
        }
    }

    /// What happened, for a person: "Exit code 3", "Node failure (NODE_FAIL)".
    pub fn describe(&self) -> String {
        match self {
            Self::Succeeded => "Finished successfully".into(),
            Self::ExitCode { code } => format!("Exit code {code}"),
            Self::OutputMissing { path } => format!("Output {path} was not written"),
            Self::Timeout => "Ran past its walltime (WALLTIME)".into(),
            Self::LimitReached { limit } => format!("{} ({})", limit.describe(), limit.code()),
            Self::NodeFailure { detail } => format!("Node failure ({detail})"),
            Self::SubmitFailed { detail } => format!("The resource refused the job ({detail})"),
            Self::Cancelled => "Cancelled".into(),
        }
    }
}

/// When a job starts another attempt after a failed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The failure classes that are retried.
    pub on: BTreeSet<FailureClass>,
    /// With `ExitCode` in `on`: only these codes are retried (empty = any non-zero code).
    pub exit_codes: BTreeSet<i32>,
    /// Wait before the second attempt; doubled for each further one.
    pub backoff_seconds: u64,
    /// Where retries run, in turn; empty = where the failed attempt ran.
    pub alternates: Vec<Placement>,
}

impl RetryPolicy {
    pub const MAX_ATTEMPTS: u32 = 10;
    pub const MAX_BACKOFF_SECONDS: u64 = 86_400;

    /// The default: infrastructure failures are retried up to three attempts in all;
    /// an application's own errors are not (running it again would fail again).
    pub fn infrastructure() -> Self {
        Self {
            max_attempts: 3,
            on: BTreeSet::from([FailureClass::NodeFailure]),
            exit_codes: BTreeSet::new(),
            backoff_seconds: 30,
            alternates: Vec::new(),
        }
    }

    pub fn retries(&self, outcome: &Outcome) -> bool {
        match (outcome.failure_class(), outcome) {
            (None, _) => false,
            (Some(FailureClass::ExitCode), Outcome::ExitCode { code }) => {
                self.on.contains(&FailureClass::ExitCode)
                    && (self.exit_codes.is_empty() || self.exit_codes.contains(code))
            }
            // a refusal is the resource's answer to this very job: asking it again would
            // be refused again, so only an alternate resource gets another attempt
            (Some(class), Outcome::SubmitFailed { .. }) => {
                self.on.contains(&class) && !self.alternates.is_empty()
            }
            (Some(class), _) => self.on.contains(&class),
        }
    }

    /// Seconds to wait before attempt `next` (2, 3, …): backoff × 2^(next-2), capped.
    pub fn delay_before(&self, next: u32) -> u64 {
        let doublings = next.saturating_sub(2).min(20);
        self.backoff_seconds
            .saturating_mul(1u64 << doublings)
            .min(Self::MAX_BACKOFF_SECONDS)
    }
}

/// When replicas of a job stop the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplicaCancel {
    /// As soon as one replica starts running (saves resources; the usual choice).
    OnStart,
    /// Only when one replica finishes successfully (fastest result).
    #[default]
    OnFinish,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_retries_only_infrastructure() {
        let p = RetryPolicy::infrastructure();
        assert!(p.retries(&Outcome::NodeFailure { detail: "x".into() }));
        assert!(!p.retries(&Outcome::SubmitFailed { detail: "x".into() }));
        assert!(!p.retries(&Outcome::ExitCode { code: 1 }));
        assert!(!p.retries(&Outcome::Timeout));
        assert!(!p.retries(&Outcome::Cancelled));
    }

    #[test]
    fn a_refusal_is_retried_only_elsewhere() {
        let refused = Outcome::SubmitFailed {
            detail: "invalid partition".into(),
        };
        let elsewhere = RetryPolicy {
            alternates: vec![Placement {
                resource_id: crate::ids::ResourceId::for_name("local"),
                resource_name: "local".into(),
                kind: "local".into(),
                nodes: 1,
            }],
            ..RetryPolicy::infrastructure()
        };
        assert!(!RetryPolicy::infrastructure().retries(&refused));
        assert!(elsewhere.retries(&refused));
    }

    #[test]
    fn exit_codes_narrow_exit_code_retries() {
        let mut p = RetryPolicy::infrastructure();
        p.on.insert(FailureClass::ExitCode);
        assert!(p.retries(&Outcome::ExitCode { code: 7 }));
        p.exit_codes.insert(75);
        assert!(!p.retries(&Outcome::ExitCode { code: 7 }));
        assert!(p.retries(&Outcome::ExitCode { code: 75 }));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::infrastructure();
        assert_eq!(
            [2, 3, 4].map(|n| p.delay_before(n)),
            [30, 60, 120],
            "30 s, then doubled"
        );
        let long = RetryPolicy {
            backoff_seconds: 80_000,
            ..p
        };
        assert_eq!(long.delay_before(5), RetryPolicy::MAX_BACKOFF_SECONDS);
    }
}
