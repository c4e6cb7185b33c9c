//! What a running attempt may do with its job-scoped token (`MEDGRID_JOB_TOKEN`): read its
//! job's inputs and outputs, while the attempt runs, and nothing else — no GraphQL, no
//! other job, no person's rights. The token is minted by the dispatcher per attempt; a
//! person's own token never reaches a compute resource.

use medgrid_domain::Code;
use medgrid_domain::ids::{JobId, TenantId};
use medgrid_domain::jobs::{InputFile, JobState};
use medgrid_projections::{Reader, jobs, tenants};
use uuid::Uuid;

use crate::{ApiError, Services};

/// What one attempt's token opens.
#[derive(Debug, Clone)]
pub struct JobGrant {
    pub job: JobId,
    pub tenant: TenantId,
    /// Outputs of other jobs this job takes as inputs: (job, path).
    inputs: Vec<(Uuid, String)>,
}

impl JobGrant {
    /// Its own job's files, and exactly the other jobs' files it takes as inputs.
    pub fn may_read(&self, job: Uuid, path: &str) -> bool {
        job == self.job.as_uuid() || self.inputs.iter().any(|(j, p)| *j == job && p == path)
    }
}

fn expired() -> ApiError {
    ApiError::unauthenticated("this job token is no longer valid: its attempt has ended")
}

/// Checks a job token: ours (signature), its attempt still running, its tenant active.
pub async fn job_grant(svc: &Services, token: &str) -> Result<JobGrant, ApiError> {
    let (job, attempt) = svc
        .job_tokens
        .verify(token)
        .await
        .ok_or_else(|| ApiError::unauthenticated("invalid job token"))?;
    // the token names its job: read it as the service, then hold the token to it
    let reads = Reader::system(&svc.pool);
    let row = jobs::by_id(&reads, job).await?.ok_or_else(expired)?;
    let attempts = jobs::attempts(&reads, job).await?;
    let running = attempts
        .iter()
        .any(|a| a.number == attempt as i32 && a.ended_at.is_none());
    let job_ended = JobState::parse(&row.state).is_none_or(JobState::is_terminal);
    if !running || job_ended {
        return Err(expired());
    }
    let tenant = TenantId::from_uuid(row.tenant_id);
    let active = tenants::by_id(&reads, tenant)
        .await?
        .is_some_and(|t| t.is_active());
    if !active {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    let inputs: Vec<InputFile> = serde_json::from_value(row.inputs).unwrap_or_default();
    Ok(JobGrant {
        job,
        tenant,
        inputs: inputs
            .iter()
            .filter_map(|i| i.source.strip_prefix("job:"))
            .filter_map(|s| s.split_once('/'))
            .filter_map(|(j, p)| Some((j.parse().ok()?, p.to_owned())))
            .collect(),
    })
}
