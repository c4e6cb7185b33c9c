//! Images for the dispatcher: each reference pulled once, in the background, so that a
//! long pull holds up no other job; attempts wait for theirs ("pulling image …") and go to
//! their resource once it is there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medgrid_domain::catalog::ImageRef;
use medgrid_infra::images::{Image, ImageStore};

/// An image pulled is looked at again after this long (its tag may have moved).
const FRESH_FOR: Duration = Duration::from_secs(600);
/// A failed pull is what every attempt waiting for it hears, for this long; then a new
/// attempt tries again.
const FAILED_FOR: Duration = Duration::from_secs(30);

enum Pull {
    Running,
    Ready { image: Image, at: Instant },
    Failed { why: String, at: Instant },
}

/// Where an attempt's image stands.
pub enum Readiness {
    Ready(Image),
    /// Being pulled; `started` when this call started it.
    Pulling {
        started: bool,
    },
    /// The pull failed.
    Failed(String),
}

pub struct Images {
    store: Arc<ImageStore>,
    pulls: Mutex<HashMap<String, Pull>>,
}

impl Images {
    pub fn new(store: ImageStore) -> Self {
        Self {
            store: Arc::new(store),
            pulls: Mutex::new(HashMap::new()),
        }
    }

    /// The image of `reference`, or what is being done to get it.
    pub fn get(self: &Arc<Self>, reference: &ImageRef) -> Readiness {
        let key = reference.to_string();
        let Ok(mut pulls) = self.pulls.lock() else {
            return Readiness::Failed("the image cache is unavailable".into());
        };
        match pulls.get(&key) {
            Some(Pull::Ready { image, at }) if at.elapsed() < FRESH_FOR => {
                return Readiness::Ready(image.clone());
            }
            Some(Pull::Running) => return Readiness::Pulling { started: false },
            Some(Pull::Failed { why, at }) if at.elapsed() < FAILED_FOR => {
                return Readiness::Failed(why.clone());
            }
            _ => {}
        }
        pulls.insert(key.clone(), Pull::Running);
        let (images, reference) = (self.clone(), reference.clone());
        tokio::spawn(async move {
            let store = images.store.clone();
            let pulled = tokio::task::spawn_blocking(move || store.pull(&reference)).await;
            let outcome = match pulled {
                Ok(Ok(image)) => Pull::Ready {
                    image,
                    at: Instant::now(),
                },
                Ok(Err(e)) => Pull::Failed {
                    why: e.to_string(),
                    at: Instant::now(),
                },
                Err(e) => Pull::Failed {
                    why: e.to_string(),
                    at: Instant::now(),
                },
            };
            if let Ok(mut pulls) = images.pulls.lock() {
                pulls.insert(key, outcome);
            }
        });
        Readiness::Pulling { started: true }
    }
}
