//! Read models projected from the event log, and the runner that keeps them current.
//!
//! Each module owns its tables: `apply` folds one event into them inside the runner's
//! transaction; the other functions are the queries the API serves from them.

use std::sync::Arc;

pub mod accounting;
pub mod applications;
pub mod audit;
pub mod event;
pub mod groups;
pub mod imports;
pub mod jobs;
pub mod members;
pub mod notifications;
pub mod page;
pub mod reader;
pub mod resources;
pub mod runner;
pub mod spaces;
pub mod tenants;
pub mod tickets;

pub use event::{DomainEvent, StoredEvent};
pub use reader::{Read, Reader, Sees};
pub use runner::{Position, Projection, ProjectionError};

/// Every read model, in the order a fresh database builds them.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(tenants::Tenants),
        Arc::new(members::Members),
        Arc::new(groups::Groups),
        Arc::new(applications::Applications),
        Arc::new(resources::Resources),
        Arc::new(jobs::Jobs),
        Arc::new(spaces::Spaces),
        Arc::new(accounting::Accounting),
        Arc::new(notifications::NotificationPreferencesView),
        Arc::new(tickets::Tickets),
        Arc::new(imports::Imports),
    ]
}

/// The read model called `name`, for `medgrid rebuild NAME`.
pub fn by_name(name: &str) -> Option<Arc<dyn Projection>> {
    all().into_iter().find(|p| p.name() == name)
}
