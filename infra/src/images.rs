//! Container images of applications, pulled daemonless and kept by digest: `skopeo` copies
//! an image from its registry (or the mirror configured for it) into an OCI layout,
//! checking every blob's digest — and the manifest's when the reference pins one — then
//! `umoci` unpacks it once per manifest digest into a root filesystem the sandbox mounts
//! read-only.
//!
//! ```text
//! <cache>/oci/<key>/          an OCI layout per reference (blobs reused between pulls)
//! <cache>/oci/<key>.lock      held while that reference is pulled and unpacked
//! <cache>/rootfs/<digest>/    rootfs/ and config.json (the image's environment), whole
//! ```
//!
//! Pulls of one reference exclude each other (an advisory lock on the layout, across
//! processes); an unpacked image appears under its final name only once complete.

use std::path::{Path, PathBuf};
use std::process::Command;

use medgrid_domain::catalog::ImageRef;
use sha2::{Digest, Sha256};

/// An image ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The manifest digest (`sha256:…`) of what was pulled.
    pub digest: String,
    /// Its root filesystem.
    pub rootfs: PathBuf,
    /// The image configuration's environment (`PATH` and the like).
    pub env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Pull(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where images come from and where they are kept.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
    /// `(registry, mirror URL)`: `docker.io` → `http://127.0.0.1:5000`.
    mirrors: Vec<(String, String)>,
}

impl ImageStore {
    pub fn new(dir: PathBuf, mirrors: Vec<(String, String)>) -> Self {
        Self { dir, mirrors }
    }

    /// Where `reference` is fetched from: `docker://host/repository…`, and whether that
    /// host speaks TLS.
    fn source(&self, reference: &ImageRef) -> (String, bool) {
        let (host, tls) = match self.mirrors.iter().find(|(r, _)| *r == reference.registry) {
            Some((_, mirror)) => match mirror.strip_prefix("http://") {
                Some(plain) => (plain.trim_end_matches('/').to_owned(), false),
                None => (
                    mirror
                        .strip_prefix("https://")
                        .unwrap_or(mirror)
                        .trim_end_matches('/')
                        .to_owned(),
                    true,
                ),
            },
            None => (reference.registry.clone(), true),
        };
        let mut source = format!("docker://{host}/{}", reference.repository);
        match (&reference.digest, &reference.tag) {
            // a pinned digest wins: skopeo then checks the manifest against it
            (Some(digest), _) => source.push_str(&format!("@{digest}")),
            (None, Some(tag)) => source.push_str(&format!(":{tag}")),
            (None, None) => source.push_str(":latest"),
        }
        (source, tls)
    }

    /// Pulls `reference` (blocking: run it off the async workers) and unpacks it unless an
    /// image of the same digest is there already.
    pub fn pull(&self, reference: &ImageRef) -> Result<Image, ImageError> {
        let key = hex::encode(Sha256::digest(reference.to_string().as_bytes()));
        let layouts = self.dir.join("oci");
        std::fs::create_dir_all(&layouts)?;
        let lock = std::fs::File::create(layouts.join(format!("{key}.lock")))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)?;
        let layout = layouts.join(&key);
        let (source, tls) = self.source(reference);
        run(Command::new("skopeo")
            .args(["copy", "--quiet", "--retry-times", "2"])
            .arg(format!("--src-tls-verify={tls}"))
            .arg(&source)
            .arg(format!("oci:{}:image", layout.display())))?;
        let digest = manifest_digest(&layout)?;
        let bundle = self.dir.join("rootfs").join(digest.replace(':', "-"));
        if !bundle.join("config.json").is_file() {
            unpack(&layout, &bundle)?;
        }
        Ok(Image {
            env: config_env(&bundle),
            rootfs: bundle.join("rootfs"),
            digest,
        })
    }
}

/// Runs a tool; its error output is the reason when it fails.
fn run(command: &mut Command) -> Result<(), ImageError> {
    let out = command
        .env("LC_ALL", "C.UTF-8")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ImageError::Pull(format!("cannot run {:?}: {e}", command.get_program())))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim().lines().last().unwrap_or("failed");
    Err(ImageError::Pull(message_of(last).to_owned()))
}

/// The message of a logrus line (`time="…" level=fatal msg="…"`, as skopeo writes), or the
/// line itself.
fn message_of(line: &str) -> &str {
    line.split_once("msg=\"")
        .and_then(|(_, rest)| rest.strip_suffix('"'))
        .unwrap_or(line)
}

/// The digest of the manifest tagged `image` in an OCI layout.
fn manifest_digest(layout: &Path) -> Result<String, ImageError> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)
            .map_err(|e| ImageError::Pull(format!("the image's index: {e}")))?;
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "image")
        .and_then(|m| m["digest"].as_str())
        .filter(|d| d.starts_with("sha256:") && d.len() == 71)
        .map(str::to_owned)
        .ok_or_else(|| ImageError::Pull("the image's index names no manifest".into()))
}

/// Unpacks beside the final place, then renames: a crash leaves no half image under it.
fn unpack(layout: &Path, bundle: &Path) -> Result<(), ImageError> {
    let Some(parent) = bundle.parent() else {
        return Err(ImageError::Pull("no place to unpack".into()));
    };
    std::fs::create_dir_all(parent)?;
    let partial = parent.join(format!(".partial-{}", uuid::Uuid::new_v4()));
    let unpacked = run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:image", layout.display()))
        .arg(&partial));
    if let Err(e) = unpacked {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    match std::fs::rename(&partial, bundle) {
        Ok(()) => Ok(()),
        // another process unpacked the same digest meanwhile
        Err(_) if bundle.join("config.json").is_file() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The environment the image's configuration sets (umoci's runtime `config.json`).
fn config_env(bundle: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = std::fs::read(bundle.join("config.json")) else {
        return vec![];
    };
    let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    config["process"]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.split_once('='))
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skopeo_messages_lose_their_log_fields() {
        assert_eq!(
            message_of(
                r#"time="2026-12-07T23:36:52Z" level=fatal msg="initializing source docker://x: no such host""#
            ),
            "initializing source docker://x: no such host"
        );
        assert_eq!(message_of("plain failure"), "plain failure");
    }

    #[test]
    fn mirrors_stand_for_their_registry() {
        let store = ImageStore::new(
            PathBuf::from("/x"),
            vec![("docker.io".into(), "http://127.0.0.1:5000".into())],
        );
        let ubuntu = ImageRef::parse("ubuntu").expect("valid");
        assert_eq!(
            store.source(&ubuntu),
            (
                "docker://127.0.0.1:5000/library/ubuntu:latest".into(),
                false
            )
        );
        let quay = ImageRef::parse("quay.io/a/b:1").expect("valid");
        assert_eq!(store.source(&quay), ("docker://quay.io/a/b:1".into(), true));
        let digest = format!("sha256:{}", "c".repeat(64));
        let pinned = ImageRef::parse(&format!("a/b:1@{digest}")).expect("valid");
        assert_eq!(
            store.source(&pinned).0,
            format!("docker://127.0.0.1:5000/a/b@{digest}")
        );
    }
}
