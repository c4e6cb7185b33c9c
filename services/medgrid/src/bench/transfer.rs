//! `medgrid bench transfer`: upload and download throughput of one large file through
//! Medgrid's HTTP endpoints (streamed to the configured S3 bucket, hashed on the way,
//! claimed, moved into place), beside a direct aws-sdk multipart PUT and GET of the same
//! bytes to the same bucket, in the same run; and the process's peak RSS while Medgrid
//! moved the file (server and client share the process: the client streams from disk).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::StreamExt;
use medgrid_domain::actor::Role;
use medgrid_graphql::usecases::{Scope, access, tenancy};
use medgrid_infra::config::Config;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::io::AsyncReadExt;

use crate::{Core, Server};

const PART: usize = 8 * 1024 * 1024;

/// Writes `bytes` of varied content to a file (the bench never holds it in memory).
fn make_file(dir: &Path, bytes: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join("medgrid-bench-transfer.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 32) as u8;
        }
        let n = usize::try_from(left.min(chunk.len() as u64))?;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(path)
}

fn client(config: &Config) -> anyhow::Result<(Client, String)> {
    let bucket = config
        .s3_bucket
        .clone()
        .context("bench transfer needs an S3 bucket: set MEDGRID_S3_BUCKET, MEDGRID_S3_ENDPOINT, MEDGRID_S3_REGION, MEDGRID_S3_ACCESS_KEY_ID and MEDGRID_S3_SECRET_ACCESS_KEY (scripts/garage prints a test bucket's)")?;
    let (Some(id), Some(secret)) = (&config.s3_access_key_id, &config.s3_secret_access_key) else {
        anyhow::bail!("MEDGRID_S3_ACCESS_KEY_ID and MEDGRID_S3_SECRET_ACCESS_KEY are needed");
    };
    let credentials = Credentials::new(id, secret.expose_secret(), None, None, "bench");
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.s3_region.clone()))
        .credentials_provider(credentials)
        .force_path_style(config.s3_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &config.s3_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok((Client::from_conf(builder.build()), bucket))
}

/// The baseline: a plain multipart PUT of the file, two parts in flight (as Medgrid's
/// store sends them).
async fn direct_put(s3: &Client, bucket: &str, key: &str, file: &Path) -> anyhow::Result<()> {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await?;
    let id = upload.upload_id().unwrap_or_default().to_owned();
    let mut reader = tokio::fs::File::open(file).await?;
    let mut parts = vec![];
    let mut in_flight: Option<tokio::task::JoinHandle<anyhow::Result<CompletedPart>>> = None;
    for number in 1.. {
        let mut buf = Vec::with_capacity(PART);
        (&mut reader)
            .take(PART as u64)
            .read_to_end(&mut buf)
            .await?;
        if buf.is_empty() {
            break;
        }
        let request = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(buf));
        let task = tokio::spawn(async move {
            let sent = request.send().await?;
            Ok(CompletedPart::builder()
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .part_number(number)
                .build())
        });
        if let Some(previous) = in_flight.replace(task) {
            parts.push(previous.await??);
        }
    }
    if let Some(last) = in_flight {
        parts.push(last.await??);
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

async fn direct_get(s3: &Client, bucket: &str, key: &str) -> anyhow::Result<u64> {
    let object = s3.get_object().bucket(bucket).key(key).send().await?;
    let mut body = object.body.into_async_read();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = body.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// This process's resident set: now and its peak, in KiB (`/proc/self/status`).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (Linux: writing 5 to clear_refs); false where that is not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / seconds
}

/// A tenant `bench` with its administrator; the administrator's bearer token.
pub(super) async fn member_token(
    core: &Core,
) -> anyhow::Result<(String, medgrid_domain::ids::TenantId)> {
    let operator = Scope::operator(&core.services);
    let tenant = tenancy::create(&operator, "bench", "Bench")
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let tenant_id = medgrid_domain::ids::TenantId::from_uuid(tenant.id);
    let new = access::NewMember {
        tenant_id,
        email: "bench@bench.local",
        name: "Bench",
        password: None,
        roles: BTreeSet::from([Role::TenantAdmin]),
    };
    let member = access::create(&operator, new)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let member_id = medgrid_domain::ids::MemberId::from_uuid(member.id);
    let (token, _) = access::issue_token(&operator, member_id, "bench", None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    Ok((token, tenant_id))
}

/// Uploads `file` through Medgrid; the new file's id.
async fn medgrid_put(url: &str, token: &str, file: &Path) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let home: serde_json::Value = http
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&serde_json::json!({"query": "{ space(path: \"/home\") { node { id } } }"}))
        .send()
        .await?
        .json()
        .await?;
    let parent = home["data"]["space"]["node"]["id"]
        .as_str()
        .context("no home")?
        .to_owned();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::open(file).await?, 256 * 1024);
    let response = http
        .post(format!("{url}/files/upload"))
        .query(&[("parent", parent.as_str()), ("name", "bench.bin")])
        .bearer_auth(token)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "upload: {}",
        response.text().await?
    );
    let node: serde_json::Value = response.json().await?;
    Ok(node["id"].as_str().context("no id")?.to_owned())
}

async fn medgrid_get(url: &str, token: &str, id: &str) -> anyhow::Result<u64> {
    let response = reqwest::Client::new()
        .get(format!("{url}/files/nodes/{id}"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "download: {}",
        response.status()
    );
    let mut stream = response.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        total += chunk?.len() as u64;
    }
    Ok(total)
}

pub async fn run(pool: &PgPool, config: &Config, mib: u64) -> anyhow::Result<()> {
    let (s3, bucket) = client(config)?;
    let bytes = mib * 1024 * 1024;
    let dir = std::env::temp_dir();
    let file = make_file(&dir, bytes)?;
    let prefix = format!("bench-{}/", uuid::Uuid::now_v7());
    let key = format!("{prefix}direct.bin");

    let started = Instant::now();
    direct_put(&s3, &bucket, &key, &file).await?;
    let direct_up = mib_per_s(bytes, started.elapsed().as_secs_f64());
    let started = Instant::now();
    anyhow::ensure!(direct_get(&s3, &bucket, &key).await? == bytes, "short GET");
    let direct_down = mib_per_s(bytes, started.elapsed().as_secs_f64());
    s3.delete_object().bucket(&bucket).key(&key).send().await?;

    let mut config = config.clone();
    config.s3_prefix = prefix;
    config.listen = "127.0.0.1:0".parse()?;
    config.rate_limit_member_per_minute = 0;
    config.rate_limit_tenant_per_minute = 0;
    let core = Core::new(pool, &config)?;
    let worker = core.worker(&Config {
        dispatcher: false,
        mailer: false,
        ..config.clone()
    });
    let server = Server::start(&core, &config).await?;
    let url = format!("http://{}", server.addr);
    let (token, _) = member_token(&core).await?;
    let (rss_before, _) = rss_kib();
    let peak_reset = reset_peak();
    let started = Instant::now();
    let id = medgrid_put(&url, &token, &file).await?;
    let medgrid_up = mib_per_s(bytes, started.elapsed().as_secs_f64());
    let started = Instant::now();
    anyhow::ensure!(
        medgrid_get(&url, &token, &id).await? == bytes,
        "short download"
    );
    let medgrid_down = mib_per_s(bytes, started.elapsed().as_secs_f64());
    let (_, peak) = rss_kib();
    server.stop().await;
    worker.stop().await;
    // the bench's own content goes: every file of the scratch database is gone with it
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM space_nodes WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(pool)
        .await?;
    core.contents.store().delete(&sha).await?;
    let _ = std::fs::remove_file(&file);

    println!("transfer of {mib} MiB, same bucket, same run (MiB/s):");
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "", "direct S3", "medgrid", "ratio"
    );
    println!(
        "{:<12} {:>12.1} {:>12.1} {:>8.2}",
        "upload",
        direct_up,
        medgrid_up,
        medgrid_up / direct_up
    );
    println!(
        "{:<12} {:>12.1} {:>12.1} {:>8.2}",
        "download",
        direct_down,
        medgrid_down,
        medgrid_down / direct_down
    );
    let peak_note = if peak_reset {
        "peak while Medgrid moved the file"
    } else {
        "peak of the whole run (clear_refs not allowed)"
    };
    println!(
        "process RSS: {} MiB before, {} MiB {peak_note} (server and client in one process)",
        rss_before / 1024,
        peak / 1024
    );
    Ok(())
}
