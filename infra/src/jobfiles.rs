//! Where jobs keep their files: `<root>/<job id>/attempt-<n>/` is an attempt's directory
//! (its logs, its supervisor's files, and `work/`, what the job wrote: see
//! `crate::sandbox`); `<root>/<job id>/outputs/` holds the outputs collected from the
//! attempt that succeeded. What a job wrote is read without ever following a symlink. Inputs are staged from the shipped
//! samples (`sample:APP/FILE`), from another job's outputs (`job:ID/PATH`), or from files of
//! spaces (`space:NODE/SHA256`), fetched once from the blob store into
//! `<root>/<job id>/inputs/`.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use medgrid_domain::ids::JobId;
use medgrid_domain::jobs::{InputFile, OutputFile, OutputSpec};
use medgrid_domain::ports::{JobFiles, LogStream, LogText};

use crate::blobs::{BlobError, BlobStore};

#[derive(Debug, Clone)]
pub struct JobArea {
    root: PathBuf,
    apps: PathBuf,
}

/// A relative path that stays inside its directory: no `..`, no root, not empty.
pub fn is_inside(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("input {input}: {source_name} cannot be read: {error}")]
    Unreadable {
        input: String,
        source_name: String,
        error: std::io::Error,
    },
    #[error("input {input}: {source_name} is not a sample, a job output or a file of a space")]
    UnknownSource { input: String, source_name: String },
    #[error("input {input}: the file was purged before the job could read it")]
    Gone { input: String },
}

impl JobArea {
    pub fn new(root: PathBuf, apps: PathBuf) -> Self {
        Self { root, apps }
    }

    pub fn apps(&self) -> &Path {
        &self.apps
    }

    /// An attempt's directory: Medgrid's files about it, and the job's own `work/`.
    pub fn attempt_dir(&self, job: JobId, attempt: u32) -> PathBuf {
        self.root
            .join(job.to_string())
            .join(format!("attempt-{attempt}"))
    }

    /// What the attempt's job wrote (its `/job`).
    pub fn work_dir(&self, job: JobId, attempt: u32) -> PathBuf {
        self.attempt_dir(job, attempt).join(crate::sandbox::WORK)
    }

    /// Where a job's inputs are staged once at queueing, to check they can be read.
    pub fn inputs_dir(&self, job: JobId) -> PathBuf {
        self.root.join(job.to_string()).join("inputs")
    }

    pub fn outputs_dir(&self, job: JobId) -> PathBuf {
        self.root.join(job.to_string()).join("outputs")
    }

    /// The file an input source names, if the source is well formed.
    fn source_path(&self, job: JobId, input: &InputFile) -> Option<PathBuf> {
        if input.space_content().is_some() {
            return is_inside(&input.name).then(|| self.inputs_dir(job).join(&input.name));
        }
        self.shipped_or_output(&input.source)
    }

    /// A sample of the shipped catalog, or an output of a job.
    fn shipped_or_output(&self, source: &str) -> Option<PathBuf> {
        if let Some(rest) = source.strip_prefix("sample:") {
            let (app, file) = rest.split_once('/')?;
            return (is_inside(app) && is_inside(file))
                .then(|| self.apps.join(app).join("samples").join(file));
        }
        let rest = source.strip_prefix("job:")?;
        let (job, path) = rest.split_once('/')?;
        let job: JobId = job.parse().ok()?;
        is_inside(path).then(|| self.outputs_dir(job).join(path))
    }

    /// Fetches the inputs taken from spaces out of the blob store into the job's inputs
    /// directory (written aside, then renamed: a crash leaves no half file under the name).
    pub async fn fetch(
        &self,
        job: JobId,
        inputs: &[InputFile],
        blobs: &dyn BlobStore,
    ) -> Result<(), StageError> {
        let dir = self.inputs_dir(job);
        for input in inputs {
            let Some(sha256) = input.space_content() else {
                continue;
            };
            let unreadable = |error: std::io::Error| StageError::Unreadable {
                input: input.input_id.clone(),
                source_name: input.source.clone(),
                error,
            };
            if !is_inside(&input.name) {
                return Err(StageError::UnknownSource {
                    input: input.input_id.clone(),
                    source_name: input.source.clone(),
                });
            }
            tokio::fs::create_dir_all(&dir).await.map_err(unreadable)?;
            let mut content = blobs.open(sha256, None).await.map_err(|e| match e {
                BlobError::NotFound => StageError::Gone {
                    input: input.input_id.clone(),
                },
                other => unreadable(std::io::Error::other(other.to_string())),
            })?;
            let partial = dir.join(format!(".{}.part", input.name));
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(unreadable)?;
            tokio::io::copy(&mut content, &mut file)
                .await
                .map_err(unreadable)?;
            file.sync_all().await.map_err(unreadable)?;
            tokio::fs::rename(&partial, dir.join(&input.name))
                .await
                .map_err(unreadable)?;
        }
        Ok(())
    }

    /// The staged inputs (see [`JobArea::stage`]) as the sandbox binds them read-only into
    /// an attempt's work directory: (file, name there).
    pub fn staged(
        &self,
        job: JobId,
        inputs: &[InputFile],
    ) -> Result<Vec<(PathBuf, String)>, StageError> {
        let dir = self.inputs_dir(job);
        inputs
            .iter()
            .map(|input| {
                let file = dir.join(&input.name);
                if is_inside(&input.name) && file.is_file() {
                    Ok((file, input.name.clone()))
                } else {
                    Err(StageError::UnknownSource {
                        input: input.input_id.clone(),
                        source_name: input.source.clone(),
                    })
                }
            })
            .collect()
    }

    /// Copies the inputs into a directory (the job's inputs directory, at queueing).
    pub fn stage(
        &self,
        job: JobId,
        inputs: &[InputFile],
        work_dir: &Path,
    ) -> Result<(), StageError> {
        std::fs::create_dir_all(work_dir).map_err(|error| StageError::Unreadable {
            input: String::new(),
            // said to members: never a path of this host
            source_name: "the job's inputs folder".into(),
            error,
        })?;
        for input in inputs {
            let from = self
                .source_path(job, input)
                .ok_or_else(|| StageError::UnknownSource {
                    input: input.input_id.clone(),
                    source_name: input.source.clone(),
                })?;
            let to = work_dir.join(&input.name);
            if from == to {
                continue; // fetched into the inputs directory itself
            }
            std::fs::copy(&from, to).map_err(|error| StageError::Unreadable {
                input: input.input_id.clone(),
                source_name: input.source.clone(),
                error,
            })?;
        }
        Ok(())
    }

    /// Copies the declared outputs of a successful attempt into the job's output area:
    /// regular files only, reached without following a symlink. Returns the files, or the
    /// first required output that is missing.
    pub fn collect(
        &self,
        job: JobId,
        work_dir: &Path,
        specs: &[OutputSpec],
    ) -> std::io::Result<Result<Vec<OutputFile>, String>> {
        let into = self.outputs_dir(job);
        let mut files = Vec::new();
        for spec in specs {
            let opened = match is_inside(&spec.path) {
                true => open_beneath(work_dir, &spec.path)?,
                false => None,
            };
            let Some(mut from) = opened else {
                if spec.optional {
                    continue;
                }
                return Ok(Err(spec.path.clone()));
            };
            let to = into.join(&spec.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let partial = to.with_extension("medgrid-part");
            // readable by the attempts of later jobs that take it as an input
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&partial)?;
            let size = std::io::copy(&mut from, &mut file)?;
            file.sync_all()?;
            std::fs::rename(&partial, &to)?;
            files.push(OutputFile {
                path: spec.path.clone(),
                size,
            });
        }
        Ok(Ok(files))
    }
}

/// Opens `path` beneath `dir` for reading if it is a regular file reached without
/// following any symbolic link, `..` or mount crossing (`openat2` with `RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS`): what a job wrote can never send Medgrid elsewhere. None when
/// there is no such file.
pub fn open_beneath(dir: &Path, path: &str) -> std::io::Result<Option<std::fs::File>> {
    let root = match rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let opened = rustix::fs::openat2(
        &root,
        path,
        // never blocks on a FIFO planted in place of a file; the type is checked next
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    );
    let file = match opened {
        Ok(fd) => std::fs::File::from(fd),
        // absent, a symlink on the way or at the end, outside, or not a file
        Err(
            rustix::io::Errno::NOENT
            | rustix::io::Errno::LOOP
            | rustix::io::Errno::XDEV
            | rustix::io::Errno::NOTDIR
            | rustix::io::Errno::ACCESS,
        ) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(file.metadata()?.is_file().then_some(file))
}

fn read_piece(path: &Path, tail: bool, limit: u64) -> std::io::Result<LogText> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let take = size.min(limit);
    if tail {
        file.seek(SeekFrom::Start(size - take))?;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(take).unwrap_or(0));
    file.take(take).read_to_end(&mut bytes)?;
    Ok(LogText {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        size,
        complete: take == size,
    })
}

impl JobFiles for JobArea {
    fn log(
        &self,
        job: JobId,
        attempt: u32,
        stream: LogStream,
        tail: bool,
        limit: u64,
    ) -> std::io::Result<Option<LogText>> {
        let name = match stream {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        };
        let path = self.attempt_dir(job, attempt).join(name);
        match read_piece(&path, tail, limit) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn output(&self, job: JobId, path: &str) -> Option<std::fs::File> {
        if !is_inside(path) {
            return None;
        }
        open_beneath(&self.outputs_dir(job), path).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot open a job's output");
            None
        })
    }

    fn sample_exists(&self, app: &str, file: &str) -> bool {
        self.shipped_or_output(&format!("sample:{app}/{file}"))
            .is_some_and(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert!(is_inside("a/b.nii.gz"));
        assert!(!is_inside("../etc/passwd"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("a/../../b"));
        assert!(!is_inside(""));
    }

    #[test]
    fn reads_the_head_or_the_tail_of_a_log() {
        let dir = std::env::temp_dir().join(format!("medgrid-log-{}", JobId::random()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let file = dir.join("stdout");
        std::fs::write(&file, "0123456789").unwrap_or_default();
        let head = read_piece(&file, false, 4).ok();
        let tail = read_piece(&file, true, 4).ok();
        assert_eq!(
            head.map(|t| (t.text, t.complete)),
            Some(("0123".into(), false))
        );
        assert_eq!(tail.map(|t| (t.text, t.size)), Some(("6789".into(), 10)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
