//! The archiver: puts the outputs of jobs that succeeded in their owners' homes, under
//! `jobs/<job id>/`, their contents in the blob store (the S3 bucket in production), then
//! records on the job where they went — a line of its timeline. One instance runs at a
//! time (a lease). Every node it makes has an id derived from the job, so a crash halfway
//! is finished by the next round without doubles.

use std::sync::Arc;
use std::time::Duration;

use medgrid_domain::Code;
use medgrid_domain::error::CommandError;
use medgrid_domain::ids::{JobId, MemberId, NodeId, SpaceId, TenantId};
use medgrid_domain::jobs::{JobCommand, OutputFile};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::{CommandBus, JobFiles};
use medgrid_domain::spaces::{Blob, NodeName, SpaceCommand, SpaceOwner, guess_media_type};
use medgrid_infra::contents::Contents;
use medgrid_infra::jobfiles::JobArea;
use medgrid_projections::jobs::{self, JobRow};
use medgrid_projections::runner::ProjectionError;
use medgrid_projections::{Reader, spaces};
use sqlx::PgPool;
use tokio::sync::watch;

/// Jobs looked at per round at most (the rest waits for the next round).
const BATCH: i64 = 50;

/// The folder of a home that receives job outputs.
const JOBS_FOLDER: &str = "jobs";

pub struct Archiver {
    pub pool: PgPool,
    pub bus: Arc<dyn CommandBus>,
    pub contents: Contents,
    pub area: JobArea,
    /// Longest pause between rounds (job events wake it sooner).
    pub every: Duration,
}

/// Why a job's outputs are not saved (yet).
#[derive(Debug)]
enum Unsaved {
    /// For good: said on the job's timeline; the outputs stay downloadable from the job.
    Refused(String),
    /// For now (the store, a lagging read model): the next round tries again.
    Later(String),
}

impl From<CommandError> for Unsaved {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected { message, .. } => Self::Refused(message),
            other => Self::Later(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for Unsaved {
    fn from(e: sqlx::Error) -> Self {
        Self::Later(e.to_string())
    }
}

/// What the archiver did to a job's outputs: where they went.
struct Saved {
    space: SpaceId,
    folder: NodeId,
    path: String,
}

fn meta(tenant: TenantId) -> EventMetadata {
    EventMetadata::new(tenant, Causer::System("archiver".into()), None)
}

fn name(raw: &str) -> Result<NodeName, Unsaved> {
    raw.parse()
        .map_err(|_| Unsaved::Refused(format!("{raw:?} cannot be a file name in a space")))
}

impl Archiver {
    /// Saves the outputs of the jobs waiting for it; how many jobs were settled.
    pub async fn round(&self) -> Result<usize, ProjectionError> {
        let waiting = jobs::outputs_unsaved(&Reader::system(&self.pool), BATCH).await?;
        let mut settled = 0;
        for job in waiting {
            let tenant = TenantId::from_uuid(job.tenant_id);
            let command = match self.save(&job).await {
                Ok(saved) => JobCommand::RecordOutputsSaved {
                    space_id: saved.space,
                    folder_id: saved.folder,
                    path: saved.path,
                },
                Err(Unsaved::Refused(why)) => JobCommand::RecordOutputsNotSaved {
                    reason: format!(
                        "Outputs could not be saved in your home ({why}); they stay downloadable from the job"
                    ),
                },
                Err(Unsaved::Later(why)) => {
                    tracing::warn!(job = %job.id, error = %why, "outputs not saved yet; retrying next round");
                    continue;
                }
            };
            let id = JobId::from_uuid(job.id);
            match self.bus.job(id, command, &meta(tenant)).await {
                Ok(()) => settled += 1,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "recording saved outputs failed")
                }
            }
        }
        Ok(settled)
    }

    async fn save(&self, job: &JobRow) -> Result<Saved, Unsaved> {
        let tenant = TenantId::from_uuid(job.tenant_id);
        let owner = MemberId::from_uuid(job.owner_id);
        let space = SpaceId::home(owner);
        let job_id = JobId::from_uuid(job.id);
        let jobs_folder = self.jobs_folder(tenant, owner, job_id).await?;
        let folder = OutputFile::folder_of(job_id);
        let made = SpaceCommand::CreateFolder {
            node_id: folder,
            parent: jobs_folder,
            name: name(&job.id.to_string())?,
        };
        self.space(tenant, space, made).await?;
        let outputs: Vec<OutputFile> = serde_json::from_value(job.outputs.clone())
            .map_err(|e| Unsaved::Refused(format!("the outputs list cannot be read: {e}")))?;
        for output in &outputs {
            self.save_file(tenant, space, job_id, folder, output)
                .await?;
        }
        Ok(Saved {
            space,
            folder,
            path: format!("/home/{JOBS_FOLDER}/{}", job.id),
        })
    }

    /// The home's `jobs` folder, made (and the home with it) when missing.
    async fn jobs_folder(
        &self,
        tenant: TenantId,
        owner: MemberId,
        job: JobId,
    ) -> Result<NodeId, Unsaved> {
        let db = Reader::system(&self.pool);
        let space = SpaceId::home(owner);
        let root = NodeId::root_of(space);
        if spaces::space_by_id(&db, space.as_uuid()).await?.is_none() {
            let create = SpaceCommand::Create {
                tenant_id: tenant,
                owner: SpaceOwner::Member(owner),
                root,
            };
            match self.bus.space(space, create, &meta(tenant)).await {
                Err(e) if e.code() == Code::Conflict => {} // made meanwhile
                other => other?,
            }
        }
        if let Some(found) = spaces::child(&db, root.as_uuid(), JOBS_FOLDER).await? {
            return if found.is_folder() {
                Ok(NodeId::from_uuid(found.id))
            } else {
                Err(Unsaved::Refused(format!(
                    "a file is called {JOBS_FOLDER:?} at the top of your home"
                )))
            };
        }
        // derived from the job: a `jobs` folder the member trashed is not brought back
        let id = NodeId::derived(root, &format!("{JOBS_FOLDER}:{job}"));
        let make = SpaceCommand::CreateFolder {
            node_id: id,
            parent: root,
            name: name(JOBS_FOLDER)?,
        };
        match self.bus.space(space, make, &meta(tenant)).await {
            // another job's archiving made it a moment ago: the read model shows it soon
            Err(e) if e.code() == Code::Conflict => Err(Unsaved::Later(e.to_string())),
            other => other.map(|()| id).map_err(Unsaved::from),
        }
    }

    /// One output: its folders inside the job's folder, its content, its file.
    async fn save_file(
        &self,
        tenant: TenantId,
        space: SpaceId,
        job: JobId,
        folder: NodeId,
        output: &OutputFile,
    ) -> Result<(), Unsaved> {
        let mut parent = folder;
        let parts: Vec<&str> = output.path.split('/').collect();
        let Some((file_name, dirs)) = parts.split_last() else {
            return Ok(());
        };
        for (depth, dir) in dirs.iter().enumerate() {
            let id = OutputFile::folder_in(folder, &parts[..=depth].join("/"));
            let make = SpaceCommand::CreateFolder {
                node_id: id,
                parent,
                name: name(dir)?,
            };
            self.space(tenant, space, make).await?;
            parent = id;
        }
        let local = self.area.output(job, &output.path).ok_or_else(|| {
            Unsaved::Refused(format!("output {} is no longer with the job", output.path))
        })?;
        let mut file = tokio::fs::File::from_std(local);
        let claim = self
            .contents
            .receive(&mut file, u64::MAX)
            .await
            .map_err(|e| Unsaved::Later(format!("output {}: {e}", output.path)))?;
        let save = SpaceCommand::SaveOutput {
            node_id: OutputFile::node_in(folder, &output.path),
            parent,
            name: name(file_name)?,
            blob: Blob {
                sha256: claim.blob.sha256.clone(),
                size: claim.blob.size,
                media_type: guess_media_type(file_name).to_owned(),
            },
        };
        let saved = self.space(tenant, space, save).await;
        // recorded or not, the claim goes: unrecorded content is removed with it
        self.contents.release(claim).await;
        saved
    }

    async fn space(
        &self,
        tenant: TenantId,
        space: SpaceId,
        command: SpaceCommand,
    ) -> Result<(), Unsaved> {
        Ok(self.bus.space(space, command, &meta(tenant)).await?)
    }

    /// Runs rounds while this process holds the archiver lease, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let every = self.every;
        crate::rounds::run(&self.pool, "archiver", &["Job"], every, shutdown, || {
            self.round()
        })
        .await;
    }
}
