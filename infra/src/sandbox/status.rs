//! What the supervisor recorded of an attempt, read back from the attempt's directory. Only
//! the supervisor writes these files, and the job cannot reach them.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use medgrid_domain::jobs::{Limit, Outcome, Usage};

/// How an attempt ended, as its supervisor wrote it (`status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub exit: i32,
    /// Why the supervisor stopped it, if it did: WALLTIME, MEMORY_LIMIT, PROCESS_LIMIT,
    /// DISK_LIMIT, CANCELLED.
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cpu_seconds: u64,
}

fn epoch(value: Option<&str>) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(value?.trim().parse().ok()?, 0).single()
}

impl Ended {
    /// The `status` file, if the supervisor has written it.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("status")).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::trim)
        };
        Some(Self {
            exit: field("exit")?.parse().ok()?,
            reason: field("reason").filter(|r| !r.is_empty()).map(str::to_owned),
            started_at: epoch(field("start")),
            ended_at: epoch(field("end")),
            cpu_seconds: field("cpu_seconds")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        })
    }

    /// The supervisor's reason first (it stopped the attempt), then the exit code.
    pub fn outcome(&self) -> Outcome {
        match self.reason.as_deref() {
            Some("WALLTIME") => return Outcome::Timeout,
            Some("CANCELLED") => return Outcome::Cancelled,
            Some(code) => {
                if let Some(limit) = Limit::parse(code) {
                    return Outcome::LimitReached { limit };
                }
            }
            None => {}
        }
        match self.exit {
            0 => Outcome::Succeeded,
            code => Outcome::ExitCode { code },
        }
    }

    pub fn usage(&self) -> Usage {
        let wall = match (self.started_at, self.ended_at) {
            (Some(s), Some(e)) => (e - s).num_seconds().max(0) as u64,
            _ => 0,
        };
        Usage {
            started_at: self.started_at,
            ended_at: self.ended_at,
            wall_seconds: wall,
            cpu_seconds: self.cpu_seconds,
        }
    }
}

/// When the supervisor started the sandbox (`start`).
pub fn started_at(dir: &Path) -> Option<DateTime<Utc>> {
    epoch(std::fs::read_to_string(dir.join("start")).ok().as_deref())
}

/// The supervisor's process, as it recorded itself (`supervisor`: pid and start time in
/// clock ticks since boot), if that process still runs: a pid alone may have been reused.
pub fn supervisor_alive(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("supervisor")).ok()?;
    let mut fields = text.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let since = fields.next()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // after the command (which may hold spaces): state is the 1st field, starttime the 20th
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let running = !matches!(rest.first(), Some(&("Z" | "X")));
    (running && rest.get(19) == Some(&since)).then_some(pid)
}

/// Whether the supervisor has recorded itself at all (it may not have started yet).
pub fn supervisor_recorded(dir: &Path) -> bool {
    dir.join("supervisor").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(exit: i32, reason: Option<&str>) -> Ended {
        Ended {
            exit,
            reason: reason.map(str::to_owned),
            started_at: None,
            ended_at: None,
            cpu_seconds: 0,
        }
    }

    #[test]
    fn the_supervisors_reason_wins_over_the_exit_code() {
        assert_eq!(ended(0, None).outcome(), Outcome::Succeeded);
        assert_eq!(ended(3, None).outcome(), Outcome::ExitCode { code: 3 });
        assert_eq!(ended(137, Some("WALLTIME")).outcome(), Outcome::Timeout);
        assert_eq!(ended(137, Some("CANCELLED")).outcome(), Outcome::Cancelled);
        assert_eq!(
            ended(137, Some("DISK_LIMIT")).outcome(),
            Outcome::LimitReached { limit: Limit::Disk }
        );
        assert_eq!(
            ended(1, Some("MEMORY_LIMIT")).outcome(),
            Outcome::LimitReached {
                limit: Limit::Memory
            }
        );
    }

    #[test]
    fn reads_the_status_file() {
        let dir = std::env::temp_dir().join(format!("mg-status-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(
            dir.join("status"),
            "exit=2\nreason=\nstart=100\nend=130\ncpu_seconds=7\n",
        )
        .unwrap_or_default();
        let e = Ended::read(&dir);
        assert_eq!(
            e.as_ref().map(|e| (e.exit, e.reason.clone())),
            Some((2, None))
        );
        assert_eq!(e.map(|e| e.usage().wall_seconds), Some(30));
        let _ = std::fs::remove_dir_all(dir);
    }
}
