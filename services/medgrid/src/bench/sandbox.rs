//! `medgrid bench sandbox`: what the sandbox adds to the start of an attempt. The same
//! trivial command (`true`) is run, in turn, as a plain `sh -c true` and as a whole
//! sandboxed attempt (supervisor, both bubblewraps, cgroups, the API bridge), on the
//! platform base and, with `--image`, in an application's image already pulled (a warm
//! cache). Printed: median and 95th percentile of the wall time from start to end.

use std::path::Path;
use std::time::{Duration, Instant};

use medgrid_domain::catalog::ImageRef;
use medgrid_infra::config::Config;
use medgrid_infra::images::{Image, ImageStore};
use medgrid_infra::sandbox::Plan;

/// Median and 95th percentile, in milliseconds.
fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.95))
}

async fn plain(runs: usize) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = tokio::process::Command::new("sh")
            .args(["-c", "true"])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "sh -c true failed");
        times.push(started.elapsed());
    }
    Ok(times)
}

/// Runs `true` as sandboxed attempts, `runs` times, each in an attempt directory of its own.
async fn sandboxed(
    config: &Config,
    scratch: &Path,
    image: Option<&Image>,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    let sandbox = crate::sandbox(config)?;
    let mut times = Vec::with_capacity(runs);
    for n in 0..runs {
        let dir = scratch.join(format!("attempt-{n}"));
        let key = format!("mg-bench-{}-{n}", uuid::Uuid::now_v7());
        let plan = Plan {
            key: &key,
            dir: &dir,
            script: "true",
            inputs: &[],
            walltime: Duration::from_secs(60),
            limits: sandbox.defaults,
            env: &[],
            secret_env: &[],
            // a bridge to nowhere in particular: the cost is setting it up
            api_upstream: Some(format!("TCP:{}", config.listen)),
            networked: false,
            image,
            shell: None,
        };
        let launch = sandbox.prepare(&plan)?;
        let started = Instant::now();
        let status = medgrid_infra::sandbox::supervise(&launch).await?;
        let elapsed = started.elapsed();
        let ended = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        anyhow::ensure!(
            status.success() && ended.contains("exit=0"),
            "a sandboxed attempt failed: {ended}{}",
            std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
        );
        times.push(elapsed);
    }
    Ok(times)
}

pub async fn run(config: &Config, runs: usize, image: Option<&str>) -> anyhow::Result<()> {
    medgrid_infra::sandbox::Sandbox::check_host()?;
    let scratch =
        std::env::temp_dir().join(format!("medgrid-bench-sandbox-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&scratch)?;
    let pulled = match image {
        Some(reference) => {
            let reference =
                ImageRef::parse(reference).map_err(|e| anyhow::anyhow!("--image {e}"))?;
            let store = ImageStore::new(config.image_cache_dir(), config.image_mirror_list());
            // pulled once before timing: the figures are those of a warm cache
            Some(tokio::task::spawn_blocking(move || store.pull(&reference)).await??)
        }
        None => None,
    };
    println!("start of an attempt running `true`, {runs} runs each (median / p95, ms)");
    let (p50, p95) = summary(plain(runs).await?);
    println!("  sh -c true (baseline)            {p50:8.1} / {p95:8.1}");
    let base = sandboxed(config, &scratch.join("base"), None, runs).await?;
    let (s50, s95) = summary(base);
    println!(
        "  sandboxed, platform base         {s50:8.1} / {s95:8.1}   overhead {:.1} ms",
        s50 - p50
    );
    if let Some(image) = &pulled {
        let (i50, i95) =
            summary(sandboxed(config, &scratch.join("image"), Some(image), runs).await?);
        println!(
            "  sandboxed, image {} {i50:8.1} / {i95:8.1}   overhead {:.1} ms",
            &image.digest[..19],
            i50 - p50
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
