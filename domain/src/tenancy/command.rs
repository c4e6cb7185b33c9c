use crate::names::{DisplayName, TenantSlug};

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create { slug: TenantSlug, name: DisplayName },
    Rename { name: DisplayName },
    Suspend { reason: String },
    Reactivate,
}
